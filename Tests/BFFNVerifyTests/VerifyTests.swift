import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNModel
import BFFNPack
import BFFNSafetensors
import BFFNSpeculative
import BFFNTestSupport
import BFFNVerify
import Testing

/// Verify options for tests: short continuations, a chain of 4 draft tokens by prompt lookup.
func testOptions(_ drafter: DrafterChoice = .ngram) -> VerifyOptions {
    var o = VerifyOptions()
    o.maxNewTokens = 12
    o.drafter = drafter
    o.draftShape = try! .chain(4)
    return o
}

/// Converts `folder` into `dir` with `quant` and returns the pack's path.
func pack(_ folder: String, _ dir: TemporaryDirectory, _ quant: StorageType?, name: String) throws -> String {
    var o = ConvertOptions()
    o.quant = quant
    let out = dir.file(name)
    _ = try PackWriter.convert(source: folder, to: out, options: o)
    return out
}

@Suite("bffn verify")
struct VerifyTests {
    @Test(arguments: Fixtures.allModels)
    func everyFixturePassesAgainstItsReferenceFile(_ folder: String) throws {
        let r = try Verifier.run(modelPath: folder, referencePath: folder + "/reference.safetensors", prompts: nil, options: testOptions())
        #expect(r.passed, "\(r.failures)")
        #expect(r.quantization == .reference && r.referenceKind == "file")
        #expect(r.logits.maxAbsError < 1e-3 && r.logits.top1Agreement == 1)
        #expect(r.speculative?.lossless == true)
    }

    @Test(arguments: Fixtures.allModels)
    func conversionsVerifyAgainstTheirSource(_ folder: String) throws {
        let dir = TemporaryDirectory()
        let lossless = try Verifier.run(modelPath: try pack(folder, dir, nil, name: "x.bfpk"), referencePath: folder, prompts: nil, options: testOptions())
        #expect(lossless.passed, "\(lossless.failures)")
        #expect(lossless.quantization == .exact)
        #expect(lossless.logits.maxAbsError == 0 && lossless.logits.meanKLD == 0 && lossless.logits.nmseDB == nil)
        #expect(lossless.greedyMatch && lossless.firstDivergingLayer == nil && lossless.integrityChecked && lossless.integrityError == nil)
        #expect(lossless.hiddenRelativeError.allSatisfy { $0 == 0 })
        #expect(lossless.speculative?.lossless == true)
        for (quant, cls) in [(StorageType.q8(group: nil), QuantizationClass.q8), (.q4(group: 8, asymmetric: true), .q4)] {
            let r = try Verifier.run(modelPath: try pack(folder, dir, quant, name: "\(cls).bfpk"), referencePath: folder, prompts: nil, options: testOptions())
            #expect(r.passed, "\(cls): \(r.failures)")
            #expect(r.quantization == cls)
            #expect(r.logits.meanKLD > 0 && r.logits.meanKLD <= VerificationThresholds.defaults(for: cls).maxMeanKLD)
            #expect(r.speculative?.lossless == true)
        }
    }

    @Test func aDamagedExpertFailsAndIsLocated() throws {
        let dir = TemporaryDirectory()
        let folder = Fixtures.blockReference
        let good = try pack(folder, dir, nil, name: "good.bfpk")
        // The expert most often active in layer 1 on the default prompts.
        let engine = try Engine(weights: ModelWeights.open(path: good), options: EngineOptions(captureRouterScores: true))
        let E = engine.weights.architecture.numExperts
        var counts = [Int](repeating: 0, count: E)
        for p in Verifier.defaultPrompts(vocabularySize: engine.weights.architecture.vocabSize) {
            engine.reset()
            let s = try engine.forward(p).routerScores[1]
            for i in 0..<s.count where s[i] != 0 { counts[i % E] += 1 }
        }
        let slot = counts.indices.max { counts[$0] < counts[$1] }!
        let info = try PackFile(path: good)
        let block = Int(info.experts!.blockOffset(layer: 1, slot: slot))
        let expert = info.experts!.order[1][slot]
        var bytes = try Fixtures.bytes(good)
        for i in stride(from: 0, to: 64, by: 2) { bytes[block + i + 1] ^= 0x01 } // halve or double 32 bf16 up weights
        let bad = try dir.write("bad.bfpk", bytes)
        let r = try Verifier.run(modelPath: bad, referencePath: folder, prompts: nil, options: testOptions())
        #expect(!r.passed)
        #expect(r.firstDivergingLayer == 1, "\(r.hiddenRelativeError)")
        #expect(r.hiddenRelativeError[0] == 0 && r.hiddenRelativeError[1] > 0)
        #expect(r.integrityError?.contains("layer 1 expert \(expert)") == true, "\(r.integrityError ?? "no integrity error")")
        #expect(r.failures.contains { $0.contains("first diverge at layer 1") })
        // Infinite weights: the logits are not finite, which fails too.
        for i in stride(from: 0, to: 64, by: 2) { bytes[block + i + 1] = 0x7F; bytes[block + i] = 0x80 }
        let broken = try Verifier.run(modelPath: try dir.write("inf.bfpk", bytes), referencePath: folder, prompts: nil, options: testOptions(.none))
        #expect(!broken.passed && broken.logits.nonFinite > 0 && broken.firstDivergingLayer == 1)
    }

    @Test(arguments: Fixtures.allModels.filter { !$0.contains("vanilla") })
    func sparsityMatchesTheNumpyFigures(_ folder: String) throws {
        let expected = try MappedFile(path: folder + "/expected-sparsity.json").withBytes { try JSONValue.parse($0, file: folder) }
        let r = try Verifier.run(modelPath: folder, referencePath: folder + "/reference.safetensors", prompts: nil, options: testOptions(.none))
        let s = try #require(r.sparsity)
        #expect(s.tokens == Int(expected["tokens"]!.intValue!))
        func close(_ a: Double?, _ b: JSONValue?, _ what: String) {
            #expect(abs((a ?? -1) - (b?.numberValue ?? -2)) < 1e-9, "\(what): \(a ?? -1) vs \(b?.numberValue ?? -2)")
        }
        func distribution(_ d: SparsityStatistics.Distribution, _ j: JSONValue?, _ what: String) {
            close(d.min, j?["min"], what + " min"); close(d.p10, j?["p10"], what + " p10"); close(d.median, j?["median"], what + " median")
            close(d.p90, j?["p90"], what + " p90"); close(d.max, j?["max"], what + " max")
        }
        for (l, layer) in (expected["layers"]?.arrayElements ?? []).enumerated() {
            for L in SparsityStatistics.chunkLengths { close(s.layers[l].chunkSparsity[L], layer["cls"]?[String(L)] ?? .double(-1), "layer \(l) CLS\(L)") }
            distribution(s.layers[l].activeExperts, layer["active_experts"], "layer \(l) active")
            close(s.layers[l].reuseRatio, layer["reuse_ratio"], "layer \(l) reuse")
        }
        let overall = expected["overall"]!
        for L in SparsityStatistics.chunkLengths where s.overall[L] != nil { close(s.overall[L], overall["cls"]?[String(L)], "CLS\(L)") }
        distribution(s.activeExperts, overall["active_experts"], "overall active")
        close(s.reuseRatio, overall["reuse_ratio"], "overall reuse")
    }

    @Test func aDraftModelOfItselfIsAlwaysAccepted() throws {
        let folder = Fixtures.blockLinearReference
        var o = testOptions(.model(folder))
        o.draftShape = try .tree(width: 2, depth: 3)
        let r = try Verifier.run(modelPath: folder, referencePath: folder, prompts: [[1, 2, 3, 4]], options: o)
        #expect(r.passed && r.quantization == .exact)
        let s = try #require(r.speculative)
        #expect(s.lossless && s.meanAcceptLength == 4, "every step accepts its 3 drafts and adds a bonus token")
    }

    @Test func referenceFileProblemsAreNamed() throws {
        let dir = TemporaryDirectory()
        let folder = Fixtures.blockReference
        #expect(throws: BFFNError(.usage, "")) {
            try Verifier.run(modelPath: folder, referencePath: folder + "/reference.safetensors", prompts: [[1, 2]], options: testOptions())
        }
        // Logits of the wrong width: the other reference's file against this model.
        #expect(throws: BFFNError(.shapeMismatch, "")) {
            try Verifier.run(modelPath: folder, referencePath: Fixtures.blockLinearReference + "/reference.safetensors", prompts: nil, options: testOptions())
        }
        // A truncated reference file names the file.
        let bytes = try Fixtures.bytes(folder + "/reference.safetensors")
        let cut = try dir.write("cut.safetensors", Array(bytes.prefix(bytes.count - 100)))
        do {
            _ = try ReferenceFile(path: cut)
            Issue.record("a truncated reference was accepted")
        } catch let e as BFFNError {
            #expect(e.location.file == cut)
        }
        #expect(throws: BFFNError.self) { try DrafterChoice.parse("draft:") }
        #expect(try DrafterChoice.parse("draft:x.bfpk") == .model("x.bfpk"))
    }

    /// A batched reference (three prompts written at once by the numpy forward pass) verifies prompt by prompt;
    /// a wrong second prompt is caught, and tensors of different batch sizes are refused.
    @Test func batchedReferenceFilesVerifyEveryPrompt() throws {
        let folder = Fixtures.path("engine/gqa-blocklinear-rms-f32"), path = folder + "/reference-batched.safetensors"
        let file = try ReferenceFile(path: path)
        #expect(file.prompts.count == 3 && file.prompts.allSatisfy { $0.inputIds.count == 16 && $0.greedyIds.count == 6 && $0.routers.count == 2 })
        #expect(file.prompts[0].inputIds != file.prompts[1].inputIds)
        let r = try Verifier.run(modelPath: folder, referencePath: path, prompts: nil, options: testOptions())
        #expect(r.passed && r.prompts.count == 3 && r.logits.maxAbsError < 1e-5 && r.routerJaccard == 1, "\(r.failures)")
        // The same file with prompt 2's logits taken from prompt 3: prompt 2 no longer matches.
        let dir = TemporaryDirectory()
        let st = try SafetensorsFile(path: path)
        let logits = try #require(st.entry(named: "logits"))
        var bytes = try Fixtures.bytes(path)
        let rowBytes = 16 * file.vocabularySize * 4, start = Int(st.dataStart + logits.dataOffsets.lowerBound)
        bytes.replaceSubrange((start + rowBytes)..<(start + 2 * rowBytes), with: bytes[(start + 2 * rowBytes)..<(start + 3 * rowBytes)])
        let swapped = try dir.write("swapped.safetensors", bytes)
        let bad = try Verifier.run(modelPath: folder, referencePath: swapped, prompts: nil, options: testOptions())
        #expect(!bad.passed && bad.prompts[0].logits.maxAbsError < 1e-5 && bad.prompts[1].logits.maxAbsError > 0.1)
        // greedy_ids for 2 prompts beside input_ids for 3.
        let ids = try #require(st.entry(named: "input_ids"))
        let mixed = try dir.write("mixed.safetensors", try SafetensorsWriter.image([
            .init(name: "input_ids", dtype: .i64, shape: ids.shape, bytes: Array(st.bytes(of: ids))),
            .init(name: "logits", dtype: .f32, shape: logits.shape, bytes: Array(st.bytes(of: logits))),
            .init(name: "greedy_ids", dtype: .i64, shape: [2, 1], bytes: [UInt8](repeating: 0, count: 16)),
        ]))
        #expect(throws: BFFNError(.shapeMismatch, "")) { _ = try ReferenceFile(path: mixed) }
    }

    @Test func logitComparisonFigures() {
        var c = LogitComparison()
        c.add(reference: [0, 0, 0, 0, 0, 0], model: [0, 0, 0, 0, 0, 0])
        #expect(c.meanKLD == 0 && c.maxAbsError == 0 && c.nmseDB == nil && c.top1Agreement == 1)
        var d = LogitComparison()
        // p = softmax(log 0.5, log 0.25, log 0.25), q = uniform over 3: KL = 0.5 ln 1.5 + 2 · 0.25 ln 0.75.
        d.add(reference: [log(0.5), log(0.25), log(0.25)], model: [0, 0, 0])
        #expect(abs(d.meanKLD - (0.5 * log(1.5) + 0.5 * log(0.75))) < 1e-7)
        #expect(d.top1Agreement == 1) // ties go to the lowest id: 0 on both sides
        var e = LogitComparison()
        e.add(reference: [1, 2, 3, 4, 5, 6], model: [1, 2, 3, 4, 6, 5])
        #expect(e.top1Agreement == 0 && e.top5Overlap == 1 && e.maxAbsError == 1)
        #expect(abs(e.nmseDB! - 10 * log10(2.0 / 91)) < 1e-9)
    }
}
