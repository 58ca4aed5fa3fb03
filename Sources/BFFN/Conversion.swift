import BFFNCore
import BFFNModel
import BFFNPack
import BFFNTokenizer
import BFFNVerify

/// Converting a checkpoint into a pack, and verifying a model: what `bffn convert` and `bffn verify` run.
public enum Conversion {
    /// Files carried into a pack beside `explicit`: the tokenizer files found beside `source` (unless
    /// `carryTokenizer` is false, or the source is itself a pack) whose names are not among `explicit`'s; returns
    /// all files to attach and the names of those carried.
    public static func attachments(source: String, explicit: [String], carryTokenizer: Bool = true) -> (all: [String], carried: [String]) {
        guard carryTokenizer, !PackFile.isPack(path: source) else { return (explicit, []) }
        let name = { (path: String) in path.split(separator: "/").last.map(String.init) ?? path }
        let explicitNames = Set(explicit.map(name))
        let carried = TokenizerFiles.paths(in: ModelFiles.folder(of: source)).filter { !explicitNames.contains(name($0)) }
        return (explicit + carried, carried.map(name))
    }

    /// Converts `source` (a checkpoint, or ORG/NAME in the Hugging Face cache) into the pack `output`, atomically,
    /// carrying the tokenizer files beside the source (`options.attachments` are added to them). `progress` hears
    /// (done, total) bytes.
    /// - Returns: the report (`ConvertReport.json` is `bffn convert --json`) and the names of the carried files.
    /// - Throws: the readers' errors naming file, field and offset; `.outputExists` without `options.overwrite`;
    ///   `.usage` for options that do not apply.
    public static func convert(source given: String, output: String, options: ConvertOptions, carryTokenizer: Bool = true,
                               progress: ((UInt64, UInt64) -> Void)? = nil) throws -> (report: ConvertReport, carried: [String]) {
        let source = try HubCache.resolve(given)
        var o = options
        let (all, carried) = attachments(source: source, explicit: options.attachments, carryTokenizer: carryTokenizer)
        o.attachments = all
        let report = try PackWriter.convert(source: source, to: output, options: o) { progress?($0, $1) }
        return (report, carried)
    }

    /// Verifies `model` against `reference` (a reference file or another model) on its built-in prompts, and on
    /// the text of `textFile` when given (then only the text against a model), as `bffn verify` does.
    /// - Returns: the report; `VerificationReport.json` is `bffn verify --json`. A model that fails its thresholds is
    ///   a report with `passed` false, not an error.
    /// - Throws: the readers' and engines' errors.
    public static func verify(model given: String, reference givenReference: String, textFile: String? = nil,
                              options: VerifyOptions = VerifyOptions()) throws -> VerificationReport {
        let model = try HubCache.resolve(given), reference = try HubCache.resolve(givenReference)
        var o = options
        var prompts: [[Int]]? = nil
        if let textFile {
            let weights = try ModelWeights.open(path: model)
            let bundle = try ModelFiles.tokenizer(of: model)
            let ids = try bundle.encode(String(decoding: MappedFile(path: textFile).contents, as: UTF8.self))
            if let bad = ids.first(where: { $0 >= weights.architecture.vocabSize }) {
                throw BFFNError(.shapeMismatch, "the tokenizer gives id \(bad), beyond the model's vocabulary of \(weights.architecture.vocabSize)", file: textFile)
            }
            o.text = ids
            o.textContext = min(512, weights.config.maxPositionEmbeddings ?? 1 << 20)
            o.textBos = bundle.addBos ? bundle.bosId : nil
            if !ReferenceFile.isReference(path: reference) { prompts = [] }
        }
        return try Verifier.run(modelPath: model, referencePath: reference, prompts: prompts, options: o)
    }
}
