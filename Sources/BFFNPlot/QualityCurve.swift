import BFFNCore

/// The size-against-quality curve of several quantized versions of one model: bits per weight across, mean KLD on
/// the text up on a log scale (the better a recipe, the lower and further left its point), one labelled point each,
/// joined in order of size. What `bffn plot --verify-report` draws from `bffn verify --json` reports.
public enum QualityCurve {
    /// One model: its label, its weights' bits per weight, and its mean KLD against the reference.
    public struct Point: Sendable, Equatable {
        public var label: String
        /// File bytes of weights x 8 / parameters.
        public var bitsPerWeight: Double
        /// Mean KL divergence per position (nats); drawn at 1e-7 at least (a lossless copy).
        public var meanKLD: Double

        public init(label: String, bitsPerWeight: Double, meanKLD: Double) {
            (self.label, self.bitsPerWeight, self.meanKLD) = (label, bitsPerWeight, meanKLD)
        }
    }

    /// The plot area and its scales: bits per weight from `bits.lowerBound` to `bits.upperBound` across `width`
    /// pixels from `x0`; log10 KLD from `decades.upperBound` (top, at `y0`) to `decades.lowerBound` over `height`.
    public struct Geometry: Sendable, Equatable {
        public var x0: Int, y0: Int, width: Int, height: Int
        public var bits: ClosedRange<Double>, decades: ClosedRange<Int>

        /// The pixel of a point.
        public func position(bitsPerWeight: Double, meanKLD: Double) -> (x: Int, y: Int) {
            let fx = (bitsPerWeight - bits.lowerBound) / max(bits.upperBound - bits.lowerBound, 1e-9)
            let d = log10(max(meanKLD, 1e-7))
            let fy = (Double(decades.upperBound) - d) / Double(max(decades.upperBound - decades.lowerBound, 1))
            return (x0 + Int((fx * Double(width)).rounded()), y0 + Int((min(max(fy, 0), 1) * Double(height)).rounded()))
        }
    }

    /// Axes that hold every point: whole bits around the sizes (at least 1 bit wide), whole decades around the KLDs.
    public static func geometry(_ points: [Point]) -> Geometry {
        let sizes = points.map(\.bitsPerWeight), klds = points.map { log10(max($0.meanKLD, 1e-7)) }
        let low = (sizes.min() ?? 0).rounded(.down), high = max((sizes.max() ?? 1).rounded(.up), low + 1)
        let bottom = Int((klds.min() ?? -4).rounded(.down)), top = max(Int((klds.max() ?? -1).rounded(.up)), bottom + 1)
        return Geometry(x0: 70, y0: 44, width: 520, height: 300, bits: low...high, decades: bottom...top)
    }

    /// The picture: grid lines at whole bits and decades, the points joined in order of size, each labelled.
    public static func picture(_ points: [Point], title: String = "MEAN KLD AGAINST BITS PER WEIGHT") -> Canvas {
        let g = geometry(points)
        var c = Canvas(width: g.x0 + g.width + 40, height: g.y0 + g.height + 50)
        c.text(title, x: 8, y: 8, scale: 2)
        for d in g.decades {
            let y = g.position(bitsPerWeight: g.bits.lowerBound, meanKLD: pow(10, Double(d))).y
            c.line(g.x0, y, g.x0 + g.width, y, .grey)
            c.text("1E\(d)", x: g.x0 - 40, y: y - 3, .darkGrey)
        }
        var b = g.bits.lowerBound
        while b <= g.bits.upperBound + 1e-9 {
            let x = g.position(bitsPerWeight: b, meanKLD: 1).x
            c.line(x, g.y0, x, g.y0 + g.height, .grey)
            let label = String(Int(b))
            c.text(label, x: x - Canvas.textWidth(label) / 2, y: g.y0 + g.height + 6, .darkGrey)
            b += 1
        }
        c.text("BITS PER WEIGHT", x: g.x0 + g.width / 2 - 45, y: g.y0 + g.height + 22)
        let sorted = points.sorted { $0.bitsPerWeight < $1.bitsPerWeight }
        var last: (x: Int, y: Int)?
        for p in sorted {
            let at = g.position(bitsPerWeight: p.bitsPerWeight, meanKLD: p.meanKLD)
            if let last { c.line(last.x, last.y, at.x, at.y, .darkGrey) }
            last = at
        }
        for (i, p) in sorted.enumerated() {
            let at = g.position(bitsPerWeight: p.bitsPerWeight, meanKLD: p.meanKLD)
            let color = Canvas.Color.palette[i % Canvas.Color.palette.count]
            c.fill(x: at.x - 3, y: at.y - 3, width: 7, height: 7, color)
            c.text(p.label.uppercased(), x: at.x + 6, y: at.y - 10, color)
        }
        return c
    }

    /// Writes `picture(points)` as FOLDER/kld-size.png (the folder created if needed), atomically; returns the path.
    /// - Throws: `.io` when the folder or the file cannot be written.
    public static func write(_ points: [Point], to folder: String) throws -> String {
        mkdir(folder, 0o755)
        let path = folder + "/kld-size.png"
        try writeFileAtomically(path, try picture(points).png(), overwrite: true)
        return path
    }

    /// `bffn plot --verify-report ... --json` without a model: `output`, `files`, and the points drawn
    /// (`label`, `bits_per_weight`, `mean_kld`), smallest first (docs/json.md, "plot").
    public static func json(output: String, files: [String], points: [Point]) -> JSONValue {
        .object([("output", .string(output)), ("files", .array(files.map { .string($0) })),
                 ("points", .array(points.sorted { $0.bitsPerWeight < $1.bitsPerWeight }.map {
                     .object([("label", .string($0.label)), ("bits_per_weight", .double($0.bitsPerWeight)), ("mean_kld", .double($0.meanKLD))])
                 }))])
    }
}
