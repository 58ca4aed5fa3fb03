import BFFNCore
import BFFNKernels
import BFFNPack
import BFFNTestSupport
import Testing

/// q4k in packs: the converter writes it (rows that are not a multiple of 32 fall back and are listed), the reader
/// reads it back with its checksums, and a q4k entry that lies about its rows is a typed error naming the file, the
/// tensor and its offset.
extension LyingManifestTests {
    @Test func q4kPacksRoundTripAndLiesAreNamed() throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.quant = .q4k
        o.scaleSearch = .weighted
        let path = dir.file("k.bfpk")
        _ = try PackWriter.convert(source: Fixtures.blockLinearReference, to: path, options: o)
        let pack = try PackFile(path: path)
        try pack.verifyChecksums()
        let q4k = pack.tensors.enumerated().filter { $0.element.storage == .q4k }
        let first = try #require(q4k.first)
        #expect(pack.tensors.allSatisfy { $0.storage != .q4k || $0.shape.dropFirst().reduce(1, *) % 32 == 0 })
        #expect(first.element.bytes == UInt64(first.element.shape[0] * StorageType.q4k.rowBytes(cols: first.element.shape.dropFirst().reduce(1, *))))
        // The same options give the same bytes.
        _ = try PackWriter.convert(source: Fixtures.blockLinearReference, to: dir.file("k2.bfpk"), options: o)
        let good = try Fixtures.bytes(path)
        #expect(try Fixtures.bytes(dir.file("k2.bfpk")) == good)

        let (i, t) = (first.offset, first.element)
        let rows = t.shape[0], cols = t.shape.dropFirst().reduce(1, *)
        let cases: [(String, (inout [JSONMember]) -> Void, BFFNError.Code)] = [
            ("a truncated q4k row", { self.editTensor(&$0, i, "bytes", .integer(Int64(t.bytes) - 1)) }, .shapeMismatch),
            ("q4k rows that are not a multiple of 32", { m in
                self.editTensor(&m, i, "shape", [.integer(Int64(rows)), .integer(Int64(cols + 8))])
                self.editTensor(&m, i, "bytes", .integer(Int64(rows * StorageType.q4k.rowBytes(cols: cols + 8))))
            }, .shapeMismatch),
            ("a misspelt q4k", { self.editTensor(&$0, i, "dtype", "Q4_K") }, .unknownDType),
        ]
        for (what, edit, code) in cases {
            let lie = try dir.write("lie.bfpk", try rewrite(good, edit))
            do {
                _ = try PackFile(path: lie)
                Issue.record("no error for \(what)")
            } catch let e as BFFNError {
                #expect(e.code == code && e.location.file == lie && e.location.field == t.name && e.location.offset != nil, "\(what): \(e)")
            }
        }
    }
}

/// q5k, q6k and q3k in packs, as q4k above: the converter writes them (rows they do not fit fall back, q3k's to
/// symmetric q4, the others' to q8), the reader reads them back with their checksums, and an entry that lies about its
/// rows (a truncated row table, rows that are not whole sub-blocks, a misspelt type) is a typed error naming the file,
/// the tensor and its offset.
extension LyingManifestTests {
    @Test(arguments: [StorageType.q5k, .q6k, .q3k])
    func superBlockPacksRoundTripAndLiesAreNamed(_ type: StorageType) throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.quant = type
        o.scaleSearch = .weighted
        let path = dir.file("k.bfpk")
        let report = try PackWriter.convert(source: Fixtures.blockLinearReference, to: path, options: o)
        let pack = try PackFile(path: path)
        try pack.verifyChecksums()
        let multiple = type == .q3k ? 16 : 32
        let stored = pack.tensors.enumerated().filter { $0.element.storage == type }
        let first = try #require(stored.first)
        #expect(pack.tensors.allSatisfy { $0.storage != type || $0.shape.dropFirst().reduce(1, *) % multiple == 0 })
        #expect(first.element.bytes == UInt64(first.element.shape[0] * type.rowBytes(cols: first.element.shape.dropFirst().reduce(1, *))))
        #expect(report.fitted.allSatisfy { $0.requested == type && ($0.stored.bits == 8 || type == .q3k && $0.stored == .q4(group: 8, asymmetric: false)) })
        #expect(PackLayout.fittedStorage(.q6k, cols: 48, source: .bf16) == .q8(group: 16))
        #expect(PackLayout.fittedStorage(.q3k, cols: 40, source: .bf16) == .q4(group: 8, asymmetric: false))
        _ = try PackWriter.convert(source: Fixtures.blockLinearReference, to: dir.file("k2.bfpk"), options: o)
        let good = try Fixtures.bytes(path)
        #expect(try Fixtures.bytes(dir.file("k2.bfpk")) == good)

        let (i, t) = (first.offset, first.element)
        let rows = t.shape[0], cols = t.shape.dropFirst().reduce(1, *)
        let cases: [(String, (inout [JSONMember]) -> Void, BFFNError.Code)] = [
            ("a truncated \(type) row table", { self.editTensor(&$0, i, "bytes", .integer(Int64(t.bytes) - 1)) }, .shapeMismatch),
            ("\(type) rows that are not whole sub-blocks", { m in
                self.editTensor(&m, i, "shape", [.integer(Int64(rows)), .integer(Int64(cols + 8))])
                self.editTensor(&m, i, "bytes", .integer(Int64(rows * type.rowBytes(cols: cols + 8))))
            }, .shapeMismatch),
            ("a misspelt \(type)", { self.editTensor(&$0, i, "dtype", .string(String(type.manifestName.dropLast()) + "_K")) }, .unknownDType),
        ]
        for (what, edit, code) in cases {
            let lie = try dir.write("lie.bfpk", try rewrite(good, edit))
            do {
                _ = try PackFile(path: lie)
                Issue.record("no error for \(what)")
            } catch let e as BFFNError {
                #expect(e.code == code && e.location.file == lie && e.location.field == t.name && e.location.offset != nil, "\(what): \(e)")
                #expect(e.description.contains(lie) && e.description.contains(t.name), "\(what): \(e)")
            }
        }
    }
}
