import BFFN
import BFFNCore
import BFFNTestSupport
import Testing

/// TensorFile reads every tensor of the published checkpoints as the PyTorch code wrote them: the names, dtypes,
/// shapes, byte counts and CRC-32s that code recorded in expected-tensors.json.
@Suite("TensorFile") struct TensorFileTests {
    @Test(arguments: [("mla-block-rms-bf16", "model.safetensors"), ("mla-blocklinear-rms-bf16-bin", "pytorch_model.bin")])
    func everyTensorAsThePublishedCodeWroteIt(_ folder: String, _ file: String) throws {
        let expected = try JSONValue.parse(String(decoding: Fixtures.bytes(Fixtures.path("reference/\(folder)/expected-tensors.json")), as: UTF8.self))
        let list = try #require(expected["tensors"]?.arrayElements)
        for path in [Fixtures.path("reference/\(folder)"), Fixtures.path("reference/\(folder)/\(file)")] {
            let tensors = try TensorFile(path: path)
            #expect(tensors.tensors.map(\.name) == list.compactMap { $0["name"]?.stringValue }.sorted())
            for t in tensors.tensors {
                let e = try #require(list.first { $0["name"]?.stringValue == t.name })
                let bytes = try tensors.bytes(of: t)
                #expect(t.dtype.rawValue == e["dtype"]?.stringValue && t.shape.map { Int64($0) } == e["shape"]?.arrayElements?.compactMap(\.intValue))
                #expect(Int64(bytes.bytes.count) == e["bytes"]?.intValue)
                #expect(Int64(CRC32.checksum(bytes.bytes)) == e["crc32"]?.intValue, "\(t.name)")
            }
        }
    }

    /// A lone safetensors file that is not a model (a reference-output file) is read as well.
    @Test func anySafetensorsFile() throws {
        let tensors = try TensorFile(path: Fixtures.path("reference/mla-block-rms-bf16/reference.safetensors"))
        #expect(tensors.tensors.contains { $0.name == "input_ids" && $0.dtype == .i64 })
        #expect(throws: BFFNError.self) { try TensorFile(path: Fixtures.path("reference/nonexistent.safetensors")) }
    }
}
