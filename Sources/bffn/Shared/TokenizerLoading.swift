import BFFNCore
import BFFNPack
import BFFNTokenizer

#if canImport(Glibc)
import Glibc
#endif

/// Finds a model's `tokenizer.json`: a pack's attachment of that name, else the file beside a checkpoint (in
/// its folder, or in the folder of the weight file given).
/// - Throws: `.missingTensor`-free `.io` error naming where it looked when there is none; the tokenizer's errors.
func loadTokenizer(model: String) throws -> BPETokenizer {
    if PackFile.isPack(path: model) {
        let pack = try PackFile(path: model)
        guard let a = pack.attachments.first(where: { $0.name == "tokenizer.json" }) else {
            throw BFFNError(.io, "the pack carries no tokenizer.json (convert with --attach tokenizer.json); use --prompts with token ids", file: model)
        }
        return try pack.bytes(at: a.offset, count: a.bytes).withBytes { try BPETokenizer(bytes: $0, path: model + ":tokenizer.json") }
    }
    var info = stat()
    let isFolder = stat(model, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    let folder = isFolder ? model : (model.lastIndex(of: "/").map { String(model[..<$0]) } ?? ".")
    let path = folder + "/tokenizer.json"
    guard access(path, R_OK) == 0 else {
        throw BFFNError(.io, "no tokenizer.json beside the model; use --prompts with token ids", file: path)
    }
    return try BPETokenizer(path: path)
}
