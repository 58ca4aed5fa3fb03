import BFFNCore
import BFFNFuzzTargets
import BFFNTestSupport
import Testing

/// Replays, through the fuzzers' own entry points, every seed of fixtures/fuzz/corpus (valid inputs: each is
/// accepted) and every input that ever made a fuzzer crash (fixtures/fuzz/regressions/TARGET/: each must now be a
/// clean error or accepted, never a crash).
@Suite("fuzz corpora and regressions", .serialized)
struct FuzzReplayTests {
    static func files(_ folder: String) -> [String] {
        ((try? Directory.names(in: folder)) ?? []).filter { !$0.hasPrefix(".") }.map { folder + "/" + $0 }
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
