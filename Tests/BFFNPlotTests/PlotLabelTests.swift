import BFFNCore
import BFFNEngine
@testable import BFFNPlot
import BFFNTestSupport
import Testing

/// What the pictures say: the CLS legend names each layer's line, the x axis ends at the longest chunk with data,
/// heatmap columns carry their tokens, and CLS_L drops the last partial chunk (so a random routing's CLS8 of
/// about 0.5^8 is right, not a bug).
@Suite("plot labels")
struct PlotLabelTests {
    /// Per-layer scores of one sequence: token t activates expert e when `active(t, e)`.
    static func scores(tokens: Int, experts: Int, layers: Int, _ active: (Int, Int, Int) -> Bool) -> [[Float]] {
        (0..<layers).map { l in (0..<(tokens * experts)).map { active(l, $0 / experts, $0 % experts) ? 1 : 0 } }
    }

    @Test func chunkSparsityCountsOnlyWholeChunks() {
        // 10 tokens, 2 experts: expert 1 only at token 3, expert 0 only at token 9 (in the partial chunk 8..<10).
        let s = SparsityStatistics(routerScores: Self.scores(tokens: 10, experts: 2, layers: 1) { _, t, e in (e == 1 && t == 3) || (e == 0 && t == 9) },
                                   experts: 2)
        #expect(s.overall[8] == 0.5)      // one window, one of two experts active
        #expect(s.overall[16] == nil)     // no sequence fills a chunk of 16
        #expect(s.overall[2] == 1 - 2.0 / 10)   // five windows, two (expert, window) pairs active
    }

    @Test func independentHalfActiveRoutingGivesCLSOfAHalfToTheL() {
        // Each expert active for each token with probability 1/2, independently (what a random-weight model's
        // ReLU router does): CLS_L = 0.5^L, so CLS8 = 0.004 and the curve meets 0 at L = 8.
        var g = SplitMix64(seed: 7)
        let bits = (0..<(4096 * 32)).map { _ in g.next() & 1 == 1 }
        let s = SparsityStatistics(routerScores: [bits.map { $0 ? 1 : 0 }], experts: 32)
        for L in [1, 2, 4, 8] { #expect(abs((s.overall[L] ?? -1) - pow(0.5, Double(L))) < 0.01, "L = \(L): \(s.overall[L] ?? -1)") }
    }

    @Test func theXAxisEndsAtTheLongestChunkWithData() throws {
        let s = SparsityStatistics(routerScores: Self.scores(tokens: 24, experts: 4, layers: 2) { l, t, e in (t + e + l) % 3 == 0 }, experts: 4)
        #expect(RoutingPlots.plottedChunkLengths(s) == [1, 2, 4, 8, 16])
        let short = SparsityStatistics(routerScores: Self.scores(tokens: 1, experts: 4, layers: 1) { _, _, e in e == 0 }, experts: 4)
        #expect(RoutingPlots.plottedChunkLengths(short) == [1, 2])
        // The mean line reaches the right edge of the plot (x0 + w = 540), at CLS16's height.
        let png = try DecodedPNG(try RoutingPlots.chunkSparsity(s).png())
        let y = 40 + Int((1 - s.overall[16]!) * 260)
        #expect(png.pixel(538, y) == [0, 0, 0])
    }

    @Test func theLegendNamesEachLayersColour() throws {
        for layers in [2, 11] {
            let s = SparsityStatistics(routerScores: Self.scores(tokens: 16, experts: 4, layers: layers) { l, t, e in (t * e + l) % 5 == 0 }, experts: 4)
            let png = try DecodedPNG(try RoutingPlots.chunkSparsity(s).png())
            // The legend's swatches, one per colour in use (x 556 ..< 570, 12 pixels apart from y 85).
            for k in 0..<8 {
                let expected = k < layers ? Canvas.Color.palette[k] : .white
                #expect(png.pixel(560, 40 + 42 + k * 12 + 3) == [expected.r, expected.g, expected.b], "layers \(layers), colour \(k)")
            }
        }
        #expect(RoutingPlots.layers(ofColor: 2, layerCount: 11) == [2, 10])
        #expect(RoutingPlots.layers(ofColor: 3, layerCount: 11) == [3])
    }

    @Test func heatmapColumnsCarryTheirTokens() throws {
        #expect(RoutingPlots.tokenLabel("▁the") == "_the")
        #expect(RoutingPlots.tokenLabel("Ġworld") == "_world")
        #expect(RoutingPlots.tokenLabel("Ċ") == "\\N")
        #expect(RoutingPlots.tokenLabel("abcdefghij") == "abcdef")
        let scores = [Float](repeating: 0, count: 3 * 4)
        let plain = try DecodedPNG(try RoutingPlots.heatmap(scores: scores, tokens: 3, experts: 4, title: "T").png())
        let labelled = try DecodedPNG(try RoutingPlots.heatmap(scores: scores, tokens: 3, experts: 4, title: "T", labels: ["I", "", "WAS"]).png())
        // Three characters stacked under the third column: 3 x 9 pixels more, plus a margin.
        #expect(labelled.height == plain.height + 3 * 9 + 4)
        let g = RoutingPlots.heatmapGeometry(tokens: 3, experts: 4)
        let below = g.y0 + 4 * g.cellHeight + 6
        func inked(_ t: Int, row k: Int) -> Bool {
            let x0 = g.x0 + t * g.cellWidth
            return (x0..<(x0 + g.cellWidth)).contains { x in (0..<7).contains { labelled.pixel(x, below + k * 9 + $0) != [255, 255, 255] } }
        }
        #expect(inked(0, row: 0) && !inked(0, row: 1))    // "I"
        #expect(!inked(1, row: 0))                         // no label
        #expect(inked(2, row: 0) && inked(2, row: 1) && inked(2, row: 2))   // "W", "A", "S"
    }
}
