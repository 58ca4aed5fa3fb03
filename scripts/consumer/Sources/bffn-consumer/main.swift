// Opens a model (a .bfpk pack or a checkpoint) through bffn's app API (the BFFN product) and greedily generates
// tokens after a prompt of token ids, printing the generated ids comma-separated: what `bffn generate MODEL
// --prompt-ids IDS --max-new-tokens N --ignore-eos` prints on its first line.
// The int8 products' instruction set goes to standard error.
// Usage: bffn-consumer MODEL IDS N
import BFFN

let arguments = CommandLine.arguments
guard arguments.count == 4, let count = Int(arguments[3]) else {
    print("usage: bffn-consumer MODEL IDS N")
    exit(2)
}
do {
    let model = try BlockFFNModel(path: arguments[1])
    var settings = GenerationSettings()
    settings.maxNewTokens = count
    settings.ignoreEndOfSequence = true
    let result = try model.generate(.ids(arguments[2].split(separator: ",").compactMap { Int($0) }), settings: settings)
    print(result.generatedIds.map(String.init).joined(separator: ","))
    let note = "int8 products: \(IntegerDot.instructionSet)\n"
    _ = note.withCString { write(2, $0, strlen($0)) }
} catch {
    print("bffn-consumer: \(error)")
    exit(1)
}
