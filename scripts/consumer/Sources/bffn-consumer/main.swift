// Opens a model (a .bfpk pack or a checkpoint) through bffn's libraries and greedily generates tokens after a
// prompt of token ids, printing the generated ids comma-separated: what `bffn generate MODEL --prompt-ids IDS
// --max-new-tokens N --ignore-eos` prints on its first line.
// The int8 products' instruction set goes to standard error.
// Usage: bffn-consumer MODEL IDS N
import BFFNEngine
import BFFNKernels
import BFFNModel
import BFFNPack

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let arguments = CommandLine.arguments
guard arguments.count == 4, let count = Int(arguments[3]) else {
    print("usage: bffn-consumer MODEL IDS N")
    exit(2)
}
do {
    let prompt = arguments[2].split(separator: ",").compactMap { Int($0) }
    let engine = try Engine(weights: ModelWeights.open(path: arguments[1]))
    let result = try GreedyDecoder.generate(engine, prompt: prompt, maxNewTokens: count)
    print(result.generatedIds.map(String.init).joined(separator: ","))
    let note = "int8 products: \(IntegerDot.instructionSet)\n"
    _ = note.withCString { write(2, $0, strlen($0)) }
} catch {
    print("bffn-consumer: \(error)")
    exit(1)
}
