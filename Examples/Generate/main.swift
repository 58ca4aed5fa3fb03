// A complete program on the BFFN library: open a model, stream a reply to a question, print what it cost.
//   swift run bffn-example [MODEL] [PROMPT]        (default: the bundled model, a Python prompt)
import BFFN

let arguments = CommandLine.arguments
let path = arguments.count > 1 ? arguments[1] : "fixtures/trained"
let prompt = arguments.count > 2 ? arguments[2] : "def fibonacci(n):"

do {
    var options = BlockFFNModel.Options()
    options.speculative = .ngram                       // lossless: the same tokens, fewer engine calls
    let model = try BlockFFNModel(path: path, options: options)

    var settings = GenerationSettings()
    settings.maxNewTokens = 48
    settings.stop = ["\n\n"]                           // end at the first blank line

    print(prompt, terminator: "")
    let result = try model.generate(.text(prompt), settings: settings) { piece in
        print(piece, terminator: "")                   // each piece as soon as it is accepted
        return true                                    // false would stop generation here
    }
    print("\n--\n\(result.summaryLine)")
} catch {
    print("bffn-example: \(error)")
    exit(1)
}
