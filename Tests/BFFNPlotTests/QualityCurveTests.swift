import BFFNCore
@testable import BFFNPlot
import Testing

/// The size-quality curve: axes that hold every point, each point drawn where its bits per weight and log KLD put it
/// (checked in the decoded PNG), deterministic bytes.
@Suite("KLD against size")
struct QualityCurveTests {
    static let points = [QualityCurve.Point(label: "q8", bitsPerWeight: 8.5, meanKLD: 2.8e-4),
                         QualityCurve.Point(label: "q4", bitsPerWeight: 4.5, meanKLD: 0.0127),
                         QualityCurve.Point(label: "q3", bitsPerWeight: 3.44, meanKLD: 0.031)]

    @Test func axesHoldEveryPoint() {
        let g = QualityCurve.geometry(Self.points)
        #expect(g.bits == 3...9 && g.decades == -4 ... -1)
        // Whole decades land on whole grid lines: 1e-4 at the bottom, 1e-1 at the top; bits linearly across.
        #expect(g.position(bitsPerWeight: 3, meanKLD: 1e-4) == (g.x0, g.y0 + g.height))
        #expect(g.position(bitsPerWeight: 9, meanKLD: 0.1) == (g.x0 + g.width, g.y0))
        #expect(g.position(bitsPerWeight: 6, meanKLD: pow(10, -2.5)) == (g.x0 + g.width / 2, g.y0 + g.height / 2))
        // A lossless copy (KLD 0) sits on the floor of the axis instead of at minus infinity.
        let exact = QualityCurve.geometry([QualityCurve.Point(label: "f32", bitsPerWeight: 32, meanKLD: 0)])
        #expect(exact.decades.lowerBound == -7 && exact.position(bitsPerWeight: 32, meanKLD: 0).y == exact.y0 + exact.height)
    }

    @Test func pointsAreDrawnWhereTheyBelong() throws {
        let bytes = try QualityCurve.picture(Self.points).png()
        let png = try DecodedPNG(bytes)
        let g = QualityCurve.geometry(Self.points)
        // Sorted by size, point i takes palette colour i: q3 (smallest) the first.
        for (i, p) in Self.points.sorted(by: { $0.bitsPerWeight < $1.bitsPerWeight }).enumerated() {
            let at = g.position(bitsPerWeight: p.bitsPerWeight, meanKLD: p.meanKLD)
            let c = Canvas.Color.palette[i]
            #expect(png.pixel(at.x, at.y) == [c.r, c.g, c.b], "\(p.label)")
        }
        #expect(png.pixel(g.x0 + 1, g.y0 + g.height - 1) == [255, 255, 255])
        #expect(try QualityCurve.picture(Self.points).png() == bytes)
        let json = QualityCurve.json(output: "d", files: ["d/kld-size.png"], points: Self.points)
        #expect(json["points"]?.arrayElements?.map { $0["label"]?.stringValue } == ["q3", "q4", "q8"])
    }
}
