import ArgumentParser
import BFFNCore
import BFFNDeploy
import BFFNEngine
import BFFNKernels
import BFFNPack
import BFFNSynth

// Every flag with a fixed set of values takes its library type, so the argument parser checks the value, lists the
// valid ones in --help and names them in its error (CONTRIBUTING, "A new command-line flag"). The spellings are
// the types' raw values: one list per choice, kept by the type.

/// `--activations auto|float|int8|bf16`.
extension ActivationPrecision: ExpressibleByArgument {}

/// `--kv-cache f32|bf16`.
extension KVCachePrecision: ExpressibleByArgument {}

/// `--ffn sparse|dense`.
extension FFNMode: ExpressibleByArgument {}

/// `convert --scale-search nearest|weighted`.
extension WeightQuantizer.ScaleSearch: ExpressibleByArgument {}

/// `export --layout block_linear|block`.
extension PackExporter.Layout: ExpressibleByArgument {}

/// `synth --preset tiny|small|medium|large|xlarge|3b`: a preset by name.
extension SynthPreset: ExpressibleByArgument {
    public init?(argument: String) {
        guard let preset = SynthPreset.all[argument] else { return nil }
        self = preset
    }
    public static var allValueStrings: [String] { SynthPreset.names }
    public static var defaultCompletionKind: CompletionKind { .list(SynthPreset.names) }
}

/// `synth --format safetensors|bin`.
extension SynthOptions.Format: ExpressibleByArgument {}

/// A float storage type a command writes every tensor in: `export --dtype` and `synth --dtype`
/// (case-insensitive).
enum FloatType: String, CaseIterable, ExpressibleByArgument {
    case f32, f16, bf16

    init?(argument: String) { self.init(rawValue: argument.lowercased()) }

    /// The checkpoint dtype.
    var dtype: DType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }
}

/// `pack --profile NAME|FILE`: a built-in device profile's name (the names of `DeviceProfile.builtIn`) or the path
/// of a profile file (it holds a / or ends in .json, as `DeviceProfile.named` reads it). Anything else is refused
/// by the argument parser, which lists the built-in names.
struct ProfileArgument: ExpressibleByArgument {
    /// The name or path as given.
    var nameOrPath: String

    /// The built-in profiles' names.
    static var builtInNames: [String] { DeviceProfile.builtIn.map(\.name) }

    init?(argument: String) {
        guard Self.builtInNames.contains(argument) || argument.contains("/") || argument.hasSuffix(".json") else { return nil }
        nameOrPath = argument
    }

    static var allValueStrings: [String] { builtInNames }

    static var defaultCompletionKind: CompletionKind { .list(builtInNames) }

    /// The profile: the built-in one, or the file read and checked.
    func load() throws -> DeviceProfile { try DeviceProfile.named(nameOrPath) }
}
