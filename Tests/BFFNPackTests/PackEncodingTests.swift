import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNKernels
@testable import BFFNPack
import BFFNModel
import BFFNTestSupport
import BFFNTorchZip
import Testing

@Suite("tensor encoding")
struct TensorEncodingTests {
    /// A tensor cut into many small pieces and written by one or two threads: the same bytes as encoding its rows
    /// one by one, the CRC-32 of those bytes, and the same per-row errors.
    @Test func piecesWrittenByThreadsGiveTheSequentialBytes() throws {
        let rows = 301, cols = 64, t = StorageType.q4(group: 32, asymmetric: true)
        let source: [UInt16] = SeededValues.floats(rows * cols, seed: 5, scale: 2).map(ScalarConversion.floatToBF16)
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
