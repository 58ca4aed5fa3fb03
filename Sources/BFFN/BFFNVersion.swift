import BFFNPack

/// The versions a program built on bffn can check.
public enum BFFNVersion {
    /// The release, as `bffn --version` prints it and packs record (`tool_version`).
    public static let string = PackWriter.toolVersion
    /// The C ABI's version (include/bffn.h `BFFN_ABI_VERSION`): it grows by one whenever a function of the header
    /// changes its signature or meaning; added functions keep it (docs/api.md, "Compatibility").
    public static let abi = 1
}
