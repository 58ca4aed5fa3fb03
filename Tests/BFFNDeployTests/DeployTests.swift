import BFFNCore
import BFFNDeploy
import BFFNEngine
import BFFNPack
import BFFNTestSupport
import BFFNVerify
import Testing

/// Pack options for tests: no benchmark.
func options(_ profile: DeviceProfile) -> PackOptions {
    var o = PackOptions(profile: profile)
    o.benchmark = false
    return o
}

func profile(_ name: String) -> DeviceProfile { DeviceProfile.builtIn.first { $0.name == name }! }

/// Verify options for re-checking a pack: no speculative run, short continuations.
func quickVerify() -> VerifyOptions {
    var v = VerifyOptions()
    v.drafter = .none
    v.maxNewTokens = 8
    return v
}

func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// The names in a folder (hidden ones included), sorted.
func entries(_ folder: String) -> [String] {
    (try? Directory.names(in: folder)) ?? []
}

@Suite("bffn pack")
struct DeployTests {
    @Test(arguments: Fixtures.allModels)
    func packsOfEveryFixtureVerifyAgainstTheirSource(_ folder: String) throws {
        let dir = TemporaryDirectory()
        // Lossless with hot-first experts: identical logits to the source.
        let cpu = try DevicePacker.pack(source: folder, output: dir.file("cpu.bfpk"), options: options(profile("cpu")))
        #expect(cpu.verification.passed && cpu.verification.quantization == .exact)
        let again = try Verifier.run(modelPath: dir.file("cpu.bfpk"), referencePath: folder, prompts: nil, options: quickVerify())
        #expect(again.passed && again.logits.maxAbsError == 0)
        // The device profiles: quantized, verified within the class thresholds.
        for name in ["orin-nx-16g", "phone-8g"] {
            let r = try DevicePacker.pack(source: folder, output: dir.file("\(name).bfpk"), options: options(profile(name)))
            #expect(r.verification.passed, "\(name): \(r.verification.failures)")
            // Dense vanilla FFNs are q8 on orin-nx-16g (no experts to store as q4).
            #expect(r.verification.quantization == (name == "orin-nx-16g" && folder.contains("vanilla") ? .q8 : .q4))
            #expect(try PackFile(path: dir.file("\(name).bfpk")).manifest["provenance"]?["deployment"]?["profile"]?["name"] == .string(name))
        }
        #expect(entries(dir.path) == ["cpu.bfpk", "orin-nx-16g.bfpk", "phone-8g.bfpk"], "no temporary file is left")
    }

    @Test func expertsAreStoredMostUsedFirstWithIdenticalLogits() throws {
        let dir = TemporaryDirectory()
        let folder = Fixtures.blockReference
        let r = try DevicePacker.pack(source: folder, output: dir.file("p.bfpk"), options: options(profile("cpu")))
        let pack = try PackFile(path: dir.file("p.bfpk"))
        let e = try #require(pack.experts)
        #expect(e.order == r.calibration.hotFirstOrder)
        #expect(e.order != (0..<e.layers).map { _ in Array(0..<e.count) }, "calibration should reorder some layer")
        for (l, order) in e.order.enumerated() {
            let counts = order.map { r.calibration.activations[l][$0] }
            #expect(counts == counts.sorted(by: >), "layer \(l) is hot-first")
            // Activation counts agree with the calibration's own token-level sparsity.
            let active = Double(r.calibration.activations[l].reduce(0, +)) / Double(r.calibration.tokens * e.count)
            #expect(abs((1 - active) - r.calibration.sparsity.layers[l].chunkSparsity[1]!) < 1e-12)
        }
        // The permuted pack gives the source's logits bit for bit.
        let v = try Verifier.run(modelPath: dir.file("p.bfpk"), referencePath: folder, prompts: nil, options: quickVerify())
        #expect(v.passed && v.quantization == .exact && v.logits.maxAbsError == 0)
    }

    @Test func aBudgetSplitsResidentAndStreamedExpertsWithoutChangingResults() throws {
        let dir = TemporaryDirectory()
        let folder = Fixtures.blockReference
        let full = try DevicePacker.pack(source: folder, output: dir.file("full.bfpk"), options: options(profile("cpu")))
        let fullPack = try PackFile(path: dir.file("full.bfpk"))
        let e = try #require(fullPack.experts)
        // Room for the dense section and 3 experts per layer.
        var p = profile("cpu")
        p.residentBudgetBytes = e.offset + UInt64(3 * e.layers) * e.blockBytes + 100
        let split = try DevicePacker.pack(source: folder, output: dir.file("split.bfpk"), options: options(p))
        #expect(split.residentExperts == 3 && full.residentExperts == e.count)
        #expect(split.residentBytes == e.offset + UInt64(3 * e.layers) * e.blockBytes)
        #expect(split.streamedBytes == UInt64((e.count - 3) * e.layers) * e.blockBytes)
        #expect(split.streamedBytesPerToken > 0 && split.streamedBytesPerToken < split.bytesPerToken)
        let pack = try PackFile(path: dir.file("split.bfpk"))
        try pack.verifyChecksums()
        let s = try #require(pack.experts)
        #expect(s.residentCount == 3 && s.order == e.order)
        // Same block contents, moved: the hot slots first for every layer, then the cold ones.
        #expect(s.blockOffset(layer: 1, slot: 0) == s.offset + 3 * s.blockBytes)
        #expect(s.blockOffset(layer: 0, slot: 3) == s.offset + UInt64(3 * s.layers) * s.blockBytes)
        #expect(s.blockCRCs == e.blockCRCs)
        let v = try Verifier.run(modelPath: dir.file("split.bfpk"), referencePath: folder, prompts: nil, options: quickVerify())
        #expect(v.passed && v.logits.maxAbsError == 0)
        // A budget below the dense weights is a clear error and writes nothing.
        p.residentBudgetBytes = e.offset - 1
        #expect(throws: BFFNError(.budgetExceeded, "")) { try DevicePacker.pack(source: folder, output: dir.file("none.bfpk"), options: options(p)) }
        #expect(!exists(dir.file("none.bfpk")))
    }

    @Test func attachmentsRoundTripAndPacksAreDeterministic() throws {
        let dir = TemporaryDirectory()
        let folder = Fixtures.blockLinearReference
        let tokenizer = try dir.write("tokenizer.json", text: "{\"model\": {\"vocab\": {\"a\": 0}}, \"note\": \"\\u00e9\"}\n")
        let generation = try dir.copy(Fixtures.blockReference + "/generation_config.json", as: "generation_config.json")
        var o = options(profile("orin-nx-16g"))
        o.attachments = [tokenizer, generation]
        _ = try DevicePacker.pack(source: folder, output: dir.file("a.bfpk"), options: o)
        _ = try DevicePacker.pack(source: folder, output: dir.file("b.bfpk"), options: o)
        let a = try Fixtures.bytes(dir.file("a.bfpk"))
        #expect(a == (try Fixtures.bytes(dir.file("b.bfpk"))), "same inputs, same bytes")
        let pack = try PackFile(path: dir.file("a.bfpk"))
        #expect(pack.attachments.map(\.name) == ["tokenizer.json", "generation_config.json"])
        for (attachment, original) in zip(pack.attachments, [tokenizer, generation]) {
            #expect(Array(a[Int(attachment.offset)..<Int(attachment.offset + attachment.bytes)]) == (try Fixtures.bytes(original)))
        }
        // An existing output is refused without overwrite.
        #expect(throws: BFFNError(.outputExists, "")) { try DevicePacker.pack(source: folder, output: dir.file("a.bfpk"), options: o) }
    }

    @Test func aPackThatFailsVerificationIsNotWritten() throws {
        let dir = TemporaryDirectory()
        var o = options(profile("orin-nx-16g"))
        o.maxMeanKLD = 1e-12
        #expect(throws: BFFNError(.verificationFailed, "")) {
            try DevicePacker.pack(source: Fixtures.blockReference, output: dir.file("x.bfpk"), options: o)
        }
        #expect(entries(dir.path).isEmpty, "neither the output nor a temporary file is left")
    }

    @Test func profilesParseAndRefuseMistakes() throws {
        for p in DeviceProfile.builtIn {
            #expect(try DeviceProfile(json: p.json, path: "x") == p, "\(p.name) round-trips through JSON")
            #expect(try DeviceProfile.named(p.name) == p)
        }
        let dir = TemporaryDirectory()
        let good = try dir.write("dev.json", text: """
            {"name": "dev", "quantization": {"experts": "q8", "attention": "bf16"}, "alignment": 8192,
             "resident_budget_bytes": 1000000, "bandwidth_gb_per_s": 12.5, "max_chunk_tokens": 16}
            """)
        let p = try DeviceProfile.named(good)
        #expect(p.quantization == ["experts": "q8", "attention": "bf16"] && p.alignment == 8192 && p.residentBudgetBytes == 1_000_000)
        #expect(p.bandwidthBytesPerSecond == 12.5e9 && p.maxChunkTokens == 16 && p.q4GroupSize == 32)
        for (text, key) in [("{\"name\": \"x\", \"bandwidth_gb_per_s\": 1, \"aligment\": 4096}", "aligment"),
                            ("{\"name\": \"x\", \"bandwidth_gb_per_s\": 1, \"quantization\": {\"experts\": \"q3\"}}", "quantization.experts"),
                            ("{\"name\": \"x\", \"bandwidth_gb_per_s\": 1, \"alignment\": 3000}", "alignment"),
                            ("{\"name\": \"x\"}", "bandwidth_gb_per_s"),
                            ("{\"name\": \"x\", \"bandwidth_gb_per_s\": 1, \"max_chunk_tokens\": 65}", "max_chunk_tokens"),
                            ("{\"name\": \"x\", \"bandwidth_gb_per_s\": 1, \"cpu\": {\"architecture\": \"riscv64\"}}", "cpu.architecture"),
                            ("{\"name\": \"x\", \"bandwidth_gb_per_s\": 1, \"cpu\": {\"architecture\": \"aarch64\", \"features\": [\"avx2\"]}}", "cpu.features"),
                            ("{\"name\": \"x\", \"bandwidth_gb_per_s\": 1, \"cpu\": {\"architecture\": \"aarch64\", \"feature\": []}}", "cpu.feature")] {
            let path = try dir.write("bad.json", text: text)
            do {
                _ = try DeviceProfile.named(path)
                Issue.record("accepted \(text)")
            } catch let e as BFFNError {
                #expect(e.location.field == key && e.location.file == path, "\(e)")
            }
        }
        #expect(throws: BFFNError(.usage, "")) { try DeviceProfile.named("toaster") }
    }

    /// The kernel paths a profile's CPU takes, in the dispatch's order of preference, and the ARM built-ins'.
    @Test func profileCPUsNameTheirKernelPaths() throws {
        func paths(_ arch: String, _ features: [String]) throws -> String {
            let c = try DeviceCPU(architecture: arch, features: features)
            return c.integerProductPath + "/" + c.bf16ProductPath
        }
        #expect(try paths("aarch64", []) == "neon/neon")
        #expect(try paths("aarch64", ["dotprod"]) == "neon-dotprod/neon")
        #expect(try paths("aarch64", ["i8mm", "dotprod", "i8mm"]) == "neon-i8mm/neon")
        #expect(try paths("aarch64", ["i8mm"]) == "neon/neon", "SMMLA is only used beside the dot product")
        #expect(try paths("x86_64", []) == "portable/emulated")
        #expect(try paths("x86_64", ["avx2"]) == "avx2/emulated")
        #expect(try paths("x86_64", ["avx2", "avx-vnni"]) == "avx-vnni/emulated")
        #expect(try paths("x86_64", ["avx2", "avx512-vnni", "avx512-bf16"]) == "avx512-vnni/avx512-bf16")
        #expect(try DeviceProfile.named("orin-nx-16g").cpu?.integerProductPath == "neon-dotprod")
        #expect(try DeviceProfile.named("cpu").cpu == nil)
        let json = try JSONValue.parse(#"{"name": "board", "bandwidth_gb_per_s": 4, "cpu": {"architecture": "aarch64", "features": []}}"#)
        let board = try DeviceProfile(json: json, path: "board.json")
        #expect(board.cpu?.kernelSummary == "aarch64: int8 products neon (no dot product: widening multiplies), bf16 products neon")
        #expect(try DeviceProfile(json: board.json, path: "x") == board)
    }

    @Test func calibrationSplitsHeldBackSequences() {
        let seqs = (0..<8).map { [$0] }
        let (c, h) = DevicePacker.split(seqs)
        #expect(h == [[3], [7]] && c.count == 6)
        #expect(DevicePacker.split([[1], [2]]) == ([[1]], [[2]]))
        #expect(DevicePacker.split([[1]]) == ([[1]], [[1]]))
        let builtIn = DevicePacker.builtInCalibration(vocabularySize: 96)
        #expect(builtIn.count == 8 && builtIn.allSatisfy { $0.count == 64 && $0.allSatisfy { $0 < 96 } })
    }
}
