import ArgumentParser
import BFFNCore
import BFFNKernels

/// `bffn kernels`: which instruction sets the products use on this CPU, and whether each gives the portable bits.
struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Show the instruction sets this CPU's products use and check each against the portable kernels.",
        discussion: """
        Every instruction set computes the same documented arithmetic (formats/numerics.md), so results do not \
        depend on the CPU. This command proves it on this machine: it runs int8 products (q8 and q4 rows, \
        symmetric and asymmetric, several group sizes) and bf16 products on seeded weights and activations with \
        each instruction set the CPU has (AVX2, AVX-VNNI, AVX-512 VNNI, AVX-512 BF16) and with the portable \
        kernels, over one token and several, a matrix and a down projection's union, and compares the float32 \
        bits. It takes well under a second.

        Exit status: 0 every instruction set gives the portable bits, 1 one does not (report it: the outputs \
        of this machine would differ from others'), 2 usage error.

        Examples:
          bffn kernels
          bffn kernels --json
        """
    )

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var printing: OutputOptions

    func run() throws {
        try printing.run {
            let results = KernelCheck.run()
            let passed = results.allSatisfy(\.passed)
            if printing.json {
                printing.emit(KernelCheck.json(results))
            } else {
                print("int8 products: \(IntegerDot.instructionSet); bf16 products: \(BF16Dot.instructionSet)")
                if results.isEmpty { print("only the portable kernels run on this CPU: nothing to compare") }
                let width = results.map(\.products.count).max() ?? 0
                for r in results {
                    let verdict = r.passed ? "same bits" : "\(r.differing) differ"
                    let products = r.products.padding(toLength: width)
                    let set = r.instructionSet.padding(toLength: 12)
                    print("  \(products)  \(set)  \(r.outputs) outputs, \(verdict)")
                }
                print(passed ? "every instruction set gives the portable kernels' bits" : "FAILED: an instruction set differs from the portable kernels")
            }
            if !passed { throw ExitCode(1) }
        }
    }
}
