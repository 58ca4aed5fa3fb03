import BFFNCore
import BFFNKernels
import BFFNModel
import BFFNPack
import BFFNPlot
import BFFNVerify

/// How much each tensor class alone costs when quantized: every class (or, per layer, every layer's class and each
/// expert part) in turn is stored as the low type while the rest keeps the source's storage, and the KL divergence
/// that alone causes is measured on a text against the source (`bffn calibrate --sensitivity [--per-layer]`). What
/// quantization recipes are chosen from.
public struct SensitivityAnalysis: Sendable {
    /// One class, expert part or layer's class quantized alone.
    public struct Row: Sendable {
        /// The tensors quantized and the storage they were given.
        public var scope: TensorScope, storage: StorageType
        /// The class of `scope`.
        public var tensorClass: TensorClass { scope.tensorClass }
        /// On the text, against the source: mean KL divergence per token, the fraction of positions with the same
        /// top-1 token, and the perplexity ratio.
        public var meanKLD: Double, sameTop1: Double, perplexityRatio: Double
        /// The pack's bytes with only this class quantized.
        public var fileBytes: UInt64
    }

    /// The model and the text measured on.
    public let model: String, textFile: String
    /// Every class the model has that an override may quantize (not norms and the router), in `TensorClass` order;
    /// per layer, each layer's class in layer order and the experts' up and down parts apart.
    public let rows: [Row]

    /// The scopes measured: every class the model has that an override may quantize (norms and the router stay in
    /// their source type in every recipe); with `perLayer`, a class with tensors in layers once per layer, and the
    /// experts' up and down projections apart (their storage is one for every layer).
    static func scopes(of weights: ModelWeights, perLayer: Bool) throws -> [TensorScope] {
        let present = Set(weights.allMatrices.map(\.tensorClass))
        var layersOf: [TensorClass: Set<Int>] = [:]
        for t in weights.denseTensors { if let l = t.layer { layersOf[t.tensorClass, default: []].insert(l) } }
        var out: [TensorScope] = []
        for c in TensorClass.allCases where present.contains(c) && c.isQuantizable {
            if !perLayer {
                out.append(TensorScope(c))
            } else if c == .experts {
                out += try ExpertPart.allCases.map { try TensorScope(c, part: $0) }
            } else if let layers = layersOf[c], !layers.isEmpty {
                out += try layers.sorted().map { try TensorScope(c, layers: [$0]) }
            } else {
                out.append(TensorScope(c))
            }
        }
        return out
    }

    /// Measures `model` (a checkpoint) on `textFile`: for each class (with `perLayer`: each layer's class and each
    /// expert part), a pack with those tensors stored as `low` (importance-weighted with `statistics` when given) is
    /// written into `workFolder` and verified against the source on the text. `progress` hears what is being
    /// measured.
    /// - Throws: the converter's and verifier's errors.
    public init(model given: String, textFile: String, low: StorageType, statistics: ActivationStatistics? = nil, perLayer: Bool = false,
                workFolder: String, threads: Int = WorkerPool.usableCPUs, progress: ((String) -> Void)? = nil) throws {
        let model = try HubCache.resolve(given)
        let weights = try ModelWeights.open(path: model)
        self.model = model
        self.textFile = textFile
        var rows: [Row] = []
        for scope in try SensitivityAnalysis.scopes(of: weights, perLayer: perLayer) {
            progress?("\(scope) as \(low.description)")
            var o = ConvertOptions()
            o.overrides = [try StorageOverride(scope, low)]
            o.statistics = statistics
            o.scaleSearch = .weighted
            o.overwrite = true
            o.threads = threads
            let pack = workFolder + "/sensitivity-\(rows.count).bfpk"
            let (report, _) = try Conversion.convert(source: model, output: pack, options: o, carryTokenizer: true)
            var v = VerifyOptions()
            v.threads = threads
            v.drafter = .none
            v.activations = .auto   // as bffn verify runs by default
            let verification = try Conversion.verify(model: pack, reference: model, textFile: textFile, options: v)
            guard let t = verification.textEvaluation else {
                throw BFFNError(.internalError, "the verification of \(pack) has no text evaluation", file: textFile)
            }
            rows.append(Row(scope: scope, storage: low, meanKLD: t.meanKLD, sameTop1: t.sameTop1Fraction,
                            perplexityRatio: t.perplexityRatio, fileBytes: report.outputBytes))
            _ = unlink(pack)
        }
        self.rows = rows
    }

    /// `bffn calibrate --sensitivity --json` (docs/json.md, "calibrate (sensitivity)").
    public var json: JSONValue {
        .object([("model", .string(model)), ("text", .string(textFile)),
                 ("classes", .array(rows.map { r in
                     .object([("class", .string(r.tensorClass.rawValue)), ("scope", .string(r.scope.description)),
                              ("storage", .string(r.storage.description)),
                              ("mean_kld", .double(r.meanKLD)), ("same_top1", .double(r.sameTop1)),
                              ("perplexity_ratio", .double(r.perplexityRatio)), ("file_bytes", .integer(r.fileBytes))])
                 }))])
    }

    /// A table, the most sensitive class first.
    public var text: String {
        var s = "sensitivity of \(model) on \(textFile): each class alone quantized, the rest as the source\n"
        s += "  tensors        storage      mean KLD    same top-1  ppl ratio  file\n"
        for r in rows.sorted(by: { $0.meanKLD > $1.meanKLD }) {
            s += "  " + r.scope.description.padding(toLength: 13) + "  " + r.storage.description.padding(toLength: 11)
            s += "  " + TextNumber.short(r.meanKLD).padding(toLength: 10) + "  " + (TextNumber.fixed(r.sameTop1 * 100, 1) + " %").padding(toLength: 10)
            s += "  " + TextNumber.fixed(r.perplexityRatio, 4).padding(toLength: 9) + "  " + TextNumber.bytesWithSize(r.fileBytes) + "\n"
        }
        return s
    }

    /// A bar chart of the mean KLD per class (PNG bytes), the most sensitive first.
    /// - Throws: the PNG encoder's errors.
    public func picture() throws -> [UInt8] {
        let sorted = rows.sorted { $0.meanKLD > $1.meanKLD }
        let width = 680, barHeight = 24, top = 40, left = 150, right = 110
        var canvas = Canvas(width: width, height: top + sorted.count * (barHeight + 8) + 16)
        canvas.text("MEAN KLD ON THE TEXT WHEN THESE ALONE ARE \(rows.first?.storage.description.uppercased() ?? "")", x: 12, y: 12)
        let largest = max(sorted.first?.meanKLD ?? 0, 1e-12)
        for (i, r) in sorted.enumerated() {
            let y = top + i * (barHeight + 8)
            canvas.text(r.scope.description.uppercased(), x: 12, y: y + 8)
            let length = Int(Double(width - left - right) * r.meanKLD / largest)
            canvas.fill(x: left, y: y, width: max(length, 1), height: barHeight, Canvas.Color.palette[i % Canvas.Color.palette.count])
            canvas.text(TextNumber.short(r.meanKLD), x: left + max(length, 1) + 8, y: y + 8)
        }
        return try canvas.png()
    }
}
