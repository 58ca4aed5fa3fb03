// swift-tools-version: 6.0
import PackageDescription

// No target sets compiler flags: the package builds as a dependency (SwiftPM refuses flags it cannot vet in a
// package required by version) and for any architecture (x86-64 with or without AVX2, aarch64, Apple silicon).
// The C kernels choose their instruction sets per function and at run time; CPU flags for the Swift float loops
// and optimised debug builds are the build scripts' business (scripts/build-flags.sh).

let package = Package(
    name: "bffn",
    // macOS 15: Synchronization's Atomic and Mutex (the worker pool, atomic writes, checksum threads).
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bffn", targets: ["bffn"]),
        // The API for apps: open a model, tokenize, generate (streamed, cancellable), inspect, convert, verify.
        .library(name: "BFFN", targets: ["BFFN"]),
        // The C ABI over that API (include/bffn.h), as a shared library: libbffnc.so / libbffnc.dylib.
        .library(name: "bffnc", type: .dynamic, targets: ["BFFNCInterface"]),
        .library(name: "BFFNCore", targets: ["BFFNCore"]),
        .library(name: "BFFNSafetensors", targets: ["BFFNSafetensors"]),
        .library(name: "BFFNTorchZip", targets: ["BFFNTorchZip"]),
        .library(name: "BFFNCheckpoint", targets: ["BFFNCheckpoint"]),
        .library(name: "BFFNInspect", targets: ["BFFNInspect"]),
        .library(name: "BFFNKernels", targets: ["BFFNKernels"]),
        .library(name: "BFFNModel", targets: ["BFFNModel"]),
        .library(name: "BFFNEngine", targets: ["BFFNEngine"]),
        .library(name: "BFFNSynth", targets: ["BFFNSynth"]),
        .library(name: "BFFNPack", targets: ["BFFNPack"]),
        .library(name: "BFFNCalibration", targets: ["BFFNCalibration"]),
        .library(name: "BFFNSpeculative", targets: ["BFFNSpeculative"]),
        .library(name: "BFFNExpertStreaming", targets: ["BFFNExpertStreaming"]),
        .library(name: "BFFNVerify", targets: ["BFFNVerify"]),
        .library(name: "BFFNDeploy", targets: ["BFFNDeploy"]),
        .library(name: "BFFNPlot", targets: ["BFFNPlot"]),
        .library(name: "BFFNTokenizer", targets: ["BFFNTokenizer"]),
        .library(name: "BFFNChatTemplate", targets: ["BFFNChatTemplate"]),
        .library(name: "BFFNServer", targets: ["BFFNServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation --target BFFN`: the API's DocC documentation (Sources/BFFN/BFFN.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // C libraries (design card: zlib for checksums and compression, json-c for every JSON).
        .systemLibrary(name: "CBlockFFNZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .systemLibrary(name: "CBlockFFNJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"]), .brew(["json-c"])]),

        // The OS calls behind BFFNCore/Platform that Swift's C library modules do not export or spell differently
        // (uncached reads, usable CPUs, allocator tuning, write-back, threads, environment), with a Linux and a Darwin
        // branch for each.
        .target(name: "CBlockFFNSystem"),
        // Errors, memory-mapped files, JSON, checksums, dtypes: what every reader and writer shares.
        .target(name: "BFFNCore", dependencies: ["CBlockFFNZlib", "CBlockFFNJSONC", "CBlockFFNSystem"]),
        // The safetensors format: single files, sharded index files, and a writer.
        .target(name: "BFFNSafetensors", dependencies: ["BFFNCore"]),
        // PyTorch's torch.save format: a zip reader and a restricted pickle interpreter.
        .target(name: "BFFNTorchZip", dependencies: ["BFFNCore", "CBlockFFNZlib"]),
        // A checkpoint as a whole: config.json, every weight file, and model recognition.
        .target(name: "BFFNCheckpoint", dependencies: ["BFFNCore", "BFFNSafetensors", "BFFNTorchZip"]),
        // Numeric kernels: the storage types (StorageType: f32, f16, bf16, q8, q4) and fixed-order dot products and
        // matrix products over all of them; row encoders for the converter.
        // Cache helpers (a C header): software prefetch (Swift has no prefetch intrinsic) and the span of tiles
        // the tile products walk several tokens over.
        .target(name: "CBlockFFNPrefetch"),
        // Row encoders for the converter (q8, q4 and the float casts, with their error), in C vector
        // extensions: the same bytes on every instruction set, AVX2 speed here.
        .target(name: "CBlockFFNQuantize"),
        // int4 / int8 codes to float32 eight at a time (a C header; Swift's SIMD shifts compile lane by lane).
        .target(name: "CBlockFFNUnpack"),
        // Integer dot products of int8 activations with q8 / q4 rows (formats/numerics.md): AVX2, AVX-512 VNNI,
        // AVX-VNNI, NEON (with or without the dot product extension) or portable C, chosen at run time; each
        // instruction set compiled per function.
        .target(name: "CBlockFFNIntDot", dependencies: ["CBlockFFNPrefetch"]),
        // bf16 dot products of bf16-rounded activations with bf16 weights (formats/numerics.md): vdpbf16ps where the
        // CPU has AVX512_BF16, an exact emulation elsewhere.
        .target(name: "CBlockFFNBF16Dot", dependencies: ["CBlockFFNPrefetch"]),
        .target(name: "BFFNKernels", dependencies: ["BFFNCore", "CBlockFFNBF16Dot", "CBlockFFNIntDot", "CBlockFFNPrefetch", "CBlockFFNQuantize", "CBlockFFNUnpack"]),
        // The model: architecture and recognition, tensor names of every layout, tensor classes, and the weights
        // (ModelWeights / LayerWeights) resolved from a checkpoint.
        .target(name: "BFFNModel", dependencies: ["BFFNCore", "BFFNCheckpoint", "BFFNKernels", "BFFNTorchZip"]),
        // The BlockFFN forward pass, KV cache and decoding.
        .target(name: "BFFNEngine", dependencies: ["BFFNCore", "BFFNCheckpoint", "BFFNKernels", "BFFNModel"]),
        // Speculative decoding: drafters (prompt lookup, a draft model, EAGLE heads) and the choice among them,
        // draft trees, lossless verification.
        .target(name: "BFFNSpeculative", dependencies: ["BFFNCore", "BFFNCheckpoint", "BFFNEngine", "BFFNModel", "BFFNKernels", "BFFNPack"]),
        // A pack's experts read on demand into a bounded cache (--memory-budget): the engine's expert provider.
        .target(name: "BFFNExpertStreaming", dependencies: ["BFFNCore", "BFFNEngine", "BFFNKernels", "BFFNModel", "BFFNPack"]),
        // Synthetic checkpoints with the published shapes and controlled routing sparsity.
        .target(name: "BFFNSynth", dependencies: ["BFFNCore", "BFFNModel", "BFFNSafetensors", "BFFNTorchZip"]),
        // The chunk-aware packed format (.bfpk): writer, reader, exporter, and engine weights from packs.
        .target(name: "BFFNPack", dependencies: ["BFFNCore", "BFFNCheckpoint", "BFFNSafetensors", "BFFNModel", "BFFNKernels"]),
        // `bffn calibrate`: activation statistics per multiplied matrix (experts from the tokens that activate them),
        // the importance weights of the quantizer's scale search.
        .target(name: "BFFNCalibration", dependencies: ["BFFNCore", "BFFNEngine", "BFFNModel", "BFFNPack"]),
        // `bffn verify`: a model against reference outputs or another model, with thresholds and reports.
        .target(name: "BFFNVerify", dependencies: ["BFFNModel", "BFFNKernels", "BFFNCore", "BFFNSafetensors", "BFFNEngine", "BFFNPack", "BFFNSpeculative"]),
        // `bffn pack`: device profiles, expert calibration, hot-first / resident packs, deployment reports.
        .target(name: "BFFNDeploy", dependencies: ["BFFNModel", "BFFNKernels", "BFFNCore", "BFFNCheckpoint", "BFFNEngine", "BFFNExpertStreaming", "BFFNPack", "BFFNVerify", "BFFNSafetensors"]),
        // libsentencepiece (C++), found with pkg-config (Debian's libsentencepiece-dev, Homebrew's sentencepiece),
        // behind a C interface.
        .systemLibrary(name: "CBlockFFNSentencePieceLibrary", pkgConfig: "sentencepiece",
                       providers: [.apt(["libsentencepiece-dev"]), .brew(["sentencepiece"])]),
        .target(name: "CBlockFFNSentencePiece", dependencies: ["CBlockFFNSentencePieceLibrary"]),
        // Text to token ids and back: tokenizer.json (BPE: LLaMA/MiniCPM, Metaspace and byte-level forms, written in
        // Swift) and tokenizer.model (SentencePiece, through the C shim); the files beside a model that configure them.
        .target(name: "BFFNTokenizer", dependencies: ["BFFNCore", "CBlockFFNSentencePiece"]),
        // Chat templates: a Jinja interpreter of the subset Hugging Face templates use, byte-exact against Python's
        // jinja2 as transformers configures it, and finding a model's template (chat_template.jinja, tokenizer_config.json).
        .target(name: "BFFNChatTemplate", dependencies: ["BFFNCore"]),
        // Pictures of routing (`bffn plot`, `verify --plots`): a PNG encoder on zlib, a canvas with a bitmap font, charts.
        .target(name: "BFFNPlot", dependencies: ["BFFNCore", "BFFNEngine", "BFFNModel", "CBlockFFNZlib"]),
        // Reports about a checkpoint for `bffn inspect` (human text and JSON).
        .target(name: "BFFNInspect", dependencies: ["BFFNModel", "BFFNCore", "BFFNCheckpoint", "BFFNPack", "BFFNKernels"]),
        // The API for apps and bindings: a model opened once and generated from many times (text, chats, ids; streamed
        // and cancellable), its tokenizer, and inspect/convert/verify returning what the CLI prints as JSON.
        .target(name: "BFFN", dependencies: ["BFFNChatTemplate", "BFFNCore", "BFFNCheckpoint", "BFFNEngine", "BFFNExpertStreaming", "BFFNInspect", "BFFNKernels",
                                             "BFFNModel", "BFFNPack", "BFFNPlot", "BFFNSafetensors", "BFFNSpeculative", "BFFNTokenizer", "BFFNVerify"]),
        // The C ABI (include/bffn.h): opaque handles, UTF-8 strings, error codes with a message, JSON for structured
        // values; exported from Swift with @_cdecl, nothing Swift crosses it. Its C half keeps each thread's last
        // error and frees what the interface allocated.
        .target(name: "CBlockFFNInterfaceState"),
        .target(name: "BFFNCInterface", dependencies: ["CBlockFFNInterfaceState", "BFFN", "BFFNCore", "BFFNCheckpoint", "BFFNEngine", "BFFNKernels", "BFFNPack", "BFFNSpeculative", "BFFNTokenizer", "BFFNVerify"]),
        // The example program of the API (Examples/Generate, under 40 lines): `swift run bffn-example`.
        .executableTarget(name: "bffn-example", dependencies: ["BFFN"], path: "Examples/Generate"),
        // `bffn serve`: an OpenAI-compatible HTTP server (Hummingbird) over N opened models, with a bounded queue,
        // cancellation on disconnect, API-key checks and Prometheus metrics; request and response bodies as JSONValue.
        .target(name: "BFFNServer", dependencies: ["BFFN", "BFFNChatTemplate", "BFFNCore", "BFFNEngine", "BFFNTokenizer",
                                                   .product(name: "Hummingbird", package: "hummingbird"),
                                                   .product(name: "NIOCore", package: "swift-nio"),
                                                   .product(name: "NIOHTTP1", package: "swift-nio")]),
        // The command-line tool: parses arguments and prints; the libraries do the work.
        .executableTarget(name: "bffn", dependencies: ["BFFN", "BFFNChatTemplate", "BFFNServer", "BFFNTokenizer", "BFFNPlot", "BFFNModel", "BFFNKernels", 
            "BFFNCore", "BFFNCheckpoint", "BFFNInspect", "BFFNEngine", "BFFNExpertStreaming", "BFFNSynth", "BFFNPack", "BFFNSpeculative", "BFFNVerify", "BFFNDeploy", "BFFNCalibration",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Fuzz targets, one per kind of untrusted input: scripts/fuzz.sh links them, instrumented, with a libFuzzer
        // entry point (scripts/fuzz/harness.swift); the tests replay the corpora and regressions through them. The
        // tool `bffn` does not contain them.
        .target(name: "BFFNFuzzTargets", dependencies: ["BFFNCore", "BFFNCheckpoint", "BFFNDeploy", "BFFNEngine", "BFFNModel", "BFFNPack",
                                                        "BFFNSafetensors", "BFFNTokenizer", "BFFNTorchZip", "BFFNVerify"]),

        // Helpers shared by the tests: fixture paths, temporary folders, file builders.
        .target(name: "BFFNTestSupport", dependencies: ["BFFNCore", "CBlockFFNZlib"], path: "Tests/BFFNTestSupport"),
        .testTarget(name: "BFFNCoreTests", dependencies: ["BFFNCore", "BFFNTestSupport"]),
        .testTarget(name: "BFFNSafetensorsTests", dependencies: ["BFFNCore", "BFFNSafetensors", "BFFNTestSupport"]),
        .testTarget(name: "BFFNTorchZipTests", dependencies: ["BFFNCore", "BFFNTorchZip", "BFFNTestSupport"]),
        .testTarget(name: "BFFNKernelsTests", dependencies: ["BFFNKernels", "BFFNCore", "BFFNTestSupport"]),
        .testTarget(name: "BFFNModelTests", dependencies: ["BFFNCore", "BFFNModel", "BFFNCheckpoint", "BFFNSafetensors", "BFFNTestSupport"]),
        .testTarget(name: "BFFNEngineTests", dependencies: ["BFFNModel", "BFFNCore", "BFFNCheckpoint", "BFFNEngine", "BFFNKernels", "BFFNSafetensors", "BFFNTestSupport"]),
        .testTarget(name: "BFFNSpeculativeTests", dependencies: ["BFFNCheckpoint", "BFFNSafetensors", "BFFNTorchZip", "BFFNModel", "BFFNCore", "BFFNSpeculative", "BFFNEngine", "BFFNPack", "BFFNTestSupport"]),
        .testTarget(name: "BFFNVerifyTests", dependencies: ["BFFNSafetensors", "BFFNModel", "BFFNCore", "BFFNVerify", "BFFNKernels", "BFFNSpeculative", "BFFNEngine", "BFFNPack", "BFFNTestSupport"]),
        .testTarget(name: "BFFNDeployTests", dependencies: ["BFFNCore", "BFFNDeploy", "BFFNExpertStreaming", "BFFNVerify", "BFFNEngine", "BFFNKernels", "BFFNModel", "BFFNPack", "BFFNTestSupport"]),
        .testTarget(name: "BFFNSynthTests", dependencies: ["BFFNModel", "BFFNCore", "BFFNSynth", "BFFNEngine", "BFFNCheckpoint", "BFFNTestSupport"]),
        .testTarget(name: "BFFNPackTests", dependencies: ["BFFNModel", "BFFNCore", "BFFNPack", "BFFNEngine", "BFFNKernels", "BFFNCheckpoint", "BFFNSafetensors", "BFFNSynth",
                                                        "BFFNTorchZip", "BFFNTestSupport"]),
        .testTarget(name: "BFFNCalibrationTests", dependencies: ["BFFNCalibration", "BFFNCore", "BFFNEngine", "BFFNModel", "BFFNPack", "BFFNSafetensors",
                                                               "BFFNTestSupport"]),
        // The repository's own rules (the module graph, no references outside the repository).
        .testTarget(name: "RepositoryTests", dependencies: ["BFFNCore", "BFFNTestSupport"]),
        .testTarget(name: "BFFNTokenizerTests", dependencies: ["BFFNTokenizer", "BFFNCore", "BFFNTestSupport", "CBlockFFNZlib"]),
        .testTarget(name: "BFFNChatTemplateTests", dependencies: ["BFFNChatTemplate", "BFFNCore", "BFFNTestSupport"]),
        .testTarget(name: "BFFNFuzzTargetsTests", dependencies: ["BFFNFuzzTargets", "BFFNCore", "BFFNTestSupport"]),
        .testTarget(name: "BFFNPlotTests", dependencies: ["BFFNPlot", "BFFNCheckpoint", "BFFNCore", "BFFNEngine", "BFFNModel", "BFFNTestSupport", "CBlockFFNZlib"]),
        .testTarget(name: "BFFNTests", dependencies: ["BFFN", "BFFNCore", "BFFNEngine", "BFFNSpeculative", "BFFNTokenizer", "BFFNTestSupport"]),
        .testTarget(name: "BFFNServerTests", dependencies: ["BFFNServer", "BFFN", "BFFNCore", "BFFNKernels", "BFFNPack", "BFFNTestSupport",
                                                          .product(name: "NIOCore", package: "swift-nio"),
                                                          .product(name: "NIOPosix", package: "swift-nio")]),
        .testTarget(name: "BFFNCommandLineTests", dependencies: ["bffn", "BFFNPack", "BFFNCheckpoint", "BFFNCore", "BFFNTestSupport"]),
    ],
    cxxLanguageStandard: .cxx17
)
