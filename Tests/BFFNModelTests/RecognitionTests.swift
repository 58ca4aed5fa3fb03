import BFFNCheckpoint
import BFFNModel
import BFFNCore
import BFFNSafetensors
import BFFNTestSupport
import Testing

/// A small synthetic model description for writing checkpoints in any layout.
struct TinyModel {
    var H = 16, L = 2, V = 24, E = 4, de = 8, nh = 2
    var qLora = 12, kvLora = 8, nope = 4, rope = 4

    /// Deterministic bf16 bytes for `count` elements.
    static func values(_ count: Int, seed: Int) -> [UInt8] {
        var out: [UInt8] = []
        for f in SeededValues.floats(count, seed: UInt32(truncatingIfNeeded: seed &* 2_654_435_761 &+ 1), scale: 0.2) {
            out.appendLE(ScalarConversion.floatToBF16(f))
        }
        return out
    }

    /// Tensors of an HF-named checkpoint with `layout` and `attention` ("mla" or "gqa").
    func tensors(layout: String, attention: String = "mla", routerNorm: Bool = true, head: Bool = true) -> [SafetensorsWriter.Tensor] {
        var out: [SafetensorsWriter.Tensor] = []
        func add(_ name: String, _ shape: [Int]) {
            out.append(.init(name: name, dtype: .bf16, shape: shape, bytes: TinyModel.values(shape.reduce(1, *), seed: out.count)))
        }
        add("model.embed_tokens.weight", [V, H])
        let vd = H / nh
        for l in 0..<L {
            let p = "model.layers.\(l)."
            add(p + "input_layernorm.weight", [H])
            if attention == "mla" {
                add(p + "self_attn.q_a_proj.weight", [qLora, H])
                add(p + "self_attn.q_a_layernorm.weight", [qLora])
                add(p + "self_attn.q_b_proj.weight", [nh * (nope + rope), qLora])
                add(p + "self_attn.kv_a_proj_with_mqa.weight", [kvLora + rope, H])
                add(p + "self_attn.kv_a_layernorm.weight", [kvLora])
                add(p + "self_attn.kv_b_proj.weight", [nh * (nope + vd), kvLora])
                add(p + "self_attn.o_proj.weight", [H, nh * vd])
            } else {
                add(p + "self_attn.q_proj.weight", [H, H])
                add(p + "self_attn.k_proj.weight", [H / 2, H])
                add(p + "self_attn.v_proj.weight", [H / 2, H])
                add(p + "self_attn.o_proj.weight", [H, H])
            }
            add(p + "post_attention_layernorm.weight", [H])
            switch layout {
            case "vanilla":
                add(p + "mlp.gate_proj.weight", [E * de, H]); add(p + "mlp.up_proj.weight", [E * de, H]); add(p + "mlp.down_proj.weight", [H, E * de])
            default:
                add(p + "mlp.router_proj.weight", [E, H])
                if routerNorm { add(p + "mlp.router_norm.weight", [E]) }
                switch layout {
                case "block_linear": add(p + "mlp.up_proj", [E * de, H]); add(p + "mlp.down_proj", [H, E * de])
                case "block": add(p + "mlp.up_proj", [E, de, H]); add(p + "mlp.down_proj", [E, H, de])
                case "fastmoe": add(p + "mlp.experts.up_proj.weight", [E, de, H]); add(p + "mlp.experts.down_proj.weight", [E, H, de])
                case "megablocks": add(p + "mlp.mlp.up_proj", [E * de, H]); add(p + "mlp.mlp.down_proj", [E * de, H])
                default: fatalError(layout)
                }
            }
        }
        add("model.norm.weight", [H])
        if head { add("lm_head.weight", [V, H]) }
        return out
    }

    /// Training-side (bmt) names for a block_linear MLA model.
    func bmtTensors() -> [SafetensorsWriter.Tensor] {
        tensors(layout: "block_linear").map { t in
            var t = t
            let map: [(String, String)] = [
                ("model.embed_tokens.weight", "input_embedding.weight"), ("model.norm.weight", "encoder.output_layernorm.weight"),
                ("model.layers.", "encoder.layers."), ("input_layernorm.weight", "self_att.layernorm_before_attention.weight"),
                ("post_attention_layernorm.weight", "ffn.layernorm_before_ffn.weight"),
                ("self_attn.q_a_proj", "self_att.self_attention.q_down_proj"), ("self_attn.q_a_layernorm", "self_att.self_attention.q_down_layernorm"),
                ("self_attn.q_b_proj", "self_att.self_attention.q_up_proj"), ("self_attn.kv_a_proj_with_mqa", "self_att.self_attention.kv_down_proj"),
                ("self_attn.kv_a_layernorm", "self_att.self_attention.kv_down_layernorm"), ("self_attn.kv_b_proj", "self_att.self_attention.kv_up_proj"),
                ("self_attn.o_proj", "self_att.self_attention.o_proj"), ("mlp.router_proj.weight", "ffn.ffn.moe_router.w_gate"),
                ("mlp.router_norm.weight", "ffn.ffn.router_norm.weight"), ("mlp.up_proj", "ffn.ffn.moe_experts.moe_w_in"),
                ("mlp.down_proj", "ffn.ffn.moe_experts.moe_w_out"),
            ]
            for (a, b) in map { t.name = t.name.replacing(a, with: b) }
            return t
        }
    }

    func config(_ extra: String = "") -> String {
        """
        {"hidden_size": \(H), "num_hidden_layers": \(L), "vocab_size": \(V), "num_attention_heads": \(nh),
         "num_key_value_heads": \(nh / 2), "q_lora_rank": \(qLora), "kv_lora_rank": \(kvLora), "qk_nope_head_dim": \(nope),
         "qk_rope_head_dim": \(rope), "rms_norm_eps": 1e-5, "scale_emb": 12, "tie_word_embeddings": false\(extra)}
        """
    }

    /// Writes a folder with config.json and model.safetensors.
    func write(_ tensors: [SafetensorsWriter.Tensor], config: String, in dir: TemporaryDirectory, folder: String = "m") throws -> String {
        let f = dir.makeFolder(folder)
        try dir.write("\(folder)/config.json", text: config)
        try SafetensorsWriter.write(tensors, to: f + "/model.safetensors")
        return f
    }
}

func expectCheckpointError(_ code: BFFNError.Code, field: String? = nil, _ path: String, recognize: Bool = true,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        let c = try Checkpoint(path: path)
        if recognize { _ = try c.recognize() }
        Issue.record("no error; expected \(code)", sourceLocation: sourceLocation)
    } catch let e as BFFNError {
        #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
        if let field { #expect(e.location.field == field, "\(e)", sourceLocation: sourceLocation) }
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("checkpoints and model recognition")
struct CheckpointTests {
    @Test func blockReferenceIsRecognisedExactly() throws {
        let c = try Checkpoint(path: Fixtures.blockReference)
        #expect(c.format == .safetensors)
        let r = try c.recognize()
        let a = r.architecture
        #expect(a.attention == .mla && a.ffnLayout == .block && a.routerNorm == .rms)
        #expect(a.hiddenSize == 64 && a.numLayers == 3 && a.numExperts == 8 && a.expertSize == 16 && a.vocabSize == 128)
        #expect(a.numAttentionHeads == 4 && !a.tiedEmbeddings)
        #expect(a.mla == .init(qLoraRank: 48, kvLoraRank: 32, qkNopeHeadDim: 16, qkRopeHeadDim: 8, vHeadDim: 16))
        #expect(r.expertGeometry?.upContiguous == true && r.expertGeometry?.downContiguous == true)
        #expect(r.warnings.isEmpty, "\(r.warnings)")
        #expect(Set(c.tensors.map(\.dtype)) == [.bf16])
    }

    @Test func blockLinearBinReferenceIsRecognisedExactly() throws {
        let c = try Checkpoint(path: Fixtures.blockLinearReference)
        #expect(c.format == .pytorch)
        let a = try c.recognize().architecture
        #expect(a.attention == .mla && a.ffnLayout == .blockLinear && a.routerNorm == .rms)
        #expect(a.hiddenSize == 64 && a.numLayers == 2 && a.numExperts == 6 && a.expertSize == 8 && a.vocabSize == 96)
        #expect(a.mla == .init(qLoraRank: 32, kvLoraRank: 16, qkNopeHeadDim: 16, qkRopeHeadDim: 8, vHeadDim: 16))
        // intermediate_size is the published converter's stale 5760 and must not matter.
        #expect(c.config.intermediateSize == 5760)
        let g = try #require(try c.recognize().expertGeometry)
        #expect(g.upContiguous && !g.downContiguous)
        // Every tensor's bytes equal the independent reader's.
        for e in try ExpectedTensor.load(Fixtures.blockLinearReference + "/expected-tensors.json") {
            let t = try #require(c.tensor(named: e.name))
            #expect(try c.bytes(of: t).withBytes { CRC32.checksum($0) } == e.crc32)
        }
    }

    @Test func shardedBinThroughItsIndex() throws {
        let c = try Checkpoint(path: Fixtures.path("torch/sharded-bin"))
        #expect(c.files.count == 2 && c.format == .pytorch)
        #expect(try c.recognize().architecture.ffnLayout == .blockLinear)
        let direct = try Checkpoint(path: Fixtures.path("torch/sharded-bin/pytorch_model.bin.index.json"))
        #expect(direct.tensors.map(\.name) == c.tensors.map(\.name))
    }

    @Test func shardedSafetensorsAndPreferenceOverBin() throws {
        let dir = TemporaryDirectory()
        let m = TinyModel()
        let all = m.tensors(layout: "block_linear")
        let folder = dir.makeFolder("s")
        try dir.write("s/config.json", text: m.config())
        try SafetensorsWriter.write(Array(all[..<10]), to: folder + "/model-00001-of-00002.safetensors")
        try SafetensorsWriter.write(Array(all[10...]), to: folder + "/model-00002-of-00002.safetensors")
        let map = all.enumerated().map { "\"\($0.element.name)\": \"model-0000\($0.offset < 10 ? 1 : 2)-of-00002.safetensors\"" }
        try dir.write("s/model.safetensors.index.json", text: "{\"metadata\": {}, \"weight_map\": {\(map.joined(separator: ","))}}")
        try dir.copy(Fixtures.blockLinearReference + "/pytorch_model.bin", as: "s/pytorch_model.bin")
        let c = try Checkpoint(path: folder)
        #expect(c.format == .safetensors && c.files.count == 2)
        #expect(c.notes.contains { $0.contains("both safetensors and pytorch_model.bin") })
        #expect(try c.recognize().architecture.ffnLayout == .blockLinear)
        // An index that places a tensor in the wrong shard.
        let bad = map.map { $0.replacing("00002-of", with: "00001-of") }
        try dir.write("s/model.safetensors.index.json", text: "{\"weight_map\": {\(bad.joined(separator: ","))}}")
        expectCheckpointError(.missingTensor, folder, recognize: false)
        try dir.write("s/model.safetensors.index.json", text: "{\"weight_map\": {\"a\": \"../../etc/passwd\"}}")
        expectCheckpointError(.malformed, field: "weight_map.a", folder, recognize: false)
    }

    @Test(arguments: ["block_linear", "block", "fastmoe", "megablocks", "vanilla"])
    func everyLayoutIsRecognised(_ layout: String) throws {
        let dir = TemporaryDirectory()
        let m = TinyModel()
        let path = try m.write(m.tensors(layout: layout), config: m.config(), in: dir)
        let r = try Checkpoint(path: path).recognize()
        #expect(r.architecture.ffnLayout.rawValue == layout)
        #expect(r.architecture.expertSize == (layout == "vanilla" ? m.E * m.de : m.de))
        #expect(r.architecture.numExperts == (layout == "vanilla" ? 0 : m.E))
        #expect(r.warnings.isEmpty, "\(r.warnings)")
    }

    @Test func bmtNamesAndGQAAttention() throws {
        let dir = TemporaryDirectory()
        let m = TinyModel()
        let bmt = try Checkpoint(path: m.write(m.bmtTensors(), config: m.config(), in: dir, folder: "b")).recognize()
        #expect(bmt.architecture.ffnLayout == .bmt && bmt.architecture.routerNorm == .rms && bmt.architecture.numExperts == m.E)
        let gqa = try Checkpoint(path: m.write(m.tensors(layout: "block_linear", attention: "gqa"), config: m.config(), in: dir, folder: "g")).recognize()
        #expect(gqa.architecture.attention == .gqa && gqa.architecture.numKeyValueHeads == 1 && gqa.architecture.headDim == 8)
    }

    @Test func routerNormAndTiedEmbeddingRules() throws {
        let dir = TemporaryDirectory()
        let m = TinyModel()
        // No router_norm tensor and no config key: the class default "sum".
        let sum = try Checkpoint(path: m.write(m.tensors(layout: "block_linear", routerNorm: false), config: m.config(), in: dir, folder: "a")).recognize()
        #expect(sum.architecture.routerNorm == .sum)
        // norm_after_router "rms" without the tensor is an error naming it.
        let rms = try m.write(m.tensors(layout: "block_linear", routerNorm: false), config: m.config(#", "norm_after_router": "rms""#), in: dir, folder: "b")
        expectCheckpointError(.missingTensor, field: "model.layers.0.mlp.router_norm.weight", rms)
        // No tie key and no lm_head: tied.
        let tied = try Checkpoint(path: m.write(m.tensors(layout: "block_linear", head: false),
                                                config: m.config().replacing(#", "tie_word_embeddings": false"#, with: ""), in: dir, folder: "c")).recognize()
        #expect(tied.architecture.tiedEmbeddings)
        // A stray tensor is a warning; ffn_type disagreeing with the tensors is a warning.
        var extra = m.tensors(layout: "block", routerNorm: true)
        extra.append(.init(name: "model.layers.0.mlp.router_score", dtype: .f32, shape: [1], bytes: [0, 0, 0, 0]))
        let w = try Checkpoint(path: m.write(extra, config: m.config(#", "ffn_type": "block_linear", "v_head_dim": 99"#), in: dir, folder: "d")).recognize()
        #expect(w.warnings.contains { $0.contains("router_score") })
        #expect(w.warnings.contains { $0.contains("ffn_type") })
        #expect(w.warnings.contains { $0.contains("v_head_dim") })
    }

    @Test func missingAndMisShapedTensorsAreNamed() throws {
        let dir = TemporaryDirectory()
        let m = TinyModel()
        var missing = m.tensors(layout: "block_linear")
        missing.removeAll { $0.name == "model.layers.1.self_attn.kv_b_proj.weight" }
        expectCheckpointError(.missingTensor, field: "model.layers.1.self_attn.kv_b_proj.weight",
                              try m.write(missing, config: m.config(), in: dir, folder: "a"))
        var wrong = m.tensors(layout: "block_linear")
        let i = wrong.firstIndex { $0.name == "model.layers.1.mlp.down_proj" }!
        wrong[i] = .init(name: wrong[i].name, dtype: .bf16, shape: [m.H, m.E * m.de - 1], bytes: TinyModel.values(m.H * (m.E * m.de - 1), seed: 1))
        do {
            _ = try Checkpoint(path: m.write(wrong, config: m.config(), in: dir, folder: "b")).recognize()
            Issue.record("no error")
        } catch let e as BFFNError {
            #expect(e.code == .shapeMismatch && e.location.field == "model.layers.1.mlp.down_proj")
            #expect(e.reason.contains("[16, 32]"), "\(e)")
        }
    }

    @Test func configKeysOfTheWrongTypeAreNamed() throws {
        let dir = TemporaryDirectory()
        let m = TinyModel()
        for (extra, key) in [(#", "scale_depth": "1.4""#, "scale_depth"), (#", "num_experts": 4.5"#, "num_experts"),
                             (#", "attention_bias": 0"#, "attention_bias"), (#", "norm_after_router": "l2""#, "norm_after_router"),
                             (#", "rope_scaling": {"type": "yarn", "factor": 2}"#, "rope_scaling.type")] {
            let path = try m.write(m.tensors(layout: "block_linear"), config: m.config(extra), in: dir, folder: key)
            expectCheckpointError(.invalidConfig, field: key, path, recognize: false)
        }
        let dup = try m.write(m.tensors(layout: "block_linear"), config: m.config(#", "hidden_size": 16"#), in: dir, folder: "dup")
        expectCheckpointError(.duplicateName, field: "hidden_size", dup, recognize: false)
    }

    @Test func aPathThatIsNotACheckpoint() throws {
        let dir = TemporaryDirectory()
        expectCheckpointError(.io, dir.file("nothing-here"), recognize: false)
        expectCheckpointError(.io, dir.makeFolder("empty"), recognize: false)
        expectCheckpointError(.unsupported, try dir.write("x.weights", Array("hello world, not a model".utf8)), recognize: false)
    }
}
