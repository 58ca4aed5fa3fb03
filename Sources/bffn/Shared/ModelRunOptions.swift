import ArgumentParser
import BFFN
import BFFNEngine

/// How `generate` and `serve` open a model to generate with: expert computation (--ffn), weight loading, the memory
/// budget, the speculative drafter, the numerics and the tokenizer, turned into `BlockFFNModel.Options` in one place.
struct ModelRunOptions: ParsableArguments {
    @Option(help: "Expert computation: sparse (only active experts) or dense (all; same output).")
    var ffn: FFNMode = .sparse

    @OptionGroup var loading: WeightLoadingOptions
    @OptionGroup var memory: MemoryBudgetOptions
    @OptionGroup var drafting: DraftOptions
    @OptionGroup var numerics: NumericsOptions
    @OptionGroup var tokenizing: TokenizerOptions

    /// The model options these flags ask for, with `threads` engine threads.
    /// - Throws: `ValidationError` for a malformed --memory-budget or draft shape.
    func modelOptions(threads: Int) throws -> BlockFFNModel.Options {
        var options = BlockFFNModel.Options()
        options.threads = threads
        options.ffnMode = ffn
        options.activations = numerics.activations
        options.kvCache = numerics.kvCache
        options.inPlaceExperts = loading.inPlaceExperts
        options.memoryBudgetBytes = try memory.budgetBytes()
        options.prefetch = memory.prefetch
        options.verifyExpertBlocks = !memory.noVerifyBlocks
        options.tokenizerFile = tokenizing.tokenizer
        options.speculative = drafting.drafter(default: .none)
        options.draftShape = try drafting.shape(for: options.speculative)
        options.adaptiveDrafting = !drafting.fixedDraft
        return options
    }
}
