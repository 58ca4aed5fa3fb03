import Dispatch
import BFFNCore
import BFFNTestSupport
import Testing

@Suite("JSON through json-c")
struct JSONTests {
    @Test func parsesNestedValuesInOrder() throws {
        let v = try JSONValue.parse(#"{"b": [1, 2.5, "x", true, null], "a": {"k": -3}}"#)
        #expect(v.objectMembers?.map(\.key) == ["b", "a"])
        #expect(v["b"] == .array([.int(1), .double(2.5), .string("x"), .bool(true), .null]))
        #expect(v["a"]?["k"] == .int(-3))
    }

    @Test func rejectsTrailingBytes() {
        #expect(throws: BFFNError(.invalidJSON, "")) { try JSONValue.parse(#"{"a": 1} x"#) }
    }

    @Test func allowsTrailingSpacePadding() throws {
        #expect(try JSONValue.parse("{\"a\": 1}     \n")["a"] == .int(1))
    }

    @Test func truncatedTextIsTruncated() {
        #expect(throws: BFFNError(.truncated, "")) { try JSONValue.parse(#"{"a": [1, 2"#) }
    }

    @Test func duplicateKeysAreFoundAtAnyDepth() throws {
        do {
            _ = try JSONValue.parse(#"{"x": {"dtype": "F32", "dtype": "F16"}}"#)
            Issue.record("no error")
        } catch let e as BFFNError {
            #expect(e.code == .duplicateName)
            #expect(e.location.field == "x.dtype")
        }
        #expect(throws: BFFNError(.duplicateName, "")) { try JSONValue.parse(#"{"a": 1, "b": [{"c": 1}], "a": 2}"#) }
        // The same key in sibling objects is fine.
        _ = try JSONValue.parse(#"{"a": {"k": 1}, "b": {"k": 2}}"#)
    }

    /// json-c keeps keys as C strings, so "max_tokens\u0000x" read as "max_tokens" (scripts/fuzz-server-api.py): an
    /// unknown field of a server request became a known one. Keys holding U+0000 are refused; values may hold it.
    @Test func keysWithAnEscapedNULAreRefused() throws {
        #expect(throws: BFFNError(.invalidJSON, "")) { try JSONValue.parse(#"{"max_tokens\u0000x": "abc"}"#) }
        #expect(throws: BFFNError(.invalidJSON, "")) { try JSONValue.parse(#"{"a": [{"\u0000": 1}]}"#) }
        #expect(try JSONValue.parse(#"{"a\\u0000": "b\u0000c"}"#) == .object([("a\\u0000", "b\u{0}c")]))
    }

    /// json-c's UTF-8 check passed surrogates, overlong forms and code points beyond U+10FFFF (found by
    /// scripts/fuzz-server-api.py: a request key with ED A0 80 in it was read as U+FFFD).
    @Test func malformedUTF8IsRefusedEvenWhereJSONCPassesIt() throws {
        for bad: [UInt8] in [[0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF],
                             [0xF0, 0x80, 0x80, 0xAF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0x80], [0xE2, 0x82]] {
            for text in [Array(#"{"a": ""#.utf8) + bad + Array(#""}"#.utf8), Array(#"{""#.utf8) + bad + Array(#"": 1}"#.utf8)] {
                #expect(throws: BFFNError(.invalidJSON, ""), "\(bad)") { try text.withUnsafeBytes { try JSONValue.parse($0) } }
            }
        }
        // The edges of each range are accepted: U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF.
        let good = "\u{80}\u{7FF}\u{800}\u{D7FF}\u{E000}\u{FFFF}\u{10000}\u{10FFFF}"
        #expect(try JSONValue.parse(#"{"\#(good)": "\#(good)"}"#) == .object([(good, .string(good))]))
    }

    @Test func deepNestingIsBounded() {
        let deep = String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)
        #expect(throws: BFFNError(.limitExceeded, "")) { try JSONValue.parse(deep) }
    }

    @Test func integersBeyond64BitsAreRefused() {
        #expect(throws: BFFNError(.limitExceeded, "")) { try JSONValue.parse(#"{"n": 99999999999999999999999}"#) }
    }

    @Test func serialisationRoundTrips() throws {
        let v = JSONValue.object([("s", "a\"b/c"), ("n", 1e-05), ("w", 5.0), ("i", 42), ("l", [true, .null])])
        let text = v.serialized(pretty: false)
        #expect(text == #"{"s":"a\"b/c","n":1e-05,"w":5.0,"i":42,"l":[true,null]}"#)
        #expect(try JSONValue.parse(text) == v)
    }
}

@Suite("Checksums and scalar conversions")
struct ScalarTests {
    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func bf16RoundsToNearestEven() {
        #expect(ScalarConversion.floatToBF16(1.0) == 0x3F80)
        // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to the even one (1.0).
        #expect(ScalarConversion.floatToBF16(Float(bitPattern: 0x3F80_8000)) == 0x3F80)
        #expect(ScalarConversion.floatToBF16(Float(bitPattern: 0x3F81_8000)) == 0x3F82)
        #expect(ScalarConversion.floatToBF16(.nan) & 0x7FC0 == 0x7FC0)
        #expect(ScalarConversion.bf16ToFloat(0xC040) == -3.0)
    }

    @Test func fp8Decoding() {
        #expect(ScalarConversion.f8e4m3ToFloat(0x38) == 1.0)
        #expect(ScalarConversion.f8e4m3ToFloat(0x7E) == 448.0)
        #expect(ScalarConversion.f8e4m3ToFloat(0x7F).isNaN)
        #expect(ScalarConversion.f8e4m3ToFloat(0x01) == 0.001953125)
        #expect(ScalarConversion.f8e5m2ToFloat(0x3C) == 1.0)
        #expect(ScalarConversion.f8e5m2ToFloat(0xC0) == -2.0)
    }

    @Test func dtypeSizes() {
        #expect(DType.bf16.byteCount(elements: 3) == 6)
        #expect(DType.f4.byteCount(elements: 3) == nil)
        #expect(DType.f4.byteCount(elements: 4) == 2)
        #expect(DType.f64.byteCount(elements: UInt64.max / 4) == nil)
    }
}

@Suite("Atomic writes")
struct AtomicWriteTests {
    @Test func refusesToOverwriteWithoutPermissionAndLeavesNoTemporaryFile() throws {
        let path = "/tmp/bffn-atomic-\(UInt32.random(in: 0...UInt32.max))"
        try writeFileAtomically(path, [1, 2, 3])
        #expect(throws: BFFNError(.outputExists, "")) { try writeFileAtomically(path, [4], overwrite: false) }
        do {
            let w = try AtomicFileWriter(path: path, overwrite: true)
            try w.write([9, 9])
            // Dropped without commit: the old file stays.
        }
        #expect(try MappedFile(path: path).contents == [1, 2, 3])
        try writeFileAtomically(path, [4])
        #expect(try MappedFile(path: path).contents == [4])
    }

    /// Reserved ranges filled by positional writes from several threads, then ordinary appends after them.
    @Test func reservedRangesTakePositionalWritesFromSeveralThreads() throws {
        let dir = TemporaryDirectory()
        let w = try AtomicFileWriter(path: dir.file("out"), overwrite: false)
        try w.write([7, 7, 7])
        let first = try w.reserve(4000)
        #expect(first == 3 && w.bytesWritten == 4003)
        let shared = SharedForTest(w)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let piece = [UInt8](repeating: UInt8(i + 1), count: 500)
            piece.withUnsafeBytes { try! shared.writer.write($0, at: first + UInt64(i * 500)) }
            shared.writer.startWriteback(offset: first + UInt64(i * 500), length: 500)
        }
        try w.write([9])
        try w.commit()
        let expected: [UInt8] = [7, 7, 7] + (0..<8).flatMap { [UInt8](repeating: UInt8($0 + 1), count: 500) } + [9]
        #expect(try MappedFile(path: dir.file("out")).contents == expected)
    }
}

/// The writer handed to concurrent test closures (they write disjoint ranges).
struct SharedForTest: @unchecked Sendable {
    let writer: AtomicFileWriter
    init(_ w: AtomicFileWriter) { writer = w }
}
