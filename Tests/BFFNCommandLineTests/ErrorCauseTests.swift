import BFFNCore
import BFFNTestSupport
import Testing

/// Errors say what really went wrong, with one code per cause.
@Suite("errors keep their cause", .serialized)
struct ErrorCauseTests {
    @Test func theSystemsReasonAndTheFilesRole() throws {
        let dir = TemporaryDirectory()
        let missing = try runBFFN(["inspect", dir.file("nowhere")])
        #expect(missing.status == 1 && missing.stderr.contains("No such file or directory"), "\(missing.stderr)")
        let plain = try dir.write("plain.txt", text: "x")
        let notFolder = try runBFFN(["inspect", plain + "/model.safetensors"])
        #expect(notFolder.status == 1 && notFolder.stderr.contains("Not a directory") && !notFolder.stderr.contains("No such"), "\(notFolder.stderr)")
        let config = try runBFFN(["inspect", Fixtures.blockLinearReference + "/config.json", "--json"])
        #expect(config.status == 1 && config.stderr.contains("config.json, not its weights"), "\(config.stderr)")
        #expect(try JSONValue.parse(config.stdout)["error"]?["code"] == "unsupported")
    }

    @Test func aPackGivenToConvertSaysHowToReconvert() throws {
        let dir = TemporaryDirectory()
        let pack = dir.file("m.bfpk")
        #expect(try runBFFN(["convert", Fixtures.blockLinearReference, "-o", pack]).status == 0)
        let again = try runBFFN(["convert", pack, "-o", dir.file("again.bfpk"), "--quant", "q8"])
        #expect(again.status == 1 && again.stderr.contains("already a .bfpk pack") && again.stderr.contains("bffn export"), "\(again.stderr)")
    }

    @Test func aCutShortArchiveIsTruncatedLikeEveryOtherFormat() throws {
        let dir = TemporaryDirectory()
        let whole = try Fixtures.bytes(Fixtures.blockLinearReference + "/pytorch_model.bin")
        let cut = try dir.write("pytorch_model.bin", Array(whole.prefix(whole.count / 2)))
        let r = try runBFFN(["inspect", cut, "--json"])
        #expect(r.status == 1 && r.stderr.contains("cut short"), "\(r.stderr)")
        #expect(try JSONValue.parse(r.stdout)["error"]?["code"] == "truncated")
        let st = try Fixtures.bytes(Fixtures.blockReference + "/model.safetensors")
        let cutST = try dir.write("cut.safetensors", Array(st.prefix(st.count / 2)))
        #expect(try JSONValue.parse(try runBFFN(["inspect", cutST, "--json"]).stdout)["error"]?["code"] == "truncated")
    }

    @Test func aMistypedCommandGetsASuggestion() throws {
        let r = try runBFFN(["inpsect", Fixtures.blockLinearReference])
        #expect(r.status == 2 && r.stderr.contains("Did you mean 'bffn inspect'?"), "\(r.stderr)")
        #expect(!(try runBFFN(["frobnicate"])).stderr.contains("Did you mean"))
    }
}
