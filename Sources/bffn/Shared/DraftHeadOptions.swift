import ArgumentParser

/// `--draft` / `--draft-vocab`: `convert` and `pack` carry an EAGLE draft head inside the pack.
struct DraftHeadOptions: ParsableArguments {
    @Option(name: .customLong("draft"), help: ArgumentHelp("An EAGLE draft head folder (published layout: config.json with fc.weight, input_norm1/2, layers.*) to carry inside the pack.",
                                                           discussion: "generate, verify and bench then draft with it through --speculative eagle."),
            completion: .directory)
    var draftHead: String?

    @Option(help: "With --draft: carry the reduced draft vocabulary of the N most frequent tokens, read from the head folder's freq_N.pkl (default: every token).")
    var draftVocab: Int?

    func validate() throws {
        if draftVocab != nil && draftHead == nil { throw ValidationError("--draft-vocab needs --draft HEAD") }
        if let v = draftVocab, v < 1 { throw ValidationError("--draft-vocab must be at least 1") }
    }
}
