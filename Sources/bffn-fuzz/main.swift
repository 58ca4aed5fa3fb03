// bffn-fuzz: a seeded mutation fuzzer for the untrusted-input parsers (safetensors header, zip reader,
// pickle interpreter, .bfpk header and manifest and running a valid pack, reference files, device profiles,
// token-sequence files, JSON). Not a test: run it with scripts/fuzz.sh for as long as you like.
//
// Usage: bffn-fuzz SECONDS SEED OUTDIR SEEDFILE...
// Each iteration takes a seed file, applies 1-8 random mutations (bit flips, byte sets, interesting
// integers at random or structure-aware offsets, truncation, chunk duplication/deletion), writes it to
// OUTDIR/current, and parses it with every reader that applies, reading every tensor's bytes. A thrown
// BFFNError is the expected outcome; a crash leaves OUTDIR/current behind as the reproducer. At the end it
// prints the execution count and how many inputs each error code classified.
import BFFNCheckpoint
import BFFNCore
import BFFNDeploy
import BFFNEngine
import BFFNModel
import BFFNVerify
import BFFNPack
import BFFNSafetensors
import BFFNTorchZip

#if canImport(Glibc)
import Glibc
#endif

struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
}

let args = CommandLine.arguments
guard args.count >= 5, let seconds = Double(args[1]), let seed = UInt64(args[2]) else {
    print("usage: bffn-fuzz SECONDS SEED OUTDIR SEEDFILE...")
    exit(2)
}
let outDir = args[3]
let seeds: [[UInt8]] = try args[4...].map { try MappedFile(path: $0).contents }
let current = outDir + "/current"
var rng = SplitMix(state: seed)
let interesting: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0xFFFF_FFFF, 0x7FFF_FFFF, 1 << 32, UInt64.max, UInt64.max / 2, 8, 64]

func mutate(_ input: [UInt8], _ rng: inout SplitMix) -> [UInt8] {
    var b = input
    for _ in 0..<(1 + rng.below(8)) {
        if b.isEmpty { b = [0]; continue }
        switch rng.below(9) {
        case 0: let i = rng.below(b.count); b[i] ^= UInt8(1 << rng.below(8))
        case 1: b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next())
        case 2, 3:
            let width = [1, 2, 4, 8][rng.below(4)]
            let v = interesting[rng.below(interesting.count)]
            // Favour the first 64 bytes and the last 120 (headers and zip end records).
            let region = rng.below(3)
            let i = region == 0 ? rng.below(min(64, b.count)) : region == 1 ? max(0, b.count - 1 - rng.below(min(120, b.count))) : rng.below(b.count)
            for k in 0..<width where i + k < b.count { b[i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
        case 4: b.removeSubrange(rng.below(b.count)...)
        case 5:
            let s = rng.below(b.count), n = min(rng.below(64) + 1, b.count - s)
            b.insert(contentsOf: b[s..<(s + n)], at: rng.below(b.count))
        case 6:
            let s = rng.below(b.count), n = min(rng.below(64) + 1, b.count - s)
            b.removeSubrange(s..<(s + n))
        case 7:
            // ASCII digit / JSON punctuation edits hit the safetensors header and config-like text.
            let chars = Array("0123456789{}[],:\"-e.".utf8)
            b[rng.below(b.count)] = chars[rng.below(chars.count)]
        default:
            let i = rng.below(b.count)
            b[i] = b[i] &+ UInt8(truncatingIfNeeded: rng.below(5)) &- 2
        }
    }
    return b
}

var executions = 0
var outcomes: [String: Int] = [:]
let deadline = Double(time(nil)) + seconds
while Double(time(nil)) < deadline {
    for _ in 0..<200 {
        let input = mutate(seeds[rng.below(seeds.count)], &rng)
        // Plain write (no fsync): the file is rewritten thousands of times a second.
        let fd = open(current, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = input.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        var outcome = "ok"
        for reader in 0..<7 {
            do {
                switch reader {
                case 0:
                    let f = try SafetensorsFile(path: current)
                    for e in f.entries { _ = CRC32.checksum(f.bytes(of: e)) }
                case 1:
                    let f = try TorchCheckpointFile(path: current)
                    for t in f.tensors { _ = try f.bytes(of: t).withBytes { CRC32.checksum($0) } }
                case 2:
                    let p = try PackFile(path: current)
                    try p.verifyChecksums()
                    _ = PackFile.isPack(path: current)
                case 3:
                    // A pack that validates must also load and run (shapes the manifest claims are trusted nowhere).
                    let w = try ModelWeights(pack: PackFile(path: current))
                    _ = try Engine(weights: w).forward([0, 1])
                case 4:
                    _ = try ReferenceFile(path: current)
                case 5:
                    let json = try MappedFile(path: current).withBytes { try JSONValue.parse($0, file: current) }
                    _ = try DeviceProfile(json: json, path: current)
                default:
                    _ = try TokenSequenceFile.read(path: current)
                }
            } catch let e as BFFNError {
                if reader < 4 && outcome == "ok" { outcome = e.code.rawValue }
            }
        }
        outcomes[outcome, default: 0] += 1
        executions += 1
    }
}
unlink(current)
print("executions \(executions) in \(Int(seconds)) s, no crash")
for (k, v) in outcomes.sorted(by: { $0.value > $1.value }) { print("  \(k): \(v)") }
