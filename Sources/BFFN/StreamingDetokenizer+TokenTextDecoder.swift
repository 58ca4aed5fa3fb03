import BFFNEngine
import BFFNTokenizer

/// The tokenizer's streaming detokenizer decodes generated ids for stop strings (`GenerationOptions.stopStrings`).
extension StreamingDetokenizer: TokenTextDecoder {}
