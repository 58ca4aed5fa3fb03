import ArgumentParser
import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNPack

/// How `generate` and `bench` open a model's weights.
struct WeightLoadingOptions: ParsableArguments {
    @Flag(help: "Read block_linear expert down weights where the checkpoint stores them, strided, instead of copying them into one block per expert at load (no copy; slower sparse decoding; same output).")
    var inPlaceExperts = false

    /// The weights of `path` (a pack or a checkpoint) as these options ask.
    /// - Throws: the readers' and recognizer's errors.
    func open(_ path: String) throws -> ModelWeights {
        try ModelWeights.open(path: path, expertDown: inPlaceExperts ? .asStored : .expertMajor)
    }
}

/// `MODEL/workload.txt` when MODEL is a folder holding that regular file (what `bffn synth` writes), else nil:
/// the prompts `bench` and `plot` use when given none.
func folderWorkload(of model: String) -> String? {
    var info = stat()
    let path = model + "/workload.txt"
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG ? path : nil
}
