import BFFNCore
import Testing

/// The error object every `--json` command prints on failure comes from `BFFNError.json`.
@Suite("error JSON")
struct ErrorJSONTests {
    @Test func spellsCodeReasonAndLocation() {
        let e = BFFNError(.checksumMismatch, "bad block", file: "m.bfpk", field: "experts.blocks", offset: 4096).json
        #expect(e.objectMembers?.map(\.key) == ["error"])
        #expect(e["error"]?.objectMembers?.map(\.key) == ["code", "reason", "file", "field", "offset"])
        #expect(e["error"]?["code"] == .string("checksum_mismatch") && e["error"]?["reason"] == .string("bad block"))
        #expect(e["error"]?["file"] == .string("m.bfpk") && e["error"]?["field"] == .string("experts.blocks") && e["error"]?["offset"] == .integer(4096))
        let bare = BFFNError(.internalError, "plan and file differ").json["error"]
        #expect(bare?["code"] == .string("internal") && bare?["file"] == .null && bare?["field"] == .null && bare?["offset"] == .null)
    }
}
