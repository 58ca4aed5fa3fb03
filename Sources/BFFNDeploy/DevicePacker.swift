import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNPack
import BFFNVerify

/// Settings of `bffn pack`.
public struct PackOptions: Sendable {
    /// The device profile.
    public var profile: DeviceProfile
    /// Calibration sequences; nil: the built-in workload (`DevicePacker.builtInCalibration`).
    public var calibration: [[Int]]?
    /// A name for the calibration source in the manifest and report (a file's base name).
    public var calibrationName = "built-in"
    /// Files stored inside the pack (tokenizer files, generation_config.json).
    public var attachments: [String] = []
    /// An EAGLE draft head folder carried in the pack, and the size of its reduced vocabulary (nil: every token);
    /// the report then estimates the device's speed with EAGLE from the acceptance measured here.
    public var draftHead: String?
    public var draftVocabularySize: Int?
    /// Replace an existing output.
    public var overwrite = false
    /// Worker threads.
    public var threads = 2
    /// Stricter verification limits than the quantization class's defaults (mean KLD, top-1 agreement).
    public var maxMeanKLD: Double?
    public var minTop1: Double?
    /// Measure the written pack with `Benchmark` for the report.
    public var benchmark = true
    /// Called with a line of progress.
    public var progress: (@Sendable (String) -> Void)?
    /// Called during the conversion with (source bytes converted, source bytes in all).
    public var conversionProgress: (@Sendable (UInt64, UInt64) -> Void)?

    public init(profile: DeviceProfile) { self.profile = profile }
}

/// `bffn pack`: calibrates expert use, orders experts hot-first, splits resident and streamed experts to fit the
/// profile's budget, converts with the profile's quantization, verifies the result against the source on
/// held-back calibration prompts, and only then puts the pack under its name.
public enum DevicePacker {
    /// The built-in calibration workload: 8 sequences of 64 tokens from a Markov chain over 64 vocabulary topics
    /// (token t belongs to topic t mod 64; the topic switches with probability 0.1 before each token; tokens are
    /// uniform within the topic; seed 1), as `bffn synth` uses to drive routing. Real text calibrates better:
    /// pass `--calibration FILE`.
    public static func builtInCalibration(vocabularySize: Int) -> [[Int]] {
        let w = TopicWorkload(topics: min(64, vocabularySize), switchProbability: 0.1, vocabSize: vocabularySize, seed: 1)
        return (0..<8).map { w.sequence(length: 64, index: $0) }
    }

    /// The text files a model may ship beside its checkpoint that calibrate better than the built-in workload, in
    /// the order they are preferred: `prompts.txt`, then `heldout.txt` (the bundled trained model has both).
    public static let modelTextNames = ["prompts.txt", "heldout.txt"]

    /// The first of `modelTextNames` in `folder` (the checkpoint's folder), or nil when there is none.
    public static func modelText(in folder: String) -> String? {
        for name in modelTextNames {
            let path = folder + "/" + name
            var info = stat()
            if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG { return path }
        }
        return nil
    }

    /// Splits calibration sequences into those counted and those held back for verification: every fourth
    /// (index 3, 7, ...) is held back; with fewer than four, the last is held back; a single sequence serves both.
    public static func split(_ sequences: [[Int]]) -> (calibrate: [[Int]], heldBack: [[Int]]) {
        if sequences.count == 1 { return (sequences, sequences) }
        if sequences.count < 4 { return (Array(sequences.dropLast()), [sequences[sequences.count - 1]]) }
        let held = sequences.indices.filter { $0 % 4 == 3 }
        return (sequences.indices.filter { $0 % 4 != 3 }.map { sequences[$0] }, held.map { sequences[$0] })
    }

    /// Packs `source` (a checkpoint) into `output`.
    /// - Throws: `.outputExists` without `overwrite`; `.budgetExceeded` when the dense weights alone exceed the
    ///   profile's resident budget; `.verificationFailed` (nothing written) when the pack does not verify against
    ///   the source; the readers', converter's and engine's errors.
    public static func pack(source: String, output: String, options: PackOptions) throws -> DeploymentReport {
        if !options.overwrite && access(output, F_OK) == 0 {
            throw BFFNError(.outputExists, "the output exists; pass --force to replace it", file: output)
        }
        let profile = options.profile
        // Steps 1-2 in their own scope, so the source mapping they use is released before the conversion maps
        // it again (a multi-GB source would otherwise count twice in resident memory).
        let (calibration, convert, heldBack) = try DevicePacker.plan(source: source, options: options)

        // 3. Convert; the writer hands over the finished temporary file, which is verified before it may take
        //    the output's name (a failed verification leaves nothing behind).
        var verify = VerifyOptions()
        verify.threads = options.threads
        verify.maxNewTokens = 16
        verify.maxMeanKLD = options.maxMeanKLD
        verify.minTop1 = options.minTop1
        if options.draftHead != nil {
            try verify.useCarriedEagleTree(withinChunkOf: max(2, profile.maxChunkTokens))
        } else {
            try verify.useNGramChain(withinChunkOf: max(2, profile.maxChunkTokens))
        }
        let verified = VerificationBox()
        var convertOptions = convert
        convertOptions.checkBeforeCommit = { [verify, heldBack] temporary in
            options.progress?("verifying against the source on \(heldBack.count) held-back sequences")
            let report = try Verifier.run(modelPath: temporary, referencePath: source, prompts: heldBack, options: verify)
            guard report.passed else {
                throw BFFNError(.verificationFailed, "the pack does not verify against its source (\(report.failures.joined(separator: "; "))); nothing was written",
                                file: output)
            }
            verified.report = report
        }
        options.progress?("converting")
        let conversion = try PackWriter.convert(source: source, to: output, options: convertOptions) { options.conversionProgress?($0, $1) }
        guard let verification = verified.report else {
            throw BFFNError(.verificationFailed, "the converter did not hand the pack over for verification", file: output)
        }

        // 4. The deployment report, with this machine's measurement of the pack beside the profile's figures.
        let pack = try PackFile(path: output)
        let packed = try ModelWeights(pack: pack)
        var measured: BenchmarkResult? = nil
        if options.benchmark {
            options.progress?("measuring the pack on this machine")
            measured = try Benchmark.run(weights: packed, prompt: Array(heldBack[0].prefix(16)), decodeTokens: 16, threads: options.threads)
        }
        return DeploymentReport(output: output, source: source, profile: profile, pack: pack, weights: packed, conversion: conversion,
                                calibration: calibration, calibrationName: options.calibrationName, heldBack: heldBack.count,
                                verification: verification, measured: measured)
    }

    /// Calibrates and lays out the pack: the conversion options (storage, hot-first order, resident experts,
    /// provenance) and the held-back sequences.
    static func plan(source: String, options: PackOptions) throws -> (ExpertCalibration, ConvertOptions, [[Int]]) {
        let profile = options.profile
        let weights = try ModelWeights(checkpoint: Checkpoint(path: source))
        let a = weights.architecture
        let sequences = options.calibration ?? builtInCalibration(vocabularySize: a.vocabSize)
        let (calibrate, heldBack) = split(sequences)

        // 1. Calibration: which experts fire, how often, with which others.
        options.progress?("calibrating on \(calibrate.count) sequences")
        let engine = try Engine(weights: weights, options: EngineOptions(threads: options.threads))
        let calibration = try ExpertCalibration.run(engine, sequences: calibrate) { i, n in options.progress?("calibrating: sequence \(i)/\(n)") }

        // 2. Layout: the profile's storage, experts hot-first, resident experts within the budget.
        var convert = try profile.convertOptions(for: weights)
        convert.threads = options.threads
        convert.attachments = options.attachments
        convert.draftHead = options.draftHead
        convert.draftVocabularySize = options.draftVocabularySize
        convert.overwrite = options.overwrite
        if a.numExperts > 0 { convert.expertOrder = calibration.hotFirstOrder }
        let layout = try PackLayout(weights: weights, options: convert)
        var resident = a.numExperts
        if let budget = profile.residentBudgetBytes {
            guard budget >= layout.expertsOffset else {
                throw BFFNError(.budgetExceeded, "the non-expert weights alone take \(layout.expertsOffset) bytes with profile '\(profile.name)'; its resident budget is \(budget) bytes",
                                file: source, field: "resident_budget_bytes")
            }
            if a.numExperts > 0 {
                resident = Int(min(UInt64(a.numExperts), (budget - layout.expertsOffset) / (UInt64(a.numLayers) * layout.blockBytes)))
            }
        }
        convert.residentExperts = resident
        convert.deployment = .object([
            ("profile", profile.json),
            ("calibration", .object([("source", .string(options.calibrationName)), ("sequences", .integer(calibrate.count)),
                                     ("tokens", .integer(calibration.tokens)), ("held_back", .integer(heldBack.count))])),
            ("resident_count", .integer(resident)), ("order", "hot-first"),
        ])

        return (calibration, convert, heldBack)
    }
}

/// Carries the verification report out of the converter's check.
final class VerificationBox: @unchecked Sendable {
    var report: VerificationReport?
}
