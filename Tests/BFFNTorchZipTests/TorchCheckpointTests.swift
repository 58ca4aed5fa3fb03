import BFFNCore
import BFFNTestSupport
import BFFNTorchZip
import Testing

/// Checks every tensor of a torch.save file against the table torch (or numpy) wrote.
func checkAgainstExpected(_ binPath: String, _ expectedPath: String) throws {
    let f = try TorchCheckpointFile(path: binPath)
    let expected = try ExpectedTensor.load(expectedPath)
    #expect(f.tensors.map(\.name) == expected.map(\.name))
    for e in expected {
        let t = try #require(f.tensor(named: e.name))
        #expect(t.record.dtype.rawValue == e.dtype, "\(e.name)")
        #expect(t.record.shape == e.shape, "\(e.name)")
        try f.bytes(of: t).withBytes { b in
            #expect(b.count == e.bytes, "\(e.name)")
            #expect(CRC32.checksum(b) == e.crc32, "\(e.name)")
            for (i, v) in e.first.enumerated() {
                let got = ScalarConversion.element(t.record.dtype, b, i)!
                #expect(got == v || (got.isNaN && v.isNaN), "\(e.name)[\(i)]: \(got) vs \(v)")
            }
        }
    }
}

/// Rewrites a torch.save archive entry by entry through `ZipBuilder` (to vary compression, zip64, folder).
func repack(_ path: String, deflate: Bool = false, zip64: Bool = false, folder: String? = nil,
            edit: (inout [ZipBuilder.Entry]) -> Void = { _ in }) throws -> [UInt8] {
    let archive = try ZipArchive(path: path)
    var entries: [ZipBuilder.Entry] = []
    for e in archive.entries {
        var name = e.name
        if let folder { name = folder + name[name.firstIndex(of: "/")!...] }
        entries.append(.init(name: name, data: try archive.contents(of: e).contents, deflate: deflate))
    }
    edit(&entries)
    var b = ZipBuilder(entries: entries, zip64: zip64)
    b.localExtraPadding = 7
    return b.build()
}

func expectTorchError(_ code: BFFNError.Code, _ bytes: [UInt8], readAll: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) -> BFFNError? {
    let dir = TemporaryDirectory()
    do {
        let path = try dir.write("m.bin", bytes)
        let f = try TorchCheckpointFile(path: path)
        if readAll { for t in f.tensors { _ = try f.bytes(of: t) } }
        Issue.record("no error; expected \(code)", sourceLocation: sourceLocation)
    } catch let e as BFFNError {
        #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
        #expect(e.location.file?.hasSuffix("m.bin") == true, "\(e)", sourceLocation: sourceLocation)
        return e
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// A minimal torch.save archive with one crafted pickle and the given storages.
func archive(pickle: [UInt8], storages: [String: [UInt8]] = [:], folder: String = "archive") -> [UInt8] {
    var entries = [ZipBuilder.Entry(name: "\(folder)/data.pkl", data: pickle)]
    for (k, v) in storages.sorted(by: { $0.key < $1.key }) { entries.append(.init(name: "\(folder)/data/\(k)", data: v)) }
    entries.append(.init(name: "\(folder)/byteorder", data: Array("little".utf8)))
    return ZipBuilder(entries: entries).build()
}

@Suite("torch.save reader")
struct TorchReaderTests {
    @Test func readsTheReferenceBinAsTheIndependentReaderDoes() throws {
        try checkAgainstExpected(Fixtures.blockLinearReference + "/pytorch_model.bin",
                                 Fixtures.blockLinearReference + "/expected-tensors.json")
    }

    @Test func everyDtypeStridedViewsAndSharedStorages() throws {
        let dir = Fixtures.path("torch/variants")
        try checkAgainstExpected(dir + "/variants.bin", dir + "/expected.json")
        let f = try TorchCheckpointFile(path: dir + "/variants.bin")
        #expect(f.folder == "archive")
        #expect(f.tensor(named: "strided.transposed")?.record.isContiguous == false)
        #expect(f.tensor(named: "dtype.F8_E4M3")?.record.dtype == .f8e4m3)
        // Tied names share one storage, read once: both views point into the same bytes.
        let embed = try #require(f.tensor(named: "shared.embed")), head = try #require(f.tensor(named: "shared.head"))
        #expect(embed.record.storage == head.record.storage)
        let a = try f.bytes(of: embed), b = try f.bytes(of: head)
        #expect(a.bytes.baseAddress == b.bytes.baseAddress)
        let rows = try #require(f.tensor(named: "shared.rows_2_to_5"))
        #expect(rows.record.storageOffset == 8)
        withExtendedLifetime((a, b)) {}
    }

    @Test func plainDictAndModuleStateDict() throws {
        let dir = Fixtures.path("torch/variants")
        try checkAgainstExpected(dir + "/plain_dict.bin", dir + "/plain_dict.expected.json")
        try checkAgainstExpected(dir + "/module_state_dict.bin", dir + "/module_state_dict.expected.json")
        #expect(try TorchCheckpointFile(path: dir + "/plain_dict.bin").folder == "plain_dict")
    }

    @Test func deflatedZip64AndRenamedFolderReadTheSame() throws {
        let src = Fixtures.path("torch/variants/variants.bin")
        let dir = TemporaryDirectory()
        for (deflate, zip64, folder) in [(true, false, "x"), (false, true, "weights-v2"), (true, true, "archive")] {
            let path = try dir.write("r.bin", try repack(src, deflate: deflate, zip64: zip64, folder: folder))
            try checkAgainstExpected(path, Fixtures.path("torch/variants/expected.json"))
            #expect(try TorchCheckpointFile(path: path).folder == folder)
        }
    }

    @Test func aBadCRCIsFoundWhenTheStorageIsRead() throws {
        let bytes = try repack(Fixtures.path("torch/variants/variants.bin")) { entries in
            let i = entries.firstIndex { $0.name.hasSuffix("data/3") }!
            entries[i].crcOverride = 0xDEAD_BEEF
        }
        let e = expectTorchError(.checksumMismatch, bytes, readAll: true)
        #expect(e?.location.field == "archive/data/3")
        #expect(e?.location.offset != nil)
    }

    @Test func flippedStorageByteIsACRCError() throws {
        var bytes = try Fixtures.bytes(Fixtures.blockLinearReference + "/pytorch_model.bin")
        let a = try ZipArchive(path: Fixtures.blockLinearReference + "/pytorch_model.bin")
        let entry = try #require(a.entry(named: "pytorch_model/data/5"))
        bytes[Int(entry.dataOffset) + 3] ^= 0x10
        _ = expectTorchError(.checksumMismatch, bytes, readAll: true)
    }

    @Test func forbiddenGlobalsAreRefusedWithoutExecuting() {
        var p = PickleBuilder()
        p.global("os", "system"); p.mark(); p.string("touch /tmp/bffn-pwned"); p.tuple(); p.reduce(); p.stop()
        let e = expectTorchError(.forbiddenGlobal, archive(pickle: p.bytes))
        #expect(e?.reason.contains("os.system") == true)
        // The GLOBAL opcode: local header (30) + "archive/data.pkl" (16) + PROTO (2).
        #expect(e?.location.offset == 48)
        var q = PickleBuilder()
        q.raw([0x8C, 8] + Array("builtins".utf8) + [0x8C, 4] + Array("eval".utf8) + [0x93]); q.stop()
        _ = expectTorchError(.forbiddenGlobal, archive(pickle: q.bytes))
        var r = PickleBuilder() // a storage class is data, not a function
        r.global("torch", "FloatStorage"); r.emptyTuple(); r.reduce(); r.stop()
        _ = expectTorchError(.forbiddenGlobal, archive(pickle: r.bytes))
    }

    @Test func deepNestingAndMemoAbuseAreBounded() {
        var deep = PickleBuilder()
        for _ in 0..<10_000 { deep.op("]") }
        for _ in 0..<9_999 { deep.op("a") }
        deep.stop()
        _ = expectTorchError(.limitExceeded, archive(pickle: deep.bytes))
        var marks = PickleBuilder()
        for _ in 0..<100_000 { marks.mark() }
        _ = expectTorchError(.limitExceeded, archive(pickle: marks.bytes))
        var unset = PickleBuilder()
        unset.raw([UInt8(ascii: "j"), 0xFF, 0xFF, 0xFF, 0x7F]); unset.stop()
        _ = expectTorchError(.malformed, archive(pickle: unset.bytes))
        var cycle = PickleBuilder() // a list appended into itself
        cycle.op("]"); cycle.raw([UInt8(ascii: "q"), 0]); cycle.raw([UInt8(ascii: "h"), 0]); cycle.op("a"); cycle.stop()
        _ = expectTorchError(.malformed, archive(pickle: cycle.bytes))
        _ = expectTorchError(.truncated, archive(pickle: [0x80, 2, UInt8(ascii: "X"), 0xFF, 0xFF, 0xFF, 0x0F]))
        _ = expectTorchError(.unsupported, archive(pickle: [0x80, 2, UInt8(ascii: "i")]))
    }

    @Test func hugeDeclaredSizesAreRefusedBeforeAllocating() {
        // Element counts whose byte size overflows 64 bits, and ones that merely disagree with the entry.
        let overflow = PickleBuilder.stateDict([("w", "0", [1 << 40, 1 << 20])])
        _ = expectTorchError(.limitExceeded, archive(pickle: overflow, storages: ["0": [0, 0, 0, 0]]))
        let lying = PickleBuilder.stateDict([("w", "0", [1 << 20, 1 << 10])])
        _ = expectTorchError(.shapeMismatch, archive(pickle: lying, storages: ["0": [0, 0, 0, 0]]))
        // A deflated entry that claims terabytes.
        let entries = [ZipBuilder.Entry(name: "a/data.pkl", data: PickleBuilder.stateDict([]), deflate: true, sizeOverride: 1 << 40)]
        _ = expectTorchError(.limitExceeded, ZipBuilder(entries: entries, zip64: true).build())
        // A view that reaches past its storage.
        var p = PickleBuilder()
        p.global("collections", "OrderedDict"); p.emptyTuple(); p.reduce(); p.mark(); p.string("w")
        p.tensor(storageClass: "FloatStorage", key: "0", numel: 4, offset: 2, size: [2, 2], stride: [2, 1]); p.op("u"); p.stop()
        _ = expectTorchError(.outOfBounds, archive(pickle: p.bytes, storages: ["0": [UInt8](repeating: 0, count: 16)]))
    }

    @Test func missingStorageAndNonTensorValues() {
        _ = expectTorchError(.missingTensor, archive(pickle: PickleBuilder.stateDict([("w", "0", [2])])))
        var p = PickleBuilder()
        p.op("}"); p.string("n"); p.int(3); p.op("s"); p.stop()
        _ = expectTorchError(.malformed, archive(pickle: p.bytes))
    }

    @Test func notAZipOrLegacyFormat() {
        _ = expectTorchError(.malformed, Array(repeating: 7, count: 100))
        _ = expectTorchError(.unsupported, [0x80, 2, 0x8A, 0x0A] + Array(repeating: 0, count: 40))
        _ = expectTorchError(.malformed, ZipBuilder(entries: [.init(name: "a/other", data: [1])]).build())
    }

    @Test func truncationAnywhereIsAnErrorNeverACrash() throws {
        let whole = try Fixtures.bytes(Fixtures.blockLinearReference + "/pytorch_model.bin")
        let dir = TemporaryDirectory()
        var lengths = Array(stride(from: 0, to: whole.count, by: 211))
        lengths += Array((whole.count - 300)..<whole.count)
        for n in lengths {
            let path = try dir.write("cut.bin", Array(whole[0..<n]))
            #expect(throws: BFFNError.self, "length \(n)") { _ = try TorchCheckpointFile(path: path) }
        }
    }
}
