import BFFNCore
import BFFNKernels
import BFFNPack
import BFFNTestSupport
import Testing

/// The super-block types q4k, q5k, q6k and q3k in packs: the converter writes them (rows they do not fit fall back,
/// q4k's to asymmetric q4, q3k's to symmetric q4, the others' to q8), the same options give the same bytes, the reader
/// reads them back with their checksums, and an entry that lies about its rows (a truncated row table, rows that are
/// not whole sub-blocks, a misspelt type) is a typed error naming the file, the tensor and its offset.
extension LyingManifestTests {
    @Test(arguments: [StorageType.q4k, .q5k, .q6k, .q3k])
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
        #expect(report.fitted.allSatisfy { f in
            f.requested == type && (type == .q4k ? f.stored == .q4(group: f.stored.group(cols: 0) ?? 0, asymmetric: true)
                                                 : f.stored.bits == 8 || type == .q3k && f.stored == .q4(group: 8, asymmetric: false))
        })
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
