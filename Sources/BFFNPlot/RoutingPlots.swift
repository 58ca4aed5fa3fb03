import BFFNCore
import BFFNEngine
import BFFNModel

/// Pictures of a model's routing over token sequences: what `bffn plot` and `verify --plots` write.
public enum RoutingPlots {
    /// The chunk-level sparsity over 8 tokens the paper reports for its trained models (about 70 %).
    public static let paperCLS8 = 0.70

    /// Router scores of `prompts` (each run on an emptied cache), per prompt and layer, experts in source order.
    public struct Trace: Sendable {
        /// [prompt][layer]: tokens × experts scores, row-major.
        public var scores: [[[Float]]]
        /// Experts per layer.
        public var experts: Int

        /// Runs `prompts` through `weights` and captures every layer's router scores.
        /// - Throws: `.unsupported` for a dense model (no router); the engine's errors (token ids outside the
        ///   vocabulary).
        public init(weights: ModelWeights, prompts: [[Int]], threads: Int) throws {
            guard weights.architecture.numExperts > 0 else {
                throw BFFNError(.unsupported, "the model has dense FFNs: there is no routing to plot", field: "ffn_layout")
            }
            let engine = try Engine(weights: weights, options: EngineOptions(threads: threads))
            scores = try prompts.map { weights.sourceOrdered(try engine.forwardCapturing($0).routerScores) }
            experts = weights.architecture.numExperts
        }

        /// Sparsity statistics of all prompts.
        public var statistics: SparsityStatistics { SparsityStatistics(sequences: scores, experts: experts) }

        /// [layer][expert]: tokens (over all prompts) for which the expert was active.
        public var activations: [[Int]] {
            let L = scores.first?.count ?? 0
            var out = [[Int]](repeating: [Int](repeating: 0, count: experts), count: L)
            for prompt in scores {
                for (l, s) in prompt.enumerated() {
                    for (i, v) in s.enumerated() where v != 0 { out[l][i % experts] += 1 }
                }
            }
            return out
        }

        /// [layer][n]: tokens with exactly n active experts.
        public var activeCounts: [[Int]] {
            let L = scores.first?.count ?? 0
            var out = [[Int]](repeating: [Int](repeating: 0, count: experts + 1), count: L)
            for prompt in scores {
                for (l, s) in prompt.enumerated() {
                    for t in 0..<(s.count / max(experts, 1)) {
                        out[l][(0..<experts).filter { s[t * experts + $0] != 0 }.count] += 1
                    }
                }
            }
            return out
        }
    }

    /// Where the cells of a heatmap are: the plot area's origin and one cell's size, in pixels.
    public struct HeatmapGeometry: Sendable, Equatable {
        public var x0: Int, y0: Int, cellWidth: Int, cellHeight: Int
        /// The centre of the cell of token `t` and expert `e`.
        public func center(token t: Int, expert e: Int) -> (x: Int, y: Int) {
            (x0 + t * cellWidth + cellWidth / 2, y0 + e * cellHeight + cellHeight / 2)
        }
    }

    /// The geometry `heatmap` uses for `tokens` × `experts`.
    public static func heatmapGeometry(tokens: Int, experts: Int) -> HeatmapGeometry {
        HeatmapGeometry(x0: 56, y0: 34, cellWidth: max(2, min(16, 720 / max(tokens, 1))), cellHeight: max(3, min(14, 360 / max(experts, 1))))
    }

    /// Characters of a token label drawn under its heatmap column (one below the other), at most.
    public static let tokenLabelCharacters = 6

    /// A token's piece as a heatmap label: the word-start marks of SentencePiece ("▁") and byte-level ("Ġ")
    /// vocabularies as "_", a newline ("Ċ") as "\\N", at most `tokenLabelCharacters` characters (the bitmap font draws
    /// ASCII letters, digits and common punctuation; other characters stay blank).
    public static func tokenLabel(_ piece: String) -> String {
        var out = ""
        for c in piece {
            switch c {
            case "▁", "Ġ": out.append("_")
            case "Ċ", "\n": out += "\\N"
            default: out.append(c)
            }
        }
        return String(out.prefix(tokenLabelCharacters))
    }

    /// Experts × tokens: a cell is white when the expert is inactive for the token, else blue, deeper for a
    /// larger router score (relative to the largest in the picture). `labels` (one per token, from `tokenLabel`)
    /// are written under the columns, one character below the other; without them the columns carry their index.
    public static func heatmap(scores: [Float], tokens T: Int, experts E: Int, title: String, labels: [String]? = nil) -> Canvas {
        let g = heatmapGeometry(tokens: T, experts: E)
        let labels = labels.flatMap { $0.count == T ? $0 : nil }
        let labelRows = labels == nil ? 0 : (labels!.map(\.count).max() ?? 0) * (BitmapFont.height + 2) + 4
        var c = Canvas(width: max(g.x0 + T * g.cellWidth + 24, Canvas.textWidth(title, scale: 2) + 16), height: g.y0 + E * g.cellHeight + 40 + labelRows)
        c.text(title, x: 8, y: 8, scale: 2)
        let top = scores.max() ?? 0
        for t in 0..<T {
            for e in 0..<E {
                let v = scores[t * E + e]
                let color: Canvas.Color = v <= 0 ? .white : .intensity(0.2 + 0.8 * Double(v) / Double(max(top, 1e-30)))
                c.fill(x: g.x0 + t * g.cellWidth, y: g.y0 + e * g.cellHeight, width: g.cellWidth, height: g.cellHeight, color)
            }
        }
        frame(&c, x: g.x0 - 1, y: g.y0 - 1, width: T * g.cellWidth + 2, height: E * g.cellHeight + 2)
        let eStep = max(1, (E + 7) / 8), tStep = max(1, (T + 9) / 10)
        for e in stride(from: 0, to: E, by: eStep) {
            let label = "E\(e)"
            c.text(label, x: g.x0 - 6 - Canvas.textWidth(label), y: g.y0 + e * g.cellHeight + g.cellHeight / 2 - 3, .darkGrey)
        }
        if let labels {
            // Every column whose label has room (a column at least a character wide, else every few).
            let every = max(1, (BitmapFont.advance + g.cellWidth - 1) / g.cellWidth)
            for t in stride(from: 0, to: T, by: every) {
                for (k, ch) in labels[t].enumerated() {
                    c.text(String(ch), x: g.x0 + t * g.cellWidth + (g.cellWidth - BitmapFont.width) / 2,
                           y: g.y0 + E * g.cellHeight + 6 + k * (BitmapFont.height + 2), .darkGrey)
                }
            }
        } else {
            for t in stride(from: 0, to: T, by: tStep) {
                c.text(String(t), x: g.x0 + t * g.cellWidth, y: g.y0 + E * g.cellHeight + 6, .darkGrey)
            }
        }
        c.text("TOKEN", x: g.x0 + T * g.cellWidth / 2 - 14, y: g.y0 + E * g.cellHeight + 22 + labelRows)
        return c
    }

    /// The chunk lengths the CLS picture's x axis shows: those of `SparsityStatistics.chunkLengths` up to the
    /// longest with a value (no sequence reaches a longer chunk), at least two.
    public static func plottedChunkLengths(_ stats: SparsityStatistics) -> [Int] {
        let all = SparsityStatistics.chunkLengths
        let longest = stats.overall.keys.max() ?? all[1]
        return Array(all.prefix { $0 <= max(longest, all[1]) })
    }

    /// The layers drawn in palette colour `k` of the CLS picture: k, k + 8, k + 16, ... (the palette has 8).
    public static func layers(ofColor k: Int, layerCount: Int) -> [Int] {
        Array(stride(from: k, to: layerCount, by: Canvas.Color.palette.count))
    }

    /// CLS_L against L (1, 2, 4, ... up to the longest chunk the sequences fill: `plottedChunkLengths`, log
    /// scale): one line per layer, labelled in the legend by its number ("LAYER 0", ...; layers 8 apart share
    /// a colour and a legend entry: "LAYERS 0, 8"), the mean over layers in black, the paper's CLS8 as a red square.
    public static func chunkSparsity(_ stats: SparsityStatistics) -> Canvas {
        let lengths = plottedChunkLengths(stats)
        let x0 = 60, y0 = 40, w = 480, h = 260
        var c = Canvas(width: x0 + w + 150, height: y0 + h + 50)
        c.text("CHUNK-LEVEL SPARSITY CLS_L", x: 8, y: 8, scale: 2)
        func px(_ i: Int) -> Int { x0 + i * w / (lengths.count - 1) }
        func py(_ v: Double) -> Int { y0 + Int((1 - max(0, min(1, v))) * Double(h)) }
        for k in 0...5 {
            let v = Double(k) / 5
            c.line(x0, py(v), x0 + w, py(v), .grey)
            c.text(fixed1(v), x: x0 - 28, y: py(v) - 3, .darkGrey)
        }
        for (i, L) in lengths.enumerated() {
            c.line(px(i), y0, px(i), y0 + h, .grey)
            c.text(String(L), x: px(i) - Canvas.textWidth(String(L)) / 2, y: y0 + h + 6, .darkGrey)
        }
        c.text("CHUNK LENGTH L (TOKENS)", x: x0 + w / 2 - 66, y: y0 + h + 22)
        func polyline(_ values: [Int: Double], _ color: Canvas.Color, _ thickness: Int) {
            var last: (Int, Int)?
            for (i, L) in lengths.enumerated() {
                guard let v = values[L] else { continue }
                let p = (px(i), py(v))
                if let last { c.line(last.0, last.1, p.0, p.1, color, thickness: thickness) }
                last = p
            }
        }
        for (l, layer) in stats.layers.enumerated() { polyline(layer.chunkSparsity, Canvas.Color.palette[l % 8], 1) }
        polyline(stats.overall, .black, 3)
        if let i = lengths.firstIndex(of: 8) {
            c.fill(x: px(i) - 4, y: py(paperCLS8) - 4, width: 9, height: 9, .red)
        }
        let lx = x0 + w + 16
        c.fill(x: lx, y: y0 + 3, width: 14, height: 3, .black)
        c.text("MEAN", x: lx + 20, y: y0 + 1)
        c.fill(x: lx + 3, y: y0 + 14, width: 9, height: 9, .red)
        c.text("PAPER CLS8", x: lx + 20, y: y0 + 15)
        c.text(fixed2(paperCLS8), x: lx + 20, y: y0 + 25, .darkGrey)
        for k in 0..<min(Canvas.Color.palette.count, stats.layers.count) {
            let y = y0 + 42 + k * 12
            c.fill(x: lx, y: y + 3, width: 14, height: 2, Canvas.Color.palette[k])
            let names = layers(ofColor: k, layerCount: stats.layers.count)
            let label = (names.count == 1 ? "LAYER " : "LAYERS ")
                + (names.count <= 3 ? names.map(String.init).joined(separator: ", ") : "\(names[0]), \(names[1]) ... \(names.last!)")
            c.text(label, x: lx + 20, y: y)
        }
        return c
    }

    /// One row per layer: each expert's share of tokens, the most used first (the order `bffn pack` stores them).
    /// Bars are scaled so that the largest share in the picture is a full bar; the caption gives that share.
    public static func expertFrequency(_ activations: [[Int]], tokens: Int) -> Canvas {
        let shares = activations.map { counts in counts.sorted(by: >).map { Double($0) / Double(max(tokens, 1)) } }
        let top = max(shares.flatMap { $0 }.max() ?? 0, 1e-12)
        return bars(shares.map { $0.map { $0 / top } }, title: "EXPERT ACTIVATION FREQUENCY, HOT FIRST",
                    caption: "EXPERTS, MOST USED FIRST (FULL BAR: \(TextNumber.fixed(top * 100, 1)) % OF TOKENS)")
    }

    /// One row per layer: how many tokens have n active experts, n = 0 … E.
    public static func activeExperts(_ counts: [[Int]]) -> Canvas {
        bars(counts.map { row in
            let top = Double(row.max() ?? 1)
            return row.map { Double($0) / max(top, 1) }
        }, title: "ACTIVE EXPERTS PER TOKEN", caption: "ACTIVE EXPERTS (BAR: TOKENS, SCALED PER LAYER)", labelEvery: max(1, (counts.first?.count ?? 1) / 8))
    }

    /// Rows of bars with heights in 0 … 1.
    /// `labelEvery`: label every n-th bar with its index under the last row (nil: no labels).
    static func bars(_ rows: [[Double]], title: String, caption: String, labelEvery: Int? = nil) -> Canvas {
        let x0 = 48, y0 = 34, rowHeight = 34, n = rows.map(\.count).max() ?? 1
        let barWidth = max(2, min(14, 600 / max(n, 1))), w = n * barWidth
        var c = Canvas(width: max(x0 + w + 24, Canvas.textWidth(title, scale: 2) + 16, x0 + Canvas.textWidth(caption) + 16),
                       height: y0 + rows.count * rowHeight + 30 + (labelEvery == nil ? 0 : 12))
        c.text(title, x: 8, y: 8, scale: 2)
        for (l, row) in rows.enumerated() {
            let base = y0 + (l + 1) * rowHeight - 4
            c.text("L\(l)", x: 8, y: base - 10, .darkGrey)
            c.line(x0, base, x0 + w, base, .grey)
            for (i, v) in row.enumerated() {
                let bh = Int((max(0, min(1, v)) * Double(rowHeight - 8)).rounded())
                c.fill(x: x0 + i * barWidth, y: base - bh, width: max(1, barWidth - 1), height: bh, Canvas.Color.palette[0])
            }
        }
        var captionY = y0 + rows.count * rowHeight + 10
        if let every = labelEvery {
            for i in stride(from: 0, to: n, by: every) {
                c.text(String(i), x: x0 + i * barWidth + barWidth / 2 - Canvas.textWidth(String(i)) / 2, y: captionY - 4, .darkGrey)
            }
            captionY += 12
        }
        c.text(caption, x: x0, y: captionY, .darkGrey)
        return c
    }

    /// A one-pixel grey rectangle outline.
    static func frame(_ c: inout Canvas, x: Int, y: Int, width: Int, height: Int) {
        c.line(x, y, x + width - 1, y, .grey)
        c.line(x, y + height - 1, x + width - 1, y + height - 1, .grey)
        c.line(x, y, x, y + height - 1, .grey)
        c.line(x + width - 1, y, x + width - 1, y + height - 1, .grey)
    }

    static func fixed1(_ v: Double) -> String { TextNumber.fixed(v, 1) }
    static func fixed2(_ v: Double) -> String { TextNumber.fixed(v, 2) }

    /// Writes the pictures of `trace` into `folder` (created if needed): `heatmap-layer-NN.png` for the first
    /// prompt and every layer (its columns labelled with `tokenLabels`, one per token of the first prompt, when
    /// given), `chunk-sparsity.png`, `expert-frequency.png`, `active-experts.png`. Each file is written
    /// atomically. Returns the paths.
    /// - Throws: `.io` when the folder or a file cannot be written.
    public static func write(_ trace: Trace, to folder: String, tokenLabels: [String]? = nil) throws -> [String] {
        mkdir(folder, 0o755)
        var written: [String] = []
        func save(_ name: String, _ canvas: Canvas) throws {
            let path = folder + "/" + name
            try writeFileAtomically(path, try canvas.png(), overwrite: true)
            written.append(path)
        }
        if let first = trace.scores.first {
            for (l, s) in first.enumerated() {
                let T = s.count / max(trace.experts, 1)
                let name = "heatmap-layer-" + (l < 10 ? "0" : "") + String(l) + ".png"
                try save(name, heatmap(scores: s, tokens: T, experts: trace.experts, title: "LAYER \(l) ROUTER SCORES (WHITE: INACTIVE)",
                                     labels: tokenLabels))
            }
        }
        try save("chunk-sparsity.png", chunkSparsity(trace.statistics))
        let tokens = trace.scores.reduce(0) { $0 + ($1.first?.count ?? 0) / max(trace.experts, 1) }
        try save("expert-frequency.png", expertFrequency(trace.activations, tokens: tokens))
        try save("active-experts.png", activeExperts(trace.activeCounts))
        return written
    }
}
