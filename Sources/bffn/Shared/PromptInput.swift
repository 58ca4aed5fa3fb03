import BFFNCore
import BFFNModel
import BFFNTokenizer

/// The one reader of `--prompts FILE` (and `pack --calibration`, and the model's own prompt files) for every
/// command: a file whose first meaningful line is a comma-separated id list is read as one id list per line (blank
/// and `#` lines skipped); any other file is text whose paragraphs are the prompts, encoded with the model's
/// tokenizer (formats/tokenizer.md, "Text files"), each cut into pieces of at most `maxLength` tokens.
/// - Parameter maxLength: the longest sequence (default: the model's context, at most 512).
/// - Throws: the file's read errors, `TokenSequenceFile`'s errors, the tokenizer's errors; `.shapeMismatch` for an
///   id outside the vocabulary.
func readPromptFile(_ path: String, model: String, weights: ModelWeights, tokenizing: TokenizerOptions, maxLength: Int? = nil) throws -> [[Int]] {
    try SequenceInput.read(path: path, vocabularySize: weights.architecture.vocabSize,
                           maxLength: maxLength ?? min(weights.config.maxPositionEmbeddings ?? 512, 512)) { try tokenizing.load(model: model) }
}
