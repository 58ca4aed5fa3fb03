import BFFNCore
import BFFNTestSupport
import Testing

@Suite("memory budget commands", .serialized)
struct MemoryBudgetCommandTests {
    @Test func generateWithinABudgetGivesTheSameTokens() throws {
        let dir = TemporaryDirectory()
        let pack = dir.file("m.bfpk")
        #expect(try runBFFN(["convert", Fixtures.trainedModel, "-o", pack, "--quant", "q8", "-q"]).status == 0)
        let args = ["generate", pack, "--prompt", "The list type is", "--max-new-tokens", "24", "--json"]
        let plain = try JSONValue.parse(try runBFFN(args).stdout)
        let r = try runBFFN(args + ["--memory-budget", "12M"])
        #expect(r.status == 0, "\(r.stderr)")
        let budget = try JSONValue.parse(r.stdout)
        #expect(budget["generated_ids"] == plain["generated_ids"] && budget["text"] == plain["text"])
        let m = try #require(budget["memory"])
        #expect(plain["memory"] == .null)
        #expect((m["capacity_blocks"]?.intValue ?? 0) < 224 && (m["blocks_read"]?.intValue ?? 0) > 0 && (m["hit_rate"]?.numberValue ?? 2) < 1)
        let small = try runBFFN(["generate", pack, "--prompt", "x", "--memory-budget", "4M"])
        #expect(small.status == 1 && small.stderr.contains("budget_exceeded") && small.stderr.contains("bytes are needed"), "\(small.stderr)")
        // verify within the budget: the same figures, and the cache's.
        let v = ["verify", pack, "--reference", Fixtures.trainedModel, "--prompts", Fixtures.trainedModel + "/prompts.txt", "--speculative", "none", "--json"]
        let free = try JSONValue.parse(try runBFFN(v).stdout), bounded = try JSONValue.parse(try runBFFN(v + ["--memory-budget", "12M"]).stdout)
        #expect(free["mean_kld"] == bounded["mean_kld"] && free["max_abs_logit_error"] == bounded["max_abs_logit_error"] && bounded["passed"] == true)
        #expect(free["memory"] == .null && (bounded["memory"]?["blocks_read"]?.intValue ?? 0) > 0)
        let checkpoint = try runBFFN(["generate", Fixtures.trainedModel, "--prompt", "x", "--memory-budget", "12M"])
        #expect(checkpoint.status == 2 && checkpoint.stderr.contains("convert the checkpoint first"), "\(checkpoint.stderr)")
    }
}
