import BFFNCore
import BFFNSafetensors
import BFFNTestSupport
import Testing

/// A hand-made header + data image, so tests can write exactly the malformation they test.
func image(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    var out: [UInt8] = []
    out.appendLE(declaredLength ?? UInt64(header.utf8.count))
    out += Array(header.utf8)
    out += data
    return out
}

func expectError(_ code: BFFNError.Code, field: String? = nil, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    let dir = TemporaryDirectory()
    do {
        let path = try dir.write("t.safetensors", bytes)
        _ = try SafetensorsFile(path: path)
        Issue.record("no error; expected \(code)", sourceLocation: sourceLocation)
    } catch let e as BFFNError {
        #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
        #expect(e.location.file?.hasSuffix("t.safetensors") == true, sourceLocation: sourceLocation)
        if let field { #expect(e.location.field == field, "\(e)", sourceLocation: sourceLocation) }
        #expect(e.location.offset != nil, "\(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("safetensors reader")
struct SafetensorsReaderTests {
    @Test func readsTheReferenceCheckpointExactlyAsNumpyDoes() throws {
        let f = try SafetensorsFile(path: Fixtures.blockReference + "/model.safetensors")
        let expected = try ExpectedTensor.load(Fixtures.blockReference + "/expected-tensors.json")
        #expect(f.entries.count == expected.count)
        for e in expected {
            let entry = try #require(f.entry(named: e.name))
            #expect(entry.dtype.rawValue == e.dtype)
            #expect(entry.shape == e.shape)
            let bytes = f.bytes(of: entry)
            #expect(bytes.count == e.bytes)
            #expect(CRC32.checksum(bytes) == e.crc32, "\(e.name)")
            for (i, v) in e.first.enumerated() {
                #expect(ScalarConversion.element(entry.dtype, bytes, i) == v)
            }
        }
    }

    @Test func everyDtypeRoundTripsThroughTheWriter() throws {
        let dir = TemporaryDirectory()
        var tensors: [SafetensorsWriter.Tensor] = []
        for d in DType.allCases {
            let count = d.bitWidth < 8 ? 8 : 3
            let n = Int(d.byteCount(elements: UInt64(count))!)
            tensors.append(.init(name: "t.\(d.rawValue)", dtype: d, shape: [count], bytes: (0..<n).map { UInt8(truncatingIfNeeded: $0 * 7 + d.bitWidth) }))
        }
        tensors.append(.init(name: "empty", dtype: .f32, shape: [0, 5], bytes: []))
        tensors.append(.init(name: "scalar", dtype: .f64, shape: [], bytes: [UInt8](repeating: 1, count: 8)))
        let path = dir.file("all.safetensors")
        try SafetensorsWriter.write(tensors, metadata: [("format", "pt")], to: path)
        let f = try SafetensorsFile(path: path)
        #expect(f.metadata.map(\.key) == ["format"])
        for t in tensors {
            let e = try #require(f.entry(named: t.name))
            #expect(e.dtype == t.dtype && e.shape == t.shape)
            #expect(Array(f.bytes(of: e)) == t.bytes)
        }
        // The header is padded to 8 bytes with spaces, as the reference writer does.
        #expect(f.dataStart % 8 == 0)
    }

    @Test func headerLengthPastTheEndOfTheFile() {
        expectError(.truncated, field: "header length", image(header: "{}", declaredLength: 4096))
    }

    @Test func headerLengthBeyondTheBound() {
        expectError(.limitExceeded, field: "header length", image(header: "{}", declaredLength: 200_000_000))
    }

    @Test func fileShorterThanTheLengthField() {
        expectError(.truncated, [1, 2, 3])
    }

    @Test func headerThatIsNotAnObject() {
        expectError(.invalidJSON, image(header: "[1, 2]   "))
        expectError(.invalidJSON, image(header: "  {}    "))
        expectError(.truncated, image(header: "{\"a\": 1"))
    }

    @Test func duplicateTensorNames() {
        let h = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#
        expectError(.duplicateName, field: "a", image(header: h, data: [0, 0]))
    }

    @Test func unknownDtype() {
        expectError(.unknownDType, field: "a", image(header: #"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, data: [0]))
    }

    @Test func shapeThatLiesAboutTheByteRange() {
        expectError(.shapeMismatch, field: "a", image(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        expectError(.shapeMismatch, field: "a", image(header: #"{"a":{"dtype":"F32","shape":[4611686018427387904, 8],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        expectError(.shapeMismatch, field: "a", image(header: #"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}"#, data: [0]))
    }

    @Test func offsetsOutOfRangeOverlappingOrLeavingGaps() {
        expectError(.truncated, field: "a", image(header: #"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#, data: [0, 0]))
        let overlap = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#
        expectError(.badLayout, field: "b", image(header: overlap, data: [0, 0, 0]))
        let gap = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}"#
        expectError(.badLayout, field: "b", image(header: gap, data: [0, 0, 0]))
        expectError(.badLayout, image(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [0, 9]))
        expectError(.badLayout, field: "a", image(header: #"{"a":{"dtype":"U8","shape":[0],"data_offsets":[3,1]}}"#, data: [0, 0, 0]))
    }

    @Test func badFieldTypes() {
        expectError(.invalidJSON, field: "a", image(header: #"{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}"#, data: [0]))
        expectError(.invalidJSON, field: "a", image(header: #"{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}"#, data: [0]))
        expectError(.invalidJSON, field: "a", image(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}}"#, data: [0]))
        expectError(.invalidJSON, field: "a", image(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}"#, data: [0]))
        expectError(.invalidJSON, field: "a", image(header: #"{"a":[1]}"#))
    }

    @Test func metadataMustMapStringsToStrings() {
        expectError(.invalidJSON, field: "__metadata__.n", image(header: #"{"__metadata__":{"n":1}}"#))
        expectError(.invalidJSON, field: "__metadata__", image(header: #"{"__metadata__":"x"}"#))
    }

    @Test func truncationInEveryRegionIsAnErrorNeverACrash() throws {
        let whole = try Fixtures.bytes(Fixtures.blockReference + "/model.safetensors")
        let dir = TemporaryDirectory()
        // Every length inside the length field and the header, then a stride through the data section.
        let headerEnd = 8 + Int(whole.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var lengths = Array(0..<min(headerEnd + 16, whole.count))
        lengths += stride(from: headerEnd + 16, to: whole.count, by: 997)
        lengths.append(whole.count - 1)
        for n in lengths {
            let path = try dir.write("cut.safetensors", Array(whole[0..<n]))
            #expect(throws: BFFNError.self, "length \(n)") { _ = try SafetensorsFile(path: path) }
        }
    }
}
