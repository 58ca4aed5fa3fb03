import BFFNCore

/// The CPU of a target device as far as bffn's kernels care (formats/profiles.md, "CPU"): its architecture and
/// the instruction-set extensions the run-time dispatch chooses from. A profile that states it gets, in its
/// deployment report, the product paths the device will take: the names `bffn kernels` prints there.
public struct DeviceCPU: Sendable, Equatable {
    /// `aarch64` or `x86_64`.
    public var architecture: String
    /// Extensions the device has, from `DeviceCPU.knownFeatures[architecture]`, sorted, no repeats.
    public var features: [String]

    /// The extensions the dispatch looks for, per architecture: aarch64 `dotprod` (SDOT/UDOT, Armv8.2 and later;
    /// the Cortex-A55/A76/A78 of most boards and phones) and `i8mm` (SMMLA, Armv8.6); x86_64 `avx2` (with FMA),
    /// `avx-vnni`, `avx512-vnni` and `avx512-bf16`.
    public static let knownFeatures: [String: [String]] = [
        "aarch64": ["dotprod", "i8mm"],
        "x86_64": ["avx2", "avx-vnni", "avx512-bf16", "avx512-vnni"],
    ]

    /// A CPU; features are sorted and repeats dropped.
    /// - Throws: `.usage` naming the field for an unknown architecture or feature.
    public init(architecture: String, features: [String]) throws {
        guard let known = DeviceCPU.knownFeatures[architecture] else {
            throw BFFNError(.usage, "unknown CPU architecture '\(architecture)' (known: aarch64, x86_64)", field: "cpu.architecture")
        }
        if let unknown = features.first(where: { !known.contains($0) }) {
            throw BFFNError(.usage, "unknown \(architecture) feature '\(unknown)' (known: \(known.joined(separator: ", ")))", field: "cpu.features")
        }
        self.architecture = architecture
        self.features = Array(Set(features)).sorted()
    }

    /// The int8-activation product path (q8 / q4 weights) the dispatch takes on this CPU, as `bffn kernels` names
    /// it: the same order of preference as the kernels' own choice (aarch64: i8mm with the dot product, then the
    /// dot product, then plain NEON; x86_64: AVX-512 VNNI, AVX-VNNI, AVX2, portable C).
    public var integerProductPath: String {
        let has = Set(features)
        if architecture == "aarch64" {
            if has.contains("i8mm") && has.contains("dotprod") { return "neon-i8mm" }
            return has.contains("dotprod") ? "neon-dotprod" : "neon"
        }
        if has.contains("avx512-vnni") { return "avx512-vnni" }
        if has.contains("avx-vnni") && has.contains("avx2") { return "avx-vnni" }
        return has.contains("avx2") ? "avx2" : "portable"
    }

    /// The bf16 product path, as `bffn kernels` names it: `neon` (the exact emulation in NEON registers) on
    /// aarch64, `avx512-bf16` (the instruction) where the x86 CPU has it, else `emulated` (the portable emulation).
    public var bf16ProductPath: String {
        if architecture == "aarch64" { return "neon" }
        return features.contains("avx512-bf16") ? "avx512-bf16" : "emulated"
    }

    /// One line for the deployment report.
    public var kernelSummary: String {
        let what = architecture == "aarch64"
            ? (integerProductPath == "neon" ? "no dot product: widening multiplies" : integerProductPath == "neon-dotprod" ? "SDOT" : "SMMLA for several tokens, SDOT for one")
            : integerProductPath
        return "\(architecture)\(features.isEmpty ? "" : " (" + features.joined(separator: ", ") + ")"): int8 products \(integerProductPath) (\(what)), bf16 products \(bf16ProductPath)"
    }

    /// `{"architecture": ..., "features": [...]}`, with the paths when `paths` is true (the report).
    public func json(paths: Bool = false) -> JSONValue {
        var members: [(String, JSONValue)] = [("architecture", .string(architecture)), ("features", .array(features.map { .string($0) }))]
        if paths { members += [("int8_products", .string(integerProductPath)), ("bf16_products", .string(bf16ProductPath))] }
        return .object(members)
    }

    /// Reads a profile's `cpu` object.
    /// - Throws: `.invalidJSON` naming the key for a missing, unknown or mistyped value.
    init(json: JSONValue, path: String) throws {
        func fail(_ key: String, _ why: String) -> BFFNError { BFFNError(.invalidJSON, why, file: path, field: key) }
        guard let members = json.objectMembers else { throw fail("cpu", "'cpu' must be an object or null") }
        if let unknown = members.first(where: { !["architecture", "features"].contains($0.key) }) { throw fail("cpu.\(unknown.key)", "unknown key") }
        guard let arch = json["architecture"]?.stringValue else { throw fail("cpu.architecture", "'cpu.architecture' must be aarch64 or x86_64") }
        var features: [String] = []
        if let f = json["features"], f != .null {
            guard let items = f.arrayElements else { throw fail("cpu.features", "'cpu.features' must be an array of strings") }
            for item in items {
                guard let s = item.stringValue else { throw fail("cpu.features", "'cpu.features' must be an array of strings") }
                features.append(s)
            }
        }
        do { try self.init(architecture: arch, features: features) } catch let e as BFFNError {
            throw fail(e.location.field ?? "cpu", e.reason)
        }
    }
}
