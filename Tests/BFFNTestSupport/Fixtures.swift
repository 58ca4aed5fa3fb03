import BFFNCore
