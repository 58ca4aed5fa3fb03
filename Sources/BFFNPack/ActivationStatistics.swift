import BFFNCore
import BFFNModel
import BFFNSafetensors

/// Calibration statistics (formats/calibration.md): per multiplied matrix, the mean squared input activation
/// per input column over the tokens that reached it, and per expert the tokens that activated it. `bffn
/// calibrate` makes them (BFFNCalibration); `convert` and `pack` read them (`--imatrix`) as the importance
/// weights of the quantizer's scale search (`WeightQuantizer`). Written as a safetensors file, deterministically.
public struct ActivationStatistics: Sendable, Equatable {
    /// The `format` metadata value.
    public static let format = "bffn-calibration"
    /// The `version` metadata value this code reads and writes.
    public static let version = 1

    /// One dense matrix's statistics: mean x² per input column.
    public struct Dense: Sendable, Equatable {
        /// The published tensor name (`model.layers.0.self_attn.q_a_proj.weight`).
        public var name: String
        /// Mean of x² per input column, over every calibration token.
        public var meanSquares: [Float]
        public init(name: String, meanSquares: [Float]) {
            self.name = name
            self.meanSquares = meanSquares
        }
    }

    /// One layer's experts, under their source index.
    public struct ExpertLayer: Sendable, Equatable {
        /// The decoder layer.
        public var layer: Int
        /// Tokens that activated each expert (router score > 0).
        public var tokens: [Int]
        /// Per expert, mean x² per column of its up projection's input (H), blended with the prior.
        public var up: [[Float]]
        /// Per expert, mean x² per column of its down projection's input (expert size), blended with the prior.
        public var down: [[Float]]
        public init(layer: Int, tokens: [Int], up: [[Float]], down: [[Float]]) {
            self.layer = layer
            self.tokens = tokens
            self.up = up
            self.down = down
        }
    }

    /// Sequences (windows) and tokens run.
    public var sequences: Int, tokens: Int
    /// The prior's strength k, in tokens: an expert seen on n tokens gets (n·own + k·prior) / (n + k).
    public var priorTokens: Int
    /// What the statistics were gathered from (the text files' names), in order.
    public var sources: [String]
    /// Dense matrices, in the model's order.
    public var dense: [Dense]
    /// Layers with experts, ascending.
    public var expertLayers: [ExpertLayer]
    /// The file these statistics were read from (nil when made in memory), for messages.
    public var origin: String?

    public init(sequences: Int, tokens: Int, priorTokens: Int, sources: [String], dense: [Dense], expertLayers: [ExpertLayer]) {
        self.sequences = sequences
        self.tokens = tokens
        self.priorTokens = priorTokens
        self.sources = sources
        self.dense = dense
        self.expertLayers = expertLayers
        origin = nil
    }

    /// Experts seen on fewer tokens than `priorTokens` (their values are mostly the prior): (layer, expert, tokens).
    public var underCalibrated: [(layer: Int, expert: Int, tokens: Int)] {
        expertLayers.flatMap { l in l.tokens.enumerated().filter { $0.element < priorTokens }.map { (l.layer, $0.offset, $0.element) } }
    }

    /// The mean squares of dense matrix `name`, nil when the statistics have none.
    public func meanSquares(of name: String) -> [Float]? { dense.first { $0.name == name }?.meanSquares }

    /// The statistics of layer `layer`'s experts, nil when there are none.
    public func experts(layer: Int) -> ExpertLayer? { expertLayers.first { $0.layer == layer } }

    // MARK: File

    static func upName(_ l: Int) -> String { "experts.\(l).up" }
    static func downName(_ l: Int) -> String { "experts.\(l).down" }
    static func tokensName(_ l: Int) -> String { "experts.\(l).tokens" }

    /// The file image: dense tensors, then per layer `experts.L.tokens` (I64 [E]), `experts.L.up` (F32 [E, H]) and
    /// `experts.L.down` (F32 [E, de]); metadata `format`, `version`, `sequences`, `tokens`, `prior_tokens`, `sources`.
    public func image() throws -> [UInt8] {
        func f32(_ v: [Float]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }
        var tensors = dense.map { SafetensorsWriter.Tensor(name: $0.name, dtype: .f32, shape: [$0.meanSquares.count], bytes: f32($0.meanSquares)) }
        for l in expertLayers {
            tensors.append(.init(name: Self.tokensName(l.layer), dtype: .i64, shape: [l.tokens.count],
                                 bytes: l.tokens.flatMap { withUnsafeBytes(of: Int64($0).littleEndian, Array.init) }))
            tensors.append(.init(name: Self.upName(l.layer), dtype: .f32, shape: [l.up.count, l.up.first?.count ?? 0], bytes: f32(l.up.flatMap { $0 })))
            tensors.append(.init(name: Self.downName(l.layer), dtype: .f32, shape: [l.down.count, l.down.first?.count ?? 0], bytes: f32(l.down.flatMap { $0 })))
        }
        let sourceList = JSONValue.array(sources.map { .string($0) }).serialized(pretty: false)
        return try SafetensorsWriter.image(tensors, metadata: [
            ("format", Self.format), ("version", String(Self.version)), ("sequences", String(sequences)),
            ("tokens", String(tokens)), ("prior_tokens", String(priorTokens)), ("sources", sourceList),
        ])
    }

    /// Writes the file atomically.
    public func write(to path: String, overwrite: Bool) throws {
        try writeFileAtomically(path, try image(), overwrite: overwrite)
    }

    /// Reads and checks a statistics file.
    /// - Throws: the safetensors reader's errors; `.malformed` naming the file, the metadata key or tensor and the
    ///   byte offset for a file that is not bffn calibration statistics (format, version, counts), a tensor of the
    ///   wrong dtype or shape, or a value that is negative or not finite.
    public init(path: String) throws {
        let file = try SafetensorsFile(path: path)
        let meta = Dictionary(file.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        func fail(_ why: String, field: String, offset: UInt64 = 8) -> BFFNError {
            BFFNError(.malformed, why, file: path, field: field, offset: offset)
        }
        guard meta["format"] == Self.format else {
            throw fail("is not bffn calibration statistics (metadata format is \(meta["format"].map { "'\($0)'" } ?? "missing"), not '\(Self.format)')", field: "__metadata__.format")
        }
        guard meta["version"] == String(Self.version) else {
            throw fail("calibration statistics version \(meta["version"] ?? "missing") is not supported (this bffn reads \(Self.version))", field: "__metadata__.version")
        }
        func count(_ key: String) throws -> Int {
            guard let v = meta[key].flatMap({ Int($0) }), v >= 0 else { throw fail("needs a non-negative integer", field: "__metadata__.\(key)") }
            return v
        }
        sequences = try count("sequences")
        tokens = try count("tokens")
        priorTokens = try count("prior_tokens")
        guard let list = meta["sources"], let parsed = try? JSONValue.parse(list), let items = parsed.arrayElements,
              items.allSatisfy({ $0.stringValue != nil }) else {
            throw fail("needs a JSON array of strings", field: "__metadata__.sources")
        }
        sources = items.compactMap(\.stringValue)
        func values(_ e: SafetensorsEntry) throws -> [Float] {
            guard e.dtype == .f32 else { throw fail("must be F32, not \(e.dtype.rawValue)", field: e.name, offset: file.dataStart + e.dataOffsets.lowerBound) }
            let v = file.float32Values(of: e)
            if let i = v.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
                throw fail("value \(v[i]) at index \(i) is not a finite mean square (>= 0)", field: e.name, offset: file.dataStart + e.dataOffsets.lowerBound + UInt64(4 * i))
            }
            return v
        }
        var dense: [Dense] = []
        var layers: [Int: (tokens: [Int]?, up: SafetensorsEntry?, down: SafetensorsEntry?)] = [:]
        for e in file.entries {
            let parts = e.name.split(separator: ".")
            if parts.count == 3, parts[0] == "experts", let l = Int(parts[1]) {
                switch parts[2] {
                case "tokens":
                    guard e.dtype == .i64, e.shape.count == 1 else {
                        throw fail("must be I64 [experts], not \(e.dtype.rawValue) \(e.shape)", field: e.name, offset: file.dataStart + e.dataOffsets.lowerBound)
                    }
                    let t = file.int64Values(of: e)
                    if let i = t.firstIndex(where: { $0 < 0 }) {
                        throw fail("token count \(t[i]) is negative", field: e.name, offset: file.dataStart + e.dataOffsets.lowerBound + UInt64(8 * i))
                    }
                    layers[l, default: (nil, nil, nil)].tokens = t
                case "up": layers[l, default: (nil, nil, nil)].up = e
                case "down": layers[l, default: (nil, nil, nil)].down = e
                default: throw fail("is not a statistics tensor (experts.L.tokens, .up or .down)", field: e.name)
                }
                continue
            }
            guard e.shape.count == 1 else {
                throw fail("must be one-dimensional (mean squares per input column), not \(e.shape)", field: e.name, offset: file.dataStart + e.dataOffsets.lowerBound)
            }
            dense.append(Dense(name: e.name, meanSquares: try values(e)))
        }
        var expertLayers: [ExpertLayer] = []
        for l in layers.keys.sorted() {
            let parts = layers[l]!
            guard let t = parts.tokens, let up = parts.up, let down = parts.down else {
                throw fail("layer \(l) needs experts.\(l).tokens, .up and .down", field: Self.tokensName(l))
            }
            for m in [up, down] where m.shape.count != 2 || m.shape[0] != t.count {
                throw fail("must be F32 [\(t.count), width] (one row per expert of experts.\(l).tokens), not \(m.shape)", field: m.name,
                           offset: file.dataStart + m.dataOffsets.lowerBound)
            }
            let u = try values(up), d = try values(down)
            let H = up.shape[1], de = down.shape[1]
            expertLayers.append(ExpertLayer(layer: l, tokens: t, up: (0..<t.count).map { Array(u[($0 * H)..<(($0 + 1) * H)]) },
                                            down: (0..<t.count).map { Array(d[($0 * de)..<(($0 + 1) * de)]) }))
        }
        self.dense = dense
        self.expertLayers = expertLayers
        origin = path
    }

    /// Checks that these statistics describe a model of `weights`' shapes: every dense entry that names one of
    /// its matrices has that matrix's columns, and every expert layer exists with its expert count and widths.
    /// - Throws: `.shapeMismatch` naming the statistics file and the tensor (statistics of another model).
    public func check(against weights: ModelWeights) throws {
        let a = weights.architecture
        var cols: [String: Int] = [:]
        for d in weights.denseTensors { cols[d.name] = d.matrix.cols }
        if a.tiedEmbeddings { cols[TensorNames.published.embedding] = weights.head.cols }
        func fail(_ why: String, _ field: String) -> BFFNError {
            BFFNError(.shapeMismatch, why + " (statistics of another model?)", file: origin, field: field)
        }
        for d in dense {
            if let c = cols[d.name], c != d.meanSquares.count {
                throw fail("has \(d.meanSquares.count) columns, the model's tensor \(c)", d.name)
            }
        }
        for l in expertLayers {
            guard l.layer < weights.layers.count, let x = weights.layers[l.layer].experts else {
                throw fail("layer \(l.layer) has no experts in the model", Self.tokensName(l.layer))
            }
            let H = x.up.first?.cols ?? 0, de = x.down.first?.cols ?? 0
            guard l.tokens.count == x.up.count else { throw fail("counts \(l.tokens.count) experts, the model \(x.up.count)", Self.tokensName(l.layer)) }
            if l.up.contains(where: { $0.count != H }) { throw fail("rows must have \(H) columns (the hidden size)", Self.upName(l.layer)) }
            if l.down.contains(where: { $0.count != de }) { throw fail("rows must have \(de) columns (the expert size)", Self.downName(l.layer)) }
        }
    }
}
