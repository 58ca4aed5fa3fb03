import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNModel
import BFFNPack
import BFFNSafetensors
import BFFNSynth
import BFFNTestSupport
import Testing

/// Every checkpoint fixture: the two published references and the numpy-reference fixtures.
let allFixtures: [String] = [Fixtures.blockReference, Fixtures.blockLinearReference] + [
    "gqa-blocklinear-rms-f32", "mha-block-sum-f16", "gqa-fastmoe-none-bf16", "mla-megablocks-rms-bf16", "mla-bmt-rms-bf16",
    "gqa-blocklinear-tied-linearrope-bf16", "mla-blocklinear-sharded-bin-f16", "mha-block-rms-sharded-bf16",
    "gqa-dynamicrope-blocklinear-f32", "gqa-vanilla-dense-f32",
].map { Fixtures.path("engine/\($0)") }

/// input_ids of a fixture's reference file.
func promptIds(_ folder: String) throws -> [Int] {
    let f = try SafetensorsFile(path: folder + "/reference.safetensors")
    let e = try #require(f.entry(named: "input_ids"))
    return f.file.withBytes { _ in f.bytes(of: e).withMemoryRebound(to: Int64.self) { $0.map { Int($0) } } }
}

/// A synthetic tiny model (32-wide experts, so groups of 32 apply) and a workload prompt.
func tinyModel(_ dir: TemporaryDirectory, dtype: DType) throws -> (String, [Int]) {
    var o = SynthOptions(preset: SynthPreset.all["tiny"]!)
    o.dtype = dtype
    _ = try SyntheticCheckpoint.write(o, to: dir.file("tiny"), overwrite: true)
    return (dir.file("tiny"), SyntheticCheckpoint.workload(o).sequence(length: 32, index: 5))
}

@Suite("packed format")
struct PackTests {
    @Test(arguments: allFixtures)
    func aPackInTheSourceDtypeGivesBitIdenticalLogits(_ folder: String) throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.alignment = 256
        let report = try PackWriter.convert(source: folder, to: dir.file("m.bfpk"), options: o)
        #expect(report.classes.allSatisfy { $0.stats.snrDB == nil && $0.stats.maxAbs == 0 })
        let pack = try PackFile(path: dir.file("m.bfpk"))
        try pack.verifyChecksums()
        let prompt = try promptIds(folder)
        let source = try Engine(weights: ModelWeights(checkpoint: Checkpoint(path: folder)))
        let packed = try Engine(weights: ModelWeights(pack: pack))
        #expect(try packed.forward(prompt).logits.map(\.bitPattern) == source.forward(prompt).logits.map(\.bitPattern))
    }

    @Test func deterministicAtomicAndRefusesToOverwrite() throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.attachments = [Fixtures.blockReference + "/generation_config.json"]
        _ = try PackWriter.convert(source: Fixtures.blockReference, to: dir.file("a.bfpk"), options: o)
        _ = try PackWriter.convert(source: Fixtures.blockReference, to: dir.file("b.bfpk"), options: o)
        #expect(try Fixtures.bytes(dir.file("a.bfpk")) == Fixtures.bytes(dir.file("b.bfpk")))
        #expect(throws: BFFNError(.outputExists, "")) { try PackWriter.convert(source: Fixtures.blockReference, to: dir.file("a.bfpk"), options: o) }
        let pack = try PackFile(path: dir.file("a.bfpk"))
        let at = try #require(pack.attachments.first)
        #expect(at.name == "generation_config.json")
        #expect(pack.bytes(at: at.offset, count: at.bytes).contents == (try Fixtures.bytes(Fixtures.blockReference + "/generation_config.json")))
        // Every expert block starts on the alignment and holds one contiguous expert.
        let e = try #require(pack.experts)
        #expect(e.offset % 4096 == 0 && e.blockBytes % 4096 == 0 && e.blockBytes >= e.dataBytes)
    }

    @Test(arguments: [(StorageType.f32, "F32", 1000.0), (.f16, "F16", 60), (.bf16, "BF16", 40),
                      (.q8(group: nil), "Q8", 35), (.q8(group: 32), "Q8", 38), (.q4(group: 32, asymmetric: true), "Q4", 17),
                      (.q4(group: 32, asymmetric: false), "Q4", 14)])
    func schemesStayCloseAndReportTheirError(_ q: StorageType, _ name: String, _ minSNR: Double) throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.quant = q
        let (folder, prompt) = try tinyModel(dir, dtype: .f32)
        let r = try PackWriter.convert(source: folder, to: dir.file("m.bfpk"), options: o)
        let experts = try #require(r.classes.first { $0.tensorClass == .experts })
        #expect(experts.dtype == name)
        #expect((experts.stats.snrDB ?? 1000) >= minSNR, "SNR \(experts.stats.snrDB ?? 0)")
        #expect(r.classes.first { $0.tensorClass == .norms }?.dtype == "F32") // norms keep their source dtype
        try PackFile(path: dir.file("m.bfpk")).verifyChecksums()
        let a = try Engine(weights: ModelWeights(checkpoint: Checkpoint(path: folder))).forward(prompt)
        let b = try Engine(weights: ModelWeights(pack: PackFile(path: dir.file("m.bfpk")))).forward(prompt)
        let agree = (0..<prompt.count).filter { a.argmax(at: $0) == b.argmax(at: $0) }.count
        // Random synthetic weights give nearly flat logits, the hardest case for low-bit storage.
        let needed = name == "Q4" ? prompt.count / 2 : name == "Q8" ? prompt.count * 3 / 4 : prompt.count - 1
        #expect(agree >= needed, "top-1 agreement \(agree)/\(prompt.count)")
    }

    /// Quantized kernels keep batch invariance and sparse = dense (their dequantisation is one fixed formula).
    @Test(arguments: [StorageType.q8(group: 32), .q4(group: 32, asymmetric: true), .q3k, .q6k])
    func quantizedPacksAreBatchInvariant(_ q: StorageType) throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.quant = q
        let (folder, prompt) = try tinyModel(dir, dtype: .bf16)
        _ = try PackWriter.convert(source: folder, to: dir.file("q.bfpk"), options: o)
        let full = try Engine(weights: ModelWeights(pack: PackFile(path: dir.file("q.bfpk"))), options: EngineOptions(ffnMode: .dense)).forward(prompt).logits
        for (chunk, threads) in [(1, 1), (7, 2)] {
            let e = try Engine(weights: ModelWeights(pack: PackFile(path: dir.file("q.bfpk"))), options: EngineOptions(threads: threads))
            var got: [Float] = []
            var i = 0
            while i < prompt.count { got += try e.forward(Array(prompt[i..<min(prompt.count, i + chunk)])).logits; i += chunk }
            #expect(got.map(\.bitPattern) == full.map(\.bitPattern), "chunk \(chunk)")
        }
    }

    /// A permuted expert order (as `bffn pack` writes) gives bit-identical logits and exports the source bytes.
    @Test(arguments: [Fixtures.blockLinearReference, Fixtures.path("engine/mha-block-sum-f16")])
    func permutedExpertsGiveIdenticalLogits(_ folder: String) throws {
        let dir = TemporaryDirectory()
        let a = try Checkpoint(path: folder).recognize().architecture
        var o = ConvertOptions()
        o.expertOrder = (0..<a.numLayers).map { l in (0..<a.numExperts).map { (a.numExperts - 1 - $0 + l) % a.numExperts } }
        _ = try PackWriter.convert(source: folder, to: dir.file("p.bfpk"), options: o)
        let pack = try PackFile(path: dir.file("p.bfpk"))
        #expect(pack.experts?.order == o.expertOrder)
        let prompt = try promptIds(folder)
        let source = try Engine(weights: ModelWeights(checkpoint: Checkpoint(path: folder))).forward(prompt)
        let packed = try Engine(weights: ModelWeights(pack: pack), options: EngineOptions(captureRouterScores: true)).forward(prompt)
        #expect(packed.logits.map(\.bitPattern) == source.logits.map(\.bitPattern))
        try PackExporter.export(pack, to: dir.file("out"), layout: a.ffnLayout == .block ? .block : .blockLinear, overwrite: false)
        let src = try Checkpoint(path: folder), exported = try Checkpoint(path: dir.file("out"))
        for t in src.tensors {
            #expect(try src.bytes(of: t).contents == exported.bytes(of: exported.tensor(named: t.name)!).contents, "\(t.name)")
        }
        #expect(throws: BFFNError(.usage, "")) {
            var bad = ConvertOptions()
            bad.expertOrder = [[0, 0]]
            _ = try PackWriter.convert(source: folder, to: dir.file("bad.bfpk"), options: bad)
        }
    }

    @Test func theOutputDoesNotDependOnThreads() throws {
        let dir = TemporaryDirectory()
        let (folder, _) = try tinyModel(dir, dtype: .bf16)
        var o = ConvertOptions()
        o.quant = .q4(group: 32, asymmetric: true)
        o.threads = 1
        _ = try PackWriter.convert(source: folder, to: dir.file("a.bfpk"), options: o)
        o.threads = 2
        _ = try PackWriter.convert(source: folder, to: dir.file("b.bfpk"), options: o)
        #expect(try Fixtures.bytes(dir.file("a.bfpk")) == Fixtures.bytes(dir.file("b.bfpk")))
    }

    /// A checkpoint without config.json whose lm_head differs from its embedding: the head would be taken as
    /// tied and dropped, so the conversion refuses and names it; with the head a copy of the embedding (what the
    /// published converter writes for tied heads) nothing is lost and it converts.
    @Test func nothingTheSourceHoldsIsSilentlyDropped() throws {
        let dir = TemporaryDirectory()
        let source = try SafetensorsFile(path: Fixtures.blockReference + "/model.safetensors")
        var tensors = source.entries.map { e in SafetensorsWriter.Tensor(name: e.name, dtype: e.dtype, shape: e.shape, bytes: Array(source.bytes(of: e))) }
        _ = dir.makeFolder("m")   // no config.json in it
        try SafetensorsWriter.write(tensors, to: dir.file("m/model.safetensors"))
        do {
            _ = try PackWriter.convert(source: dir.file("m"), to: dir.file("m.bfpk"), options: ConvertOptions())
            Issue.record("the differing lm_head was dropped without an error")
        } catch let e as BFFNError {
            #expect(e.code == .unsupported && e.location.field == "lm_head.weight" && e.reason.contains("tie_word_embeddings"), "\(e)")
        }
        #expect(access(dir.file("m.bfpk"), F_OK) != 0)
        // The head replaced by a copy of the embedding: tied, nothing lost.
        let embedding = try #require(tensors.first { $0.name == "model.embed_tokens.weight" })
        if let i = tensors.firstIndex(where: { $0.name == "lm_head.weight" }) { tensors[i] = .init(name: "lm_head.weight", dtype: embedding.dtype, shape: embedding.shape, bytes: embedding.bytes) }
        try SafetensorsWriter.write(tensors, to: dir.file("m/model.safetensors"), overwrite: true)
        _ = try PackWriter.convert(source: dir.file("m"), to: dir.file("m.bfpk"), options: ConvertOptions())
        // Any other tensor the architecture does not read is refused too.
        tensors.append(.init(name: "model.layers.0.self_attn.rotary_emb.inv_freq", dtype: .f32, shape: [2], bytes: [UInt8](repeating: 0, count: 8)))
        try SafetensorsWriter.write(tensors, to: dir.file("m/model.safetensors"), overwrite: true)
        #expect(throws: BFFNError(.unsupported, "")) { _ = try PackWriter.convert(source: dir.file("m"), to: dir.file("x.bfpk"), options: ConvertOptions()) }
    }

    @Test func aGroupThatDoesNotDivideARowIsAnErrorWithStrictGroups() throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.quant = .q4(group: 64, asymmetric: true)   // the fixture's experts are 8 wide
        o.strictGroups = true
        #expect(throws: BFFNError(.unsupported, "")) { _ = try PackWriter.convert(source: Fixtures.blockLinearReference, to: dir.file("m.bfpk"), options: o) }
        #expect(throws: BFFNError.self) { _ = try MappedFile(path: dir.file("m.bfpk")) }   // nothing left behind
    }

    /// Without --strict-groups, a tensor whose rows the group does not divide gets the largest supported group
    /// (no larger than asked) that divides them; the report and the manifest list it; the pack runs.
    @Test func groupsAreFittedPerTensorAndListed() throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.overrides = [try StorageOverride(.experts, .q4(group: 64, asymmetric: true))]   // up rows of 64: fit; down rows of 8: groups of 8
        let r = try PackWriter.convert(source: Fixtures.blockLinearReference, to: dir.file("m.bfpk"), options: o)
        #expect(r.fitted == [PackLayout.FittedGroup(name: "experts.down", requested: .q4(group: 64, asymmetric: true),
                                                    stored: .q4(group: 8, asymmetric: true))])
        let pack = try PackFile(path: dir.file("m.bfpk"))
        #expect(pack.experts?.upStorage == .q4(group: 64, asymmetric: true) && pack.experts?.downStorage == .q4(group: 8, asymmetric: true))
        let listed = try #require(pack.manifest["quantization"]?["fitted"]?.arrayElements)
        #expect(listed == [.object([("name", "experts.down"), ("requested", "q4/g64/asym"), ("stored", "q4/g8/asym")])])
        try pack.verifyChecksums()
        // Rules: the largest supported group no larger than asked; q4 with none becomes q8 per row; rows that
        // are not a multiple of 8 keep the source dtype.
        #expect(PackLayout.fittedStorage(.q4(group: 128, asymmetric: false), cols: 96, source: .bf16) == .q4(group: 32, asymmetric: false))
        #expect(PackLayout.fittedStorage(.q8(group: 64), cols: 40, source: .bf16) == .q8(group: 8))
        #expect(PackLayout.fittedStorage(.q4(group: 32, asymmetric: true), cols: 12, source: .bf16) == .bf16)
        #expect(PackLayout.fittedStorage(.q4(group: 8, asymmetric: true), cols: 4, source: .f16) == .f16)
        let engine = try Engine(weights: ModelWeights(pack: pack))
        #expect(engine.weights.layers[0].experts?.down.first?.type == .q4(group: 8, asymmetric: true))
        #expect(try engine.forward([1, 2, 3]).logits.allSatisfy(\.isFinite))
    }

    @Test func damageIsFoundAndNamed() throws {
        let dir = TemporaryDirectory()
        _ = try PackWriter.convert(source: Fixtures.blockLinearReference, to: dir.file("m.bfpk"), options: ConvertOptions())
        let good = try Fixtures.bytes(dir.file("m.bfpk"))
        let pack = try PackFile(path: dir.file("m.bfpk"))
        let e = try #require(pack.experts)
        // A flipped byte inside layer 1, slot 3's block: found by --check, named by layer, expert and offset.
        var bad = good
        let off = Int(e.blockOffset(layer: 1, slot: 3)) + 100
        bad[off] ^= 0x01
        try dir.write("b.bfpk", bad)
        do {
            try PackFile(path: dir.file("b.bfpk")).verifyChecksums()
            Issue.record("no error")
        } catch let err as BFFNError {
            #expect(err.code == .checksumMismatch && err.location.field == "layer 1 expert 3")
            #expect(err.location.offset == e.blockOffset(layer: 1, slot: 3))
        }
        // Header, manifest and truncation.
        for (what, mutate, code) in [("header", { (b: inout [UInt8]) in b[20] ^= 1 }, BFFNError.Code.checksumMismatch),
                                     ("manifest", { (b: inout [UInt8]) in b[b.count - 10] ^= 1 }, .checksumMismatch),
                                     ("magic", { (b: inout [UInt8]) in b[0] = 0 }, .malformed)] {
            var b = good
            mutate(&b)
            try dir.write("x.bfpk", b)
            #expect(throws: BFFNError(code, ""), "\(what)") { _ = try PackFile(path: dir.file("x.bfpk")) }
        }
        for n in [0, 10, 63, 64, 5000, good.count - 1] {
            try dir.write("t.bfpk", Array(good[0..<n]))
            #expect(throws: BFFNError.self, "length \(n)") { _ = try PackFile(path: dir.file("t.bfpk")) }
        }
    }
}

@Suite("export")
struct ExportTests {
    /// Sources with the published HF names and their layout: checkpoint -> pack -> export is byte-exact.
    @Test(arguments: [(Fixtures.blockLinearReference, PackExporter.Layout.blockLinear), (Fixtures.blockReference, .block),
                      (Fixtures.path("engine/gqa-blocklinear-rms-f32"), .blockLinear), (Fixtures.path("engine/mha-block-sum-f16"), .block),
                      (Fixtures.path("engine/mla-blocklinear-sharded-bin-f16"), .blockLinear), (Fixtures.path("engine/gqa-vanilla-dense-f32"), .blockLinear),
                      (Fixtures.path("engine/gqa-blocklinear-tied-linearrope-bf16"), .blockLinear)])
    func roundTripIsByteExact(_ folder: String, _ layout: PackExporter.Layout) throws {
        let dir = TemporaryDirectory()
        _ = try PackWriter.convert(source: folder, to: dir.file("m.bfpk"), options: ConvertOptions())
        try PackExporter.export(PackFile(path: dir.file("m.bfpk")), to: dir.file("out"), layout: layout, overwrite: false)
        let source = try Checkpoint(path: folder), exported = try Checkpoint(path: dir.file("out"))
        #expect(Set(source.tensors.map(\.name)) == Set(exported.tensors.map(\.name)))
        for t in source.tensors {
            let u = try #require(exported.tensor(named: t.name))
            #expect(u.dtype == t.dtype && u.shape == t.shape, "\(t.name)")
            #expect(try source.bytes(of: t).contents == exported.bytes(of: u).contents, "\(t.name)")
        }
        #expect(try exported.recognize().architecture.ffnLayout.rawValue == (try source.recognize().architecture.ffnLayout.rawValue))
    }

    /// Other layouts export to the published names and run to the same logits.
    @Test(arguments: ["mla-megablocks-rms-bf16", "mla-bmt-rms-bf16", "gqa-fastmoe-none-bf16"])
    func otherLayoutsExportToPublishedNames(_ name: String) throws {
        let dir = TemporaryDirectory()
        let folder = Fixtures.path("engine/\(name)")
        _ = try PackWriter.convert(source: folder, to: dir.file("m.bfpk"), options: ConvertOptions())
        try PackExporter.export(PackFile(path: dir.file("m.bfpk")), to: dir.file("out"), layout: .blockLinear, overwrite: false)
        #expect(try Checkpoint(path: dir.file("out")).recognize().architecture.ffnLayout == .blockLinear)
        let prompt = try promptIds(folder)
        let a = try Engine(weights: ModelWeights(checkpoint: Checkpoint(path: folder))).forward(prompt).logits
        let b = try Engine(weights: ModelWeights(checkpoint: Checkpoint(path: dir.file("out")))).forward(prompt).logits
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
    }
}

@Suite("quantizer")
struct QuantizerTests {
    /// What the encoder says the kernels will read is exactly what every loader reads.
    @Test(arguments: [StorageType.q8(group: 32), .q8(group: 96), .q4(group: 32, asymmetric: true), .q4(group: 64, asymmetric: false),
                      .bf16, .f16])
    func decodedValuesMatchTheLoaders(_ t: StorageType) {
        let values = SeededValues.floats(192, seed: 12345, scale: 3)
        let (bytes, decoded) = WeightQuantizer.encode(values, as: t)
        #expect(bytes.count == t.rowBytes(cols: 192))
        let m = bytes.withUnsafeBytes { b in
            WeightMatrix(base: b.baseAddress!, type: t, rows: 1, cols: 192).rowValues(0)
        }
        #expect(m.map(\.bitPattern) == decoded.map(\.bitPattern))
        let single = bytes.withUnsafeBytes { b in (0..<192).map { WeightMatrix(base: b.baseAddress!, type: t, rows: 1, cols: 192).element(0, $0) } }
        #expect(single.map(\.bitPattern) == decoded.map(\.bitPattern))
        let worst = zip(values, decoded).map { abs($0 - $1) }.max()!
        #expect(worst < (t.isFloat ? 0.01 : 0.5))
    }
}

@Suite("lying manifests")
struct LyingManifestTests {
    /// Rewrites a pack's manifest with `edit` and fixes the header (length, CRCs), so only the lie remains.
    func rewrite(_ good: [UInt8], _ edit: (inout [JSONMember]) -> Void) throws -> [UInt8] {
        let header = try good.withUnsafeBytes { try PackHeader.parse($0, path: "x") }
        let text = Array(good[Int(header.manifestOffset)...])
        var manifest = try text.withUnsafeBytes { try JSONValue.parse($0) }
        guard case .object(var members) = manifest else { return good }
        edit(&members)
        manifest = .object(members)
        let bytes = Array(manifest.serialized(pretty: false).utf8)
        var out = Array(good[0..<Int(header.manifestOffset)]) + bytes
        let h = PackHeader(manifestOffset: header.manifestOffset, manifestLength: UInt64(bytes.count),
                           manifestCRC: CRC32.checksum(bytes), alignment: header.alignment, fileLength: UInt64(out.count))
        out.replaceSubrange(0..<64, with: h.bytes)
        return out
    }

    func editTensor(_ members: inout [JSONMember], _ index: Int, _ key: String, _ value: JSONValue) {
        guard let i = members.firstIndex(where: { $0.key == "tensors" }), case .array(var ts) = members[i].value,
              case .object(var t) = ts[index], let k = t.firstIndex(where: { $0.key == key }) else { return }
        t[k].value = value
        ts[index] = .object(t)
        members[i].value = .array(ts)
    }

    /// Numbers no file should hold, where a parser might turn them into Swift integers unchecked: CRCs past
    /// 32 bits (a trap in an earlier version, found by coverage-guided fuzzing), sizes and offsets near 2^63,
    /// shapes whose product overflows. Each is an error naming the field; the process must not die.
    @Test func hostileNumbersAreErrorsNotTraps() throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.attachments = [Fixtures.blockLinearReference + "/config.json"]
        _ = try PackWriter.convert(source: Fixtures.blockLinearReference, to: dir.file("m.bfpk"), options: o)
        let good = try Fixtures.bytes(dir.file("m.bfpk"))
        func editExperts(_ m: inout [JSONMember], _ key: String, _ value: JSONValue) {
            guard let i = m.firstIndex(where: { $0.key == "experts" }), case .object(var x) = m[i].value,
                  let k = x.firstIndex(where: { $0.key == key }) else { return }
            x[k].value = value
            m[i].value = .object(x)
        }
        func editAttachment(_ m: inout [JSONMember], _ key: String, _ value: JSONValue) {
            guard let i = m.firstIndex(where: { $0.key == "attachments" }), case .array(var a) = m[i].value,
                  case .object(var first) = a[0], let k = first.firstIndex(where: { $0.key == key }) else { return }
            first[k].value = value
            a[0] = .object(first)
            m[i].value = .array(a)
        }
        let huge = JSONValue.integer(Int64.max), past32 = JSONValue.integer(Int64(UInt32.max) + 1)
        let cases: [(String, (inout [JSONMember]) -> Void)] = [
            ("tensor crc32 past 32 bits", { self.editTensor(&$0, 0, "crc32", past32) }),
            ("tensor crc32 Int64.max", { self.editTensor(&$0, 0, "crc32", huge) }),
            ("tensor bytes Int64.max", { self.editTensor(&$0, 0, "bytes", huge) }),
            ("tensor offset Int64.max", { self.editTensor(&$0, 0, "offset", huge) }),
            ("negative crc32", { self.editTensor(&$0, 0, "crc32", .integer(-1)) }),
            ("shape product overflows", { self.editTensor(&$0, 0, "shape", [2_000_000_000, 2_000_000_000, 2_000_000_000]) }),
            ("block CRC past 32 bits", { editExperts(&$0, "blocks", [[past32, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]) }),
            ("block_bytes Int64.max", { editExperts(&$0, "block_bytes", huge) }),
            ("expert offset Int64.max", { editExperts(&$0, "offset", huge) }),
            ("expert order past Int32", { editExperts(&$0, "order", [[huge, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]]) }),
            ("attachment offset and bytes Int64.max", { editAttachment(&$0, "offset", huge); editAttachment(&$0, "bytes", huge) }),
            ("attachment crc32 past 32 bits", { editAttachment(&$0, "crc32", past32) }),
        ]
        for (what, edit) in cases {
            let path = try dir.write("hostile.bfpk", try rewrite(good, edit))
            do {
                let pack = try PackFile(path: path)
                try pack.verifyChecksums()
                Issue.record("no error for \(what)")
            } catch let e as BFFNError {
                #expect(e.location.file == path && (e.location.field != nil || e.location.offset != nil), "\(what): \(e)")
            }
        }
    }

    @Test func offsetsAndSizesThatLieAreNamed() throws {
        let dir = TemporaryDirectory()
        _ = try PackWriter.convert(source: Fixtures.blockLinearReference, to: dir.file("m.bfpk"), options: ConvertOptions())
        let good = try Fixtures.bytes(dir.file("m.bfpk"))
        let first = try PackFile(path: dir.file("m.bfpk")).tensors
        let cases: [(String, (inout [JSONMember]) -> Void, BFFNError.Code)] = [
            ("offset past the data", { self.editTensor(&$0, 1, "offset", .integer(1 << 40)) }, .outOfBounds),
            ("overlapping tensors", { self.editTensor(&$0, 1, "offset", .integer(first[0].offset)) }, .badLayout),
            ("unaligned offset", { self.editTensor(&$0, 1, "offset", .integer(first[1].offset + 2)) }, .outOfBounds),
            ("bytes that disagree with the shape", { self.editTensor(&$0, 2, "bytes", .integer(first[2].bytes + 2)) }, .shapeMismatch),
            ("unknown storage type", { self.editTensor(&$0, 0, "dtype", "Q3") }, .unknownDType),
            ("missing experts geometry", { m in
                if let i = m.firstIndex(where: { $0.key == "experts" }) { m[i].value = .object([("dtype", "BF16")]) }
            }, .invalidJSON),
        ]
        for (what, edit, code) in cases {
            let path = try dir.write("lie.bfpk", try rewrite(good, edit))
            do {
                _ = try PackFile(path: path)
                Issue.record("no error for \(what)")
            } catch let e as BFFNError {
                #expect(e.code == code, "\(what): \(e)")
                #expect(e.location.offset != nil, "\(what): \(e)")
            }
        }
    }
}
