import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNKernels
@testable import BFFNPack
import BFFNModel
import BFFNTestSupport
import BFFNTorchZip
import Testing

/// The documented encoding (WeightQuantizer, formats/bfpk.md), written out element by element in plain Swift as
/// an independent reference for the vectorised C kernel: true divisions, rounding half away from zero.
func referenceEncoding(_ x: [Float], as type: StorageType) -> [UInt8] {
    var out: [UInt8] = []
    func put(_ v: Float) { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
    switch type {
    case .f32:
        x.forEach(put)
    case .f16:
        for v in x { withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { out += $0 } }
    case .bf16:
        for v in x { withUnsafeBytes(of: ScalarConversion.floatToBF16(v).littleEndian) { out += $0 } }
    case .q8(let rowGroup):
        let g = rowGroup ?? x.count
        var codes: [UInt8] = []
        for start in stride(from: 0, to: x.count, by: g) {
            let m = x[start..<(start + g)].map(abs).max()!
            let scale = m > 0 ? m / 127 : 1
            put(scale)
            for v in x[start..<(start + g)] {
                codes.append(UInt8(bitPattern: Int8(Swift.max(-127, Swift.min(127, (v / scale).rounded(.toNearestOrAwayFromZero))))))
            }
        }
        out += codes
    case .q4(let g, let asymmetric):
        var codes: [UInt8] = [], offsets: [Float] = []
        for start in stride(from: 0, to: x.count, by: g) {
            let group = x[start..<(start + g)]
            if asymmetric {
                let lo = group.min()!, hi = group.max()!
                let scale = hi > lo ? (hi - lo) / 15 : 1
                put(scale)
                offsets.append(lo)
                codes += group.map { UInt8(Swift.max(0, Swift.min(15, (($0 - lo) / scale).rounded(.toNearestOrAwayFromZero)))) }
            } else {
                let m = group.map(abs).max()!
                let scale = m > 0 ? m / 7 : 1
                put(scale)
                codes += group.map { UInt8(Int(Swift.max(-8, Swift.min(7, ($0 / scale).rounded(.toNearestOrAwayFromZero)))) + 8) }
            }
        }
        offsets.forEach(put)
        for i in stride(from: 0, to: codes.count, by: 2) { out.append(codes[i] | codes[i + 1] << 4) }
    }
    return out
}

/// Rows that exercise the encoder: random values, all-zero and constant groups, and exact rounding ties.
func encoderTestRows(count n: Int) -> [[Float]] {
    var s: UInt32 = 99
    func next() -> Float { s = s &* 1_664_525 &+ 1_013_904_223; return (Float(s >> 8) / Float(1 << 24) - 0.5) * 4 }
    let random = (0..<n).map { _ in next() }
    let zeros = [Float](repeating: 0, count: n)
    let constant = [Float](repeating: -0.75, count: n)
    // Groups of 8 whose scale is exactly 1 (q8: max |x| 127; asymmetric q4: 0...15; symmetric q4: max |x| 7),
    // filled with exact ties, which round away from zero.
    let q8Ties = (0..<n).map { i -> Float in [127, -127, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5][i % 8] }
    let q4Ties = (0..<n).map { i -> Float in [0, 15, 0.5, 1.5, 2.5, 7.5, 14.5, 3.5][i % 8] }
    let symmetricTies = (0..<n).map { i -> Float in [7, -7, 0.5, -0.5, 2.5, -2.5, 6.5, -6.5][i % 8] }
    let mixed = (0..<n).map { i in i % 16 < 8 ? 0 : next() }   // zero groups beside random ones
    return [random, zeros, constant, q8Ties, q4Ties, symmetricTies, mixed]
}

@Suite("row encoder")
struct RowEncoderTests {
    static let types: [StorageType] = [.f32, .f16, .bf16] + [8, 16, 32, 64, 128].flatMap { g in
        [StorageType.q8(group: g), .q4(group: g, asymmetric: true), .q4(group: g, asymmetric: false)]
    }

    /// Every storage type and group size, on every test row: the kernel's bytes equal the reference's, and the
    /// decoded values are what the loaders read.
    @Test(arguments: types)
    func bytesMatchTheDocumentedFormulas(_ t: StorageType) {
        for row in encoderTestRows(count: 256) + encoderTestRows(count: 264).map({ Array($0.prefix(t.isFloat ? 261 : 256)) }) {
            let (bytes, decoded) = WeightQuantizer.encode(row, as: t)
            #expect(bytes == referenceEncoding(row, as: t), "\(t), \(row.count) values")
            let loaded = bytes.withUnsafeBytes { WeightMatrix(base: $0.baseAddress!, type: t, rows: 1, cols: row.count).rowValues(0) }
            #expect(loaded.map(\.bitPattern) == decoded.map(\.bitPattern))
        }
    }

    /// bf16 and f16 rows are widened inside the kernel: the same bytes as encoding their float32 values.
    @Test(arguments: [StorageType.bf16, .f16])
    func narrowSourcesEncodeLikeTheirWidenedValues(_ source: StorageType) {
        let values = encoderTestRows(count: 128)[0]
        let stored = referenceEncoding(values, as: source)
        let widened = stored.withUnsafeBytes { WeightMatrix(base: $0.baseAddress!, type: source, rows: 1, cols: 128).rowValues(0) }
        for t in [StorageType.q8(group: 32), .q4(group: 32, asymmetric: true), .f16, .bf16, .f32] {
            var direct = [UInt8](repeating: 0, count: t.rowBytes(cols: 128)), errors = WeightQuantizer.ErrorSums()
            stored.withUnsafeBytes { s in
                direct.withUnsafeMutableBytes { WeightQuantizer.encode(s.baseAddress!, storedAs: source, count: 128, as: t, into: $0.baseAddress!, errors: &errors) }
            }
            #expect(direct == WeightQuantizer.encode(widened, as: t).bytes)
            #expect(errors.elements == 128)
        }
    }

    /// The error sums agree with a double-precision computation from the decoded values.
    @Test(arguments: [StorageType.q8(group: 32), .q4(group: 16, asymmetric: true), .bf16])
    func errorSumsAgreeWithDoublePrecision(_ t: StorageType) {
        let row = encoderTestRows(count: 512)[0]
        let (_, decoded) = WeightQuantizer.encode(row, as: t)
        var sums = WeightQuantizer.ErrorSums()
        var out = [UInt8](repeating: 0, count: t.rowBytes(cols: row.count))
        row.withUnsafeBufferPointer { r in out.withUnsafeMutableBytes { WeightQuantizer.encode(r.baseAddress!, count: row.count, as: t, into: $0.baseAddress!, errors: &sums) } }
        let noise = zip(row, decoded).reduce(0.0) { $0 + (Double($1.1) - Double($1.0)) * (Double($1.1) - Double($1.0)) }
        let signal = row.reduce(0.0) { $0 + Double($1) * Double($1) }
        let worst = zip(row, decoded).map { abs(Double($0.1) - Double($0.0)) }.max()!
        #expect(abs(sums.noise - noise) <= 1e-5 * noise)
        #expect(abs(sums.signal - signal) <= 1e-5 * signal)
        #expect(abs(Double(sums.maxAbs) - worst) <= 1e-6 * worst)
        #expect(sums.elements == 512)
    }

    /// A tensor cut into many small pieces and written by one or two threads: the same bytes as encoding its rows
    /// one by one, the CRC-32 of those bytes, and the same per-row errors.
    @Test func piecesWrittenByThreadsGiveTheSequentialBytes() throws {
        let rows = 301, cols = 64, t = StorageType.q4(group: 32, asymmetric: true)
        var s: UInt32 = 5
        let source: [UInt16] = (0..<(rows * cols)).map { _ in
            s = s &* 1_664_525 &+ 1_013_904_223
            return ScalarConversion.floatToBF16((Float(s >> 8) / Float(1 << 24) - 0.5) * 2)
        }
        let dir = TemporaryDirectory()
        try source.withUnsafeBytes { raw in
            let m = WeightMatrix(base: raw.baseAddress!, type: .bf16, rows: rows, cols: cols)
            let expected = (0..<rows).flatMap { WeightQuantizer.encode(m.rowValues($0), as: t).bytes }
            var results: [[WeightQuantizer.ErrorSums]] = []
            for threads in [1, 2] {
                let path = dir.file("t\(threads)")
                let out = try AtomicFileWriter(path: path, overwrite: false)
                let first = try out.reserve(UInt64(rows * t.rowBytes(cols: cols)))
                let written = try PackWriter.encodeTensor(m, sourceRow: { $0 }, as: t, to: out, at: first, releasingSource: false,
                                                          threads: threads, pieceBytes: 7 * t.rowBytes(cols: cols))
                try out.commit()
                #expect(try MappedFile(path: path).contents == expected)
                #expect(written.crc == CRC32.checksum(expected))
                results.append(written.rowErrors)
            }
            #expect(results[0] == results[1])
        }
    }
}

@Suite("source checksums")
struct SourceChecksumTests {
    /// A .bin whose tensor bytes no longer match their zip CRC-32: the check the converter defers to its single
    /// pass over the source still fails, naming the file, the entry and its offset, and leaves no output.
    @Test func aDamagedBinEntryFailsTheConvertAndLeavesNothing() throws {
        let dir = TemporaryDirectory()
        let source = Fixtures.blockLinearReference
        _ = dir.makeFolder("src")
        for name in ["config.json", "pytorch_model.bin"] { try dir.copy(source + "/" + name, as: "src/" + name) }
        let bin = dir.file("src/pytorch_model.bin")
        let archive = try TorchCheckpointFile(path: bin).archive
        let entry = try #require(archive.entries.filter { $0.name.contains("/data/") && $0.uncompressedSize > 64 }.max { $0.uncompressedSize < $1.uncompressedSize })
        var bytes = try Fixtures.bytes(bin)
        bytes[Int(entry.dataOffset) + 17] ^= 0x01
        try writeFileAtomically(bin, bytes)
        for threads in [1, 2] {
            var o = ConvertOptions()
            o.threads = threads
            do {
                _ = try PackWriter.convert(source: dir.file("src"), to: dir.file("out.bfpk"), options: o)
                Issue.record("the damaged entry was not found")
            } catch let e as BFFNError {
                #expect(e.code == .checksumMismatch)
                #expect(e.location.file == bin && e.location.field == entry.name && e.location.offset == entry.dataOffset)
            }
            #expect(throws: BFFNError.self) { _ = try MappedFile(path: dir.file("out.bfpk")) }
        }
    }

    /// The provenance CRC of a .bin source is the CRC-32 of the whole file, as zlib computes it in one go.
    @Test func theSourceCRCIsTheWholeFiles() throws {
        let dir = TemporaryDirectory()
        _ = try PackWriter.convert(source: Fixtures.blockLinearReference, to: dir.file("m.bfpk"), options: ConvertOptions())
        let pack = try PackFile(path: dir.file("m.bfpk"))
        guard case .array(let files)? = pack.manifest["provenance"]?["source_files"], let crc = files.first?["crc32"] else {
            Issue.record("no source_files in the manifest")
            return
        }
        #expect(crc == .int(Int64(CRC32.checksum(try Fixtures.bytes(Fixtures.blockLinearReference + "/pytorch_model.bin")))))
    }
}

@Suite("expert blocks")
struct ExpertBlockTests {
    /// Expert blocks encoded a few at a time (as for models whose layer of blocks exceeds the batch buffer), by
    /// one or two threads, in a permuted slot order: the same file, and each CRC is that of its block's data.
    @Test func blocksInSmallBatchesGiveTheSameFile() throws {
        let weights = try ModelWeights(checkpoint: Checkpoint(path: Fixtures.blockLinearReference))
        var o = ConvertOptions()
        o.quant = .q8(group: 8)
        o.alignment = 256
        let layout = try PackLayout(weights: weights, options: o)
        let E = layout.experts, blockBytes = Int(layout.blockBytes), dataBytes = Int(layout.expertDataBytes)
        let slots = Array((0..<E).reversed())
        let dir = TemporaryDirectory()
        var files: [[UInt8]] = []
        for batch in [1, 3, E] {
            for threads in [1, 2] {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: batch * blockBytes, alignment: 4096)
                defer { buffer.deallocate() }
                buffer.initializeMemory(as: UInt8.self, repeating: 0)
                let path = dir.file("b\(batch)-t\(threads)")
                let out = try AtomicFileWriter(path: path, overwrite: false)
                let first = try out.reserve(UInt64(E * blockBytes))
                let written = PackWriter.encodeExpertBlocks(layer: weights.layers[1].experts!, slots: slots, layout: layout, blocks: buffer,
                                                            to: out, at: first, threads: threads)
                try out.commit()
                let bytes = try Fixtures.bytes(path)
                for (i, w) in written.enumerated() {
                    #expect(try w.get().crc == CRC32.checksum(Array(bytes[(i * blockBytes)..<(i * blockBytes + dataBytes)])))
                    #expect(bytes[(i * blockBytes + dataBytes)..<((i + 1) * blockBytes)].allSatisfy { $0 == 0 })
                }
                files.append(bytes)
            }
        }
        #expect(files.allSatisfy { $0 == files[0] })
        #expect(files[0].count == E * blockBytes)
    }
}
