import BFFNCheckpoint
import BFFNCore
import BFFNModel
import BFFNTestSupport
import Testing

/// The architecture's JSON (a pack manifest's `architecture`) is written and read beside the type: every
/// fixture's architecture reads back equal, and what is missing or wrong is named.
@Suite("model architecture JSON")
struct ModelArchitectureJSONTests {
    func fail(_ field: String, _ reason: String) -> BFFNError { BFFNError(.invalidJSON, reason, field: field) }

    @Test(arguments: Fixtures.allModels)
    func readsBackEqual(_ folder: String) throws {
        let a = try Checkpoint(path: folder).recognize().architecture
        let json = a.json
        #expect(try ModelArchitecture(json: json, fail: fail) == a)
        // Through the serialized text, as a manifest carries it.
        #expect(try ModelArchitecture(json: JSONValue.parse(json.serialized(pretty: false)), fail: fail) == a)
        #expect(json["num_experts"] == .integer(a.numExperts) && json["hidden_size"] == .integer(a.hiddenSize))
        #expect((json["mla"] == .null) == (a.mla == nil))
    }

    /// `inspect --check --json`'s `check` object comes from the read report.
    @Test func aReadCheckSpellsWhatItRead() throws {
        let read = try Checkpoint(path: Fixtures.blockReference).readEveryTensor(threads: 2)
        let j = read.json
        #expect(j.objectMembers?.map(\.key) == ["passed", "tensors", "bytes_read", "seconds", "read_gb_per_s"])
        #expect(j["passed"] == .bool(true) && j["tensors"] == .integer(read.tensors) && j["bytes_read"] == .integer(read.bytes))
        #expect(read.tensors > 0 && read.bytes > 0 && j["read_gb_per_s"]?.numberValue == read.gigabytesPerSecond)
    }

    @Test func whatIsWrongIsNamed() throws {
        let a = try Checkpoint(path: Fixtures.blockReference).recognize().architecture
        func field(_ edit: (inout [JSONMember]) -> Void) -> String? {
            guard case .object(var m) = a.json else { return "not an object" }
            edit(&m)
            do {
                _ = try ModelArchitecture(json: .object(m), fail: fail)
                return nil
            } catch let e as BFFNError {
                return e.location.field
            } catch { return "\(error)" }
        }
        #expect(field { $0.removeAll { $0.key == "ffn_layout" } } == "architecture")
        #expect(field { m in m = m.map { $0.key == "hidden_size" ? JSONMember($0.key, .integer(-1)) : $0 } } == "architecture.hidden_size")
        #expect(field { m in m = m.map { $0.key == "mla" ? JSONMember($0.key, .object([("q_lora_rank", 8)])) : $0 } } == "architecture.mla")
        #expect(field { _ in } == nil)
        #expect(throws: BFFNError.self) { try ModelArchitecture(json: .array([]), fail: fail) }
    }
}
