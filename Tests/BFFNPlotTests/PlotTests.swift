import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNModel
@testable import BFFNPlot
import BFFNTestSupport
import CBlockFFNZlib
import Testing

/// A PNG reader written from the PNG specification for these tests, independent of the encoder: it checks the
/// signature, every chunk's CRC-32, the header fields, inflates the image data and undoes filter 0.
struct DecodedPNG {
    var width = 0, height = 0
    var rgb: [UInt8] = []

    init(_ bytes: [UInt8]) throws {
        #expect(Array(bytes.prefix(8)) == [137, 80, 78, 71, 13, 10, 26, 10])
        func be32(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
        var p = 8, idat: [UInt8] = [], types: [String] = []
        while p + 12 <= bytes.count {
            let n = be32(p), type = String(decoding: bytes[(p + 4)..<(p + 8)], as: UTF8.self)
            let crc = bytes[(p + 4)..<(p + 8 + n)].withUnsafeBytes { UInt32(crc32(0, $0.baseAddress!.assumingMemoryBound(to: Bytef.self), uInt($0.count))) }
            #expect(UInt32(be32(p + 8 + n)) == crc, "CRC of \(type)")
            types.append(type)
            if type == "IHDR" {
                width = be32(p + 8)
                height = be32(p + 12)
                #expect(Array(bytes[(p + 16)..<(p + 21)]) == [8, 2, 0, 0, 0])
            }
            if type == "IDAT" { idat += bytes[(p + 8)..<(p + 8 + n)] }
            p += 12 + n
        }
        #expect(types.first == "IHDR" && types.last == "IEND" && p == bytes.count)
        var raw = [UInt8](repeating: 0, count: height * (1 + width * 3))
        var length = uLongf(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { out in idat.withUnsafeBufferPointer { uncompress(out.baseAddress, &length, $0.baseAddress, uLong($0.count)) } }
        #expect(status == Z_OK && Int(length) == raw.count)
        for y in 0..<height {
            #expect(raw[y * (1 + width * 3)] == 0, "filter byte of row \(y)")
            let start: Int = y * (1 + width * 3) + 1
            let end: Int = start + width * 3
            rgb += raw[start..<end]
        }
    }

    func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(rgb[((y * width + x) * 3)..<((y * width + x) * 3 + 3)]) }
}

@Suite("routing pictures")
struct PlotTests {
    @Test func pngRoundTripsThroughAnIndependentReader() throws {
        var c = Canvas(width: 37, height: 11)
        c.fill(x: 3, y: 2, width: 4, height: 5, .red)
        c.text("A", x: 20, y: 2)
        let png = try DecodedPNG(try c.png())
        #expect(png.width == 37 && png.height == 11)
        #expect(png.pixel(0, 0) == [255, 255, 255] && png.pixel(3, 2) == [214, 39, 40] && png.pixel(6, 6) == [214, 39, 40] && png.pixel(7, 6) == [255, 255, 255])
        // The font's 'A': top row 01110, so (20, 2) is blank and (21, 2) ink; its fifth row 11111.
        #expect(png.pixel(20, 2) == [255, 255, 255] && png.pixel(21, 2) == [0, 0, 0] && png.pixel(24, 6) == [0, 0, 0])
        #expect(try c.png() == c.png())   // deterministic
    }

    @Test func heatmapCellsShowWhichExpertsAreActive() throws {
        // 3 tokens × 4 experts: token 0 uses expert 1, token 1 experts 1 and 3 (3 strongest), token 2 none.
        let scores: [Float] = [0, 0.5, 0, 0, 0, 0.5, 0, 2, 0, 0, 0, 0]
        let png = try DecodedPNG(try RoutingPlots.heatmap(scores: scores, tokens: 3, experts: 4, title: "T").png())
        let g = RoutingPlots.heatmapGeometry(tokens: 3, experts: 4)
        func at(_ t: Int, _ e: Int) -> [UInt8] { let p = g.center(token: t, expert: e); return png.pixel(p.x, p.y) }
        #expect(at(0, 0) == [255, 255, 255] && at(2, 1) == [255, 255, 255] && at(2, 3) == [255, 255, 255])
        #expect(at(0, 1) != [255, 255, 255] && at(1, 1) == at(0, 1))
        let strong = Canvas.Color.intensity(1)
        #expect(at(1, 3) == [strong.r, strong.g, strong.b])
        #expect(at(0, 1)[0] > at(1, 3)[0])   // a weaker score is a lighter blue
    }

    @Test func picturesOfTheBundledModel() throws {
        let dir = TemporaryDirectory()
        let weights = try ModelWeights(checkpoint: Checkpoint(path: Fixtures.blockLinearReference))
        let trace = try RoutingPlots.Trace(weights: weights, prompts: [Array(0..<24), [5, 17, 42, 5, 17, 42, 9, 9]], threads: 1)
        let files = try RoutingPlots.write(trace, to: dir.file("plots"))
        #expect(files.map { $0.split(separator: "/").last! } == ["heatmap-layer-00.png", "heatmap-layer-01.png", "chunk-sparsity.png",
                                                                   "expert-frequency.png", "active-experts.png"])
        for f in files {
            let png = try DecodedPNG(try Fixtures.bytes(f))
            #expect(png.width >= 200 && png.height >= 80 && png.width <= 1200 && png.height <= 900, "\(f): \(png.width) x \(png.height)")
        }
        // The heatmap of layer 0 is white exactly where the captured scores are zero.
        let png = try DecodedPNG(try Fixtures.bytes(files[0]))
        let g = RoutingPlots.heatmapGeometry(tokens: 24, experts: 6)
        for t in 0..<24 {
            for e in 0..<6 {
                let p = g.center(token: t, expert: e)
                #expect((png.pixel(p.x, p.y) == [255, 255, 255]) == (trace.scores[0][0][t * 6 + e] == 0), "token \(t) expert \(e)")
            }
        }
        // Counts agree with the sparsity statistics: active experts per token sum to the active share.
        let stats = trace.statistics
        let counts: [Int] = trace.activeCounts[0]
        var activePairs = 0, tokens = 0
        for (n, count) in counts.enumerated() {
            activePairs += n * count
            tokens += count
        }
        let meanActive = Double(activePairs) / Double(tokens)
        let tls: Double = stats.layers[0].chunkSparsity[1] ?? -1
        #expect(tokens == 32 && abs((1 - meanActive / 6) - tls) < 1e-12)
        #expect(trace.activations[0].reduce(0, +) == activePairs)
    }
}
