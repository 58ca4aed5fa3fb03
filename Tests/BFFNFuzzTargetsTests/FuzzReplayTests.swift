import BFFNCore
import BFFNFuzzTargets
import BFFNTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Replays, through the fuzzers' own entry points, every seed of fixtures/fuzz/corpus (valid inputs: each is
/// accepted) and every input that ever made a fuzzer crash (fixtures/fuzz/regressions/TARGET/: each must now be a
/// clean error or accepted, never a crash).
@Suite("fuzz corpora and regressions", .serialized)
struct FuzzReplayTests {
    static func files(_ folder: String) -> [String] {
        guard let d = opendir(folder) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { out.append(folder + "/" + name) }
        }
        return out.sorted()
    }

    @Test(arguments: FuzzTarget.allCases)
    func seedsAreAcceptedAndRegressionsAreCleanErrors(_ target: FuzzTarget) throws {
        let seeds = Self.files(Fixtures.path("fuzz/corpus/" + target.rawValue))
        #expect(!seeds.isEmpty, "no seeds for \(target.rawValue)")
        for seed in seeds {
            let error = target.run(try Fixtures.bytes(seed))
            if target == .shardIndex {
                #expect(error?.code == .io, "\(seed): \(String(describing: error))")   // the shards it names are not beside it
            } else {
                #expect(error == nil, "\(seed): \(String(describing: error))")
            }
        }
        for input in Self.files(Fixtures.path("fuzz/regressions/" + target.rawValue)) {
            _ = target.run(try Fixtures.bytes(input))   // returning at all is the assertion: these once crashed
        }
        FuzzTarget.cleanUp()
    }
}
