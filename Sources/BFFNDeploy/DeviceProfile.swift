import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNModel
import BFFNPack

/// What a target device needs from a pack (formats/profiles.md): the storage of each tensor class, the page
/// alignment, the memory budget for resident weights, the memory bandwidth, and the largest chunk it runs.
public struct DeviceProfile: Sendable, Equatable {
    /// Short name ("orin-nx-16g").
    public var name: String
    /// One line about the device.
    public var description: String
    /// Storage per tensor class (`embeddings`, `attention`, `experts`, `dense_ffn`, `head`): `source` or a bare
    /// `StorageType` spelling, `f32`, `f16`, `bf16`, `q8` or `q4`. Classes not listed keep the source dtype; the router and norms always do.
    public var quantization: [String: String]
    /// The largest q4 group; a class whose row widths it does not divide gets the largest power of two (>= 8)
    /// below it that divides them.
    public var q4GroupSize: Int
    /// q4 with a per-group offset (true) or symmetric.
    public var q4Asymmetric: Bool
    /// q8 group size; nil: one scale per row.
    public var q8GroupSize: Int?
    /// Page alignment of the expert blocks, in bytes (a power of two, 64 ... 1 MiB).
    public var alignment: Int
    /// Memory for resident weights, in bytes; nil: unlimited (nothing streamed).
    public var residentBudgetBytes: UInt64?
    /// Memory bandwidth, in bytes per second.
    public var bandwidthBytesPerSecond: Double
    /// The largest chunk (or draft tree, root included) the device computes in one pass, in tokens.
    public var maxChunkTokens: Int
    /// Sequential read speed of the device's flash in bytes per second, and the latency of one read in seconds:
    /// for the report's estimate of decoding with streamed experts (nil: no estimate).
    public var flashBytesPerSecond: Double? = nil
    public var flashLatencyMicroseconds: Double = 0
    public var flashLatencySeconds: Double { flashLatencyMicroseconds * 1e-6 }
    /// The device's CPU (architecture and extensions), for the report's kernel paths; nil: not stated.
    public var cpu: DeviceCPU? = nil

    /// The tensor classes a profile may quantize.
    public static let classes = ["embeddings", "attention", "experts", "dense_ffn", "head"]
    static let storages = ["source", "f32", "f16", "bf16", "q8", "q4"]

    /// True for `source` and the bare `StorageType` spellings (f32, f16, bf16, q8, q4): a profile's group sizes
    /// and q4 symmetry are its own keys, so a spelling that names them (q4/g64) is refused rather than ignored.
    static func isStorageKind(_ spelling: String) -> Bool {
        if spelling == "source" { return true }
        guard let parsed = try? StorageType(parsing: spelling) else { return false }
        return parsed.description.split(separator: "/").first.map(String.init) == spelling
    }

    /// The built-in profiles.
    public static let builtIn: [DeviceProfile] = [
        DeviceProfile(name: "orin-nx-16g",
                      description: "NVIDIA Jetson Orin NX 16 GB (the paper's device): 102.4 GB/s LPDDR5 shared by CPU and GPU; 8 GiB for weights; 32-token draft trees; Cortex-A78AE cores (Armv8.2: dot product, no i8mm)",
                      quantization: ["experts": "q4", "attention": "q8", "dense_ffn": "q8", "embeddings": "q8", "head": "q8"],
                      q4GroupSize: 32, q4Asymmetric: true, q8GroupSize: nil, alignment: 4096,
                      residentBudgetBytes: 8 << 30, bandwidthBytesPerSecond: 102.4e9, maxChunkTokens: 32, flashBytesPerSecond: 2.0e9, flashLatencyMicroseconds: 100,
                      cpu: try! DeviceCPU(architecture: "aarch64", features: ["dotprod"])),
        DeviceProfile(name: "phone-8g",
                      description: "A phone with 8 GB LPDDR5X (about 51.2 GB/s for one cluster); 3 GiB for weights; 8-token chunks; Armv8.2 or later cores (dot product)",
                      quantization: ["experts": "q4", "attention": "q4", "dense_ffn": "q4", "embeddings": "q8", "head": "q8"],
                      q4GroupSize: 32, q4Asymmetric: true, q8GroupSize: nil, alignment: 16384,
                      residentBudgetBytes: 3 << 30, bandwidthBytesPerSecond: 51.2e9, maxChunkTokens: 8, flashBytesPerSecond: 1.5e9, flashLatencyMicroseconds: 150,
                      cpu: try! DeviceCPU(architecture: "aarch64", features: ["dotprod"])),
        DeviceProfile(name: "cpu",
                      description: "A desktop or server CPU running bffn's engine: lossless (source dtype), no memory limit, about 20 GB/s",
                      quantization: [:], q4GroupSize: 32, q4Asymmetric: true, q8GroupSize: nil, alignment: 4096,
                      residentBudgetBytes: nil, bandwidthBytesPerSecond: 20e9, maxChunkTokens: 64),
    ]

    /// A built-in profile by name, or a profile file (JSON) at that path.
    /// - Throws: `.usage` for a name that is neither; the file's reading and parsing errors.
    public static func named(_ nameOrPath: String) throws -> DeviceProfile {
        if let p = builtIn.first(where: { $0.name == nameOrPath }) { return p }
        guard nameOrPath.contains("/") || nameOrPath.hasSuffix(".json") else {
            throw BFFNError(.usage, "no built-in profile '\(nameOrPath)' (built in: \(builtIn.map(\.name).joined(separator: ", "))); a profile file path needs a / or .json",
                            field: "profile")
        }
        let json = try MappedFile(path: nameOrPath).withBytes { try JSONValue.parse($0, file: nameOrPath) }
        return try DeviceProfile(json: json, path: nameOrPath)
    }

    public init(name: String, description: String, quantization: [String: String], q4GroupSize: Int, q4Asymmetric: Bool, q8GroupSize: Int?,
                alignment: Int, residentBudgetBytes: UInt64?, bandwidthBytesPerSecond: Double, maxChunkTokens: Int,
                flashBytesPerSecond: Double? = nil, flashLatencyMicroseconds: Double = 0, cpu: DeviceCPU? = nil) {
        self.cpu = cpu
        self.flashBytesPerSecond = flashBytesPerSecond
        self.flashLatencyMicroseconds = flashLatencyMicroseconds
        self.name = name
        self.description = description
        self.quantization = quantization
        self.q4GroupSize = q4GroupSize
        self.q4Asymmetric = q4Asymmetric
        self.q8GroupSize = q8GroupSize
        self.alignment = alignment
        self.residentBudgetBytes = residentBudgetBytes
        self.bandwidthBytesPerSecond = bandwidthBytesPerSecond
        self.maxChunkTokens = maxChunkTokens
    }

    /// Reads a profile object (formats/profiles.md). Unknown keys are errors, so a misspelt key cannot be
    /// silently ignored.
    /// - Throws: `.invalidJSON` naming the key for a missing, unknown, mistyped or out-of-range value.
    public init(json: JSONValue, path: String) throws {
        func fail(_ key: String, _ why: String) -> BFFNError { BFFNError(.invalidJSON, why, file: path, field: key) }
        guard let members = json.objectMembers else { throw fail("profile", "a profile is a JSON object") }
        let known = ["name", "description", "quantization", "q4_group_size", "q4_asymmetric", "q8_group_size", "alignment",
                     "resident_budget_bytes", "bandwidth_gb_per_s", "max_chunk_tokens", "flash_gb_per_s", "flash_latency_us", "cpu"]
        if let unknown = members.first(where: { !known.contains($0.key) }) { throw fail(unknown.key, "unknown profile key") }
        guard let name = json["name"]?.stringValue, !name.isEmpty else { throw fail("name", "'name' must be a non-empty string") }
        var quant: [String: String] = [:]
        if let q = json["quantization"], q != .null {
            guard let qm = q.objectMembers else { throw fail("quantization", "'quantization' must be an object") }
            for m in qm {
                guard DeviceProfile.classes.contains(m.key) else { throw fail("quantization.\(m.key)", "unknown class; use \(DeviceProfile.classes.joined(separator: ", "))") }
                guard let v = m.value.stringValue.map({ $0.lowercased() }), DeviceProfile.isStorageKind(v) else {
                    throw fail("quantization.\(m.key)", "storage must be one of \(DeviceProfile.storages.joined(separator: ", ")) (groups come from q4_group_size and q8_group_size)")
                }
                quant[m.key] = v
            }
        }
        func int(_ key: String, _ range: ClosedRange<Int64>, default d: Int64?) throws -> Int64? {
            guard let v = json[key], v != .null else { return d }
            guard let i = v.intValue, range.contains(i) else { throw fail(key, "'\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound)") }
            return i
        }
        let q4 = try int("q4_group_size", 8...4096, default: 32)!
        let q8 = try int("q8_group_size", 8...4096, default: nil)
        let align = try int("alignment", 64...(1 << 20), default: 4096)!
        guard PackHeader.isSupportedAlignment(align) else { throw fail("alignment", "'alignment' must be \(PackHeader.alignmentRule)") }
        guard q4 & (q4 - 1) == 0, q8.map({ $0 & ($0 - 1) == 0 }) ?? true else { throw fail("q4_group_size", "group sizes must be powers of two") }
        let budget = try int("resident_budget_bytes", 0...(1 << 50), default: nil)
        guard let bw = json["bandwidth_gb_per_s"]?.numberValue, bw > 0, bw < 1e6 else {
            throw fail("bandwidth_gb_per_s", "'bandwidth_gb_per_s' must be a positive number (GB/s)")
        }
        let chunk = try int("max_chunk_tokens", 1...64, default: 32)!
        var asym = true
        if let a = json["q4_asymmetric"], a != .null {
            guard let b = a.boolValue else { throw fail("q4_asymmetric", "'q4_asymmetric' must be true or false") }
            asym = b
        }
        self.init(name: name, description: json["description"]?.stringValue ?? "", quantization: quant, q4GroupSize: Int(q4),
                  q4Asymmetric: asym, q8GroupSize: q8.map(Int.init), alignment: Int(align), residentBudgetBytes: budget.map(UInt64.init),
                  bandwidthBytesPerSecond: bw * 1e9, maxChunkTokens: Int(chunk))
        if let f = json["flash_gb_per_s"], f != .null {
            guard let v = f.numberValue, v > 0, v < 1e6 else { throw fail("flash_gb_per_s", "'flash_gb_per_s' must be a positive number (GB/s) or null") }
            flashBytesPerSecond = v * 1e9
        }
        if let l = json["flash_latency_us"], l != .null {
            guard let v = l.numberValue, v >= 0, v < 1e7 else { throw fail("flash_latency_us", "'flash_latency_us' must be a number of microseconds >= 0") }
            flashLatencyMicroseconds = v
        }
        if let c = json["cpu"], c != .null { cpu = try DeviceCPU(json: c, path: path) }
    }

    /// The profile as a JSON object (the same keys a profile file has).
    public var json: JSONValue {
        .object([
            ("name", .string(name)), ("description", .string(description)),
            ("quantization", .object(DeviceProfile.classes.compactMap { c in quantization[c].map { (c, JSONValue.string($0)) } })),
            ("q4_group_size", .integer(q4GroupSize)), ("q4_asymmetric", .bool(q4Asymmetric)),
            ("q8_group_size", q8GroupSize.map { .integer($0) } ?? .null), ("alignment", .integer(alignment)),
            ("resident_budget_bytes", residentBudgetBytes.map { .integer($0) } ?? .null),
            ("bandwidth_gb_per_s", .double(bandwidthBytesPerSecond / 1e9)), ("max_chunk_tokens", .integer(maxChunkTokens)),
            ("flash_gb_per_s", flashBytesPerSecond.map { .double($0 / 1e9) } ?? .null), ("flash_latency_us", .double(flashLatencyMicroseconds)),
            ("cpu", cpu.map { $0.json() } ?? JSONValue.null),
        ])
    }

    /// Conversion options for `weights`: each class's storage, with q4 groups fitted to the class's row widths.
    /// - Throws: `.usage` when no power-of-two group of at least 8 divides a class's row widths.
    public func convertOptions(for weights: ModelWeights) throws -> ConvertOptions {
        var o = ConvertOptions()
        o.alignment = alignment
        for (cls, storage) in quantization.sorted(by: { $0.key < $1.key }) {
            guard let tensorClass = TensorClass(rawValue: cls) else { continue }
            let widths = DeviceProfile.rowWidths(cls, weights)
            if widths.isEmpty { continue }
            if storage == "source" { continue }
            switch try StorageType(parsing: storage) {
            case .q8:
                o.overrides.append(try StorageOverride(tensorClass, .q8(group: try q8GroupSize.map { try DeviceProfile.fittedGroup($0, widths, cls) })))
            case .q4:
                o.overrides.append(try StorageOverride(tensorClass, .q4(group: try DeviceProfile.fittedGroup(q4GroupSize, widths, cls), asymmetric: q4Asymmetric)))
            case let float:
                o.overrides.append(try StorageOverride(tensorClass, float))
            }
        }
        return o
    }

    /// The largest power of two <= `largest` and >= 8 dividing every width.
    static func fittedGroup(_ largest: Int, _ widths: Set<Int>, _ cls: String) throws -> Int {
        var g = largest
        while g >= 8 {
            if widths.allSatisfy({ $0 % g == 0 }) { return g }
            g /= 2
        }
        throw BFFNError(.usage, "no group size of 8 or more divides the \(cls) row widths \(widths.sorted())", field: "quantization.\(cls)")
    }

    /// The row widths (columns) of a class's matrices.
    static func rowWidths(_ cls: String, _ w: ModelWeights) -> Set<Int> {
        guard let tensorClass = TensorClass(rawValue: cls) else { return [] }
        if tensorClass == .experts {
            return w.architecture.numExperts > 0 ? [w.architecture.hiddenSize, w.architecture.expertSize] : []
        }
        return Set(w.denseTensors.filter { $0.tensorClass == tensorClass }.map(\.matrix.cols))
    }
}
