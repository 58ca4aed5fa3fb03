import BFFNCheckpoint
import BFFNCore
import BFFNDeploy
import BFFNEngine
import BFFNModel
import BFFNPack
import BFFNSafetensors
import BFFNTokenizer
import BFFNTorchZip
import BFFNVerify

/// One entry point per kind of untrusted input, shared by the coverage-guided fuzzer (`bffn-libfuzz`, built with
/// `-sanitize=fuzzer,address` by scripts/fuzz.sh) and the tests that replay the committed corpora and every input
/// that ever crashed. An input may be rejected with a `BFFNError` (the expected outcome); it must never crash,
/// hang or allocate without bound.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case safetensors, shardIndex = "shard-index", zip, pickle, torchBin = "torch-bin", bfpk, bfpkManifest = "bfpk-manifest"
    case config, reference, profile, tokens, tokenizer
    /// A SentencePiece `tokenizer.model` (through libsentencepiece), a skill-card layer pack.
    case sentencepiece, layerPack = "layer-pack"
    /// A routing trace (`bffn trace --simulate`).
    case routingTrace = "trace"
    /// An EAGLE head's reduced vocabulary, `freq_V.pkl` (a pickled list of token ids).
    case draftVocabulary = "draft-vocabulary"

    /// The file name the input is written under for readers that take a path (its extension selects the reader).
    var fileName: String {
        switch self {
        case .safetensors, .reference: return "input.safetensors"
        case .shardIndex: return "model.safetensors.index.json"
        case .zip, .torchBin: return "pytorch_model.bin"
        case .bfpk, .bfpkManifest, .layerPack: return "input.bfpk"
        case .sentencepiece: return "tokenizer.model"
        case .routingTrace: return "trace.safetensors"
        case .config: return "config.json"
        case .profile, .tokenizer: return "input.json"
        case .pickle, .tokens: return "input.txt"
        case .draftVocabulary: return "freq_16.pkl"
        }
    }

    /// A scratch folder in memory (tmpfs) for this process.
    static let scratch: String = {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        let dir = "\(base)/bffn-fuzz-\(getpid())"
        mkdir(dir, 0o755)
        return dir
    }()

    /// Runs `bytes` through this target's reader(s). Errors are the expected outcome and are returned, not thrown.
    @discardableResult
    public func run(_ bytes: [UInt8]) -> BFFNError? {
        do {
            try body(bytes)
            return nil
        } catch let e as BFFNError {
            return e
        } catch {
            return BFFNError(.io, "\(error)")
        }
    }

    private func write(_ bytes: [UInt8], _ name: String) -> String {
        let path = Self.scratch + "/" + name
        var fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd < 0 {   // the folder was cleaned up: make it again
            mkdir(Self.scratch, 0o755)
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        }
        _ = bytes.withUnsafeBytes { CLibrary.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return path
    }

    private func body(_ bytes: [UInt8]) throws {
        switch self {
        case .safetensors:
            let f = try SafetensorsFile(path: write(bytes, fileName))
            for e in f.entries { _ = CRC32.checksum(f.bytes(of: e)) }
        case .shardIndex:
            let path = write(bytes, fileName)
            _ = try ShardIndex(path: path)
            _ = try Checkpoint(path: path)
        case .zip:
            let archive = try ZipArchive(file: MappedFile(path: write(bytes, fileName)))
            for e in archive.entries.prefix(64) { _ = try archive.contents(of: e, verifyChecksum: true) }
        case .pickle:
            try bytes.withUnsafeBytes { raw in
                var machine = PickleMachine(raw, file: "data.pkl")
                _ = try machine.run()
            }
        case .torchBin:
            let f = try TorchCheckpointFile(path: write(bytes, fileName))
            for t in f.tensors { _ = try f.bytes(of: t).withBytes { CRC32.checksum($0) } }
        case .bfpk:
            try runPack(write(bytes, fileName))
        case .bfpkManifest:
            guard let prefix = Self.packPrefix else { return }
            // The input is the manifest; header CRCs and lengths are sealed so mutations reach the parser.
            let h = PackHeader(manifestOffset: UInt64(prefix.count), manifestLength: UInt64(bytes.count), manifestCRC: CRC32.checksum(bytes),
                               alignment: 64, fileLength: UInt64(prefix.count + bytes.count))
            try runPack(write(h.bytes + prefix.dropFirst(PackHeader.length) + bytes, fileName))
        case .config:
            let path = write(bytes, fileName)
            _ = try ModelConfig(path: path)
        case .reference:
            _ = try ReferenceFile(path: write(bytes, fileName))
        case .profile:
            let json = try bytes.withUnsafeBytes { try JSONValue.parse($0, file: "profile.json") }
            _ = try DeviceProfile(json: json, path: "profile.json")
        case .tokens:
            _ = try TokenSequenceFile.read(path: write(bytes, fileName))
        case .tokenizer:
            let t = try bytes.withUnsafeBytes { try HuggingFaceTokenizer(bytes: $0, path: "tokenizer.json") }
            _ = try t.decode(t.encode("Hello world <s> 中文 😀 e\u{301}"))
        case .sentencepiece:
            let t = try bytes.withUnsafeBytes { try SentencePieceTokenizer(bytes: $0, path: "tokenizer.model") }
            _ = try t.decode(t.encode("Hello world <s> 中文 😀 e\u{301}"))
        case .routingTrace:
            let trace = try RoutingTrace(path: write(bytes, fileName))
            guard trace.layers * trace.tokenCount * trace.experts < 1 << 20 else { return }
            for policy in ExpertCacheSimulator.Policy.allCases { _ = ExpertCacheSimulator.simulate(trace, capacity: trace.experts, policy: policy) }
        case .draftVocabulary:
            _ = try DraftVocabulary.load(pickle: write(bytes, fileName), size: 16, targetVocabulary: 1 << 16)
        case .layerPack:
            let layer = try SkillCardPack.read(path: write(bytes, fileName))
            guard layer.hiddenSize * layer.experts * layer.expertSize < 1 << 24 else { return }
            _ = layer.forward([Float](repeating: 0.5, count: layer.hiddenSize))
        }
    }

    /// A pack that parses and passes its checksums must also load and run (nothing its manifest claims is
    /// trusted elsewhere).
    private func runPack(_ path: String) throws {
        let pack = try PackFile(path: path)
        try pack.verifyChecksums()
        let weights = try ModelWeights(pack: pack)
        if let carried = try pack.eagleHead() { try carried.head.check(targetHiddenSize: weights.architecture.hiddenSize, file: path) }
        guard weights.architecture.vocabSize > 1 else { return }
        _ = try Engine(weights: weights).forward([0, 1])
    }

    /// The bytes before the manifest of a small pack of the bundled model (alignment 64), for `bfpk-manifest`;
    /// nil when the repository's fixtures are not found.
    static let packPrefix: [UInt8]? = {
        var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        let model = parts.joined(separator: "/") + "/fixtures/reference/mla-blocklinear-rms-bf16-bin"
        var options = ConvertOptions()
        options.alignment = 64
        options.overwrite = true
        options.threads = 1
        let path = scratch + "/seed.bfpk"
        guard (try? PackWriter.convert(source: model, to: path, options: options)) != nil,
              let file = try? MappedFile(path: path), let pack = try? PackFile(path: path) else { return nil }
        return file.withBytes { Array($0[0..<Int(pack.header.manifestOffset)]) }
    }()

    /// Removes this process's scratch folder.
    public static func cleanUp() {
        for target in allCases { unlink(scratch + "/" + target.fileName) }
        unlink(scratch + "/seed.bfpk")
        rmdir(scratch)
    }
}
