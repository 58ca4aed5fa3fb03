import BFFNCore
import CBlockFFNZlib

/// Builds zip archives for tests: stored or deflated entries, optional zip64 records, and hooks to corrupt
/// what a reader must catch. Independent of the reader under test (it shares only zlib's CRC and deflate).
public struct ZipBuilder {
    /// One entry to write.
    public struct Entry {
        public var name: String
        public var data: [UInt8]
        public var deflate: Bool
        /// Written into the directory instead of the real CRC when set.
        public var crcOverride: UInt32?
        /// Written into the directory instead of the real uncompressed size when set.
        public var sizeOverride: UInt64?
        public init(name: String, data: [UInt8], deflate: Bool = false, crcOverride: UInt32? = nil, sizeOverride: UInt64? = nil) {
            self.name = name
            self.data = data
            self.deflate = deflate
            self.crcOverride = crcOverride
            self.sizeOverride = sizeOverride
        }
    }

    public var entries: [Entry] = []
    /// Write zip64 end records and zip64 extra fields for every entry.
    public var zip64 = false
    /// Bytes of padding in each local header's extra field (torch aligns data to 64 bytes this way).
    public var localExtraPadding = 0

    public init(entries: [Entry] = [], zip64: Bool = false) {
        self.entries = entries
        self.zip64 = zip64
    }

    /// Raw deflate (no zlib header), as zip stores it.
    public static func rawDeflate(_ data: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        deflateInit2_(&stream, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(data.count))) + 16)
        var input = data
        input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o in
                stream.next_in = inp.baseAddress
                stream.avail_in = UInt32(inp.count)
                stream.next_out = o.baseAddress
                stream.avail_out = UInt32(o.count)
                _ = deflate(&stream, Z_FINISH)
            }
        }
        return Array(out[0..<Int(stream.total_out)])
    }

    /// The archive bytes.
    public func build() -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for e in entries {
            let crc = e.crcOverride ?? CRC32.checksum(e.data)
            let stored = e.deflate ? ZipBuilder.rawDeflate(e.data) : e.data
            let usize = e.sizeOverride ?? UInt64(e.data.count)
            let offset = UInt64(out.count)
            let name = Array(e.name.utf8)
            var zip64Extra: [UInt8] = []
            if zip64 {
                zip64Extra.appendLE(UInt16(1)); zip64Extra.appendLE(UInt16(24))
                zip64Extra.appendLE(usize); zip64Extra.appendLE(UInt64(stored.count)); zip64Extra.appendLE(offset)
            }
            // Local header.
            out.appendLE(UInt32(0x0403_4B50)); out.appendLE(UInt16(zip64 ? 45 : 20)); out.appendLE(UInt16(0))
            out.appendLE(UInt16(e.deflate ? 8 : 0)); out.appendLE(UInt32(0)); out.appendLE(crc)
            out.appendLE(zip64 ? UInt32.max : UInt32(stored.count)); out.appendLE(zip64 ? UInt32.max : UInt32(truncatingIfNeeded: usize))
            out.appendLE(UInt16(name.count)); out.appendLE(UInt16(localExtraPadding))
            out.append(contentsOf: name)
            out.append(contentsOf: [UInt8](repeating: 0, count: localExtraPadding))
            out.append(contentsOf: stored)
            // Central directory entry.
            central.appendLE(UInt32(0x0201_4B50)); central.appendLE(UInt16(zip64 ? 45 : 20)); central.appendLE(UInt16(zip64 ? 45 : 20))
            central.appendLE(UInt16(0)); central.appendLE(UInt16(e.deflate ? 8 : 0)); central.appendLE(UInt32(0)); central.appendLE(crc)
            central.appendLE(zip64 ? UInt32.max : UInt32(stored.count)); central.appendLE(zip64 ? UInt32.max : UInt32(truncatingIfNeeded: usize))
            central.appendLE(UInt16(name.count)); central.appendLE(UInt16(zip64Extra.count)); central.appendLE(UInt16(0))
            central.appendLE(UInt16(0)); central.appendLE(UInt16(0)); central.appendLE(UInt32(0))
            central.appendLE(zip64 ? UInt32.max : UInt32(offset))
            central.append(contentsOf: name)
            central.append(contentsOf: zip64Extra)
        }
        let cdOffset = UInt64(out.count)
        out.append(contentsOf: central)
        if zip64 {
            let recordOffset = UInt64(out.count)
            out.appendLE(UInt32(0x0606_4B50)); out.appendLE(UInt64(44)); out.appendLE(UInt16(45)); out.appendLE(UInt16(45))
            out.appendLE(UInt32(0)); out.appendLE(UInt32(0)); out.appendLE(UInt64(entries.count)); out.appendLE(UInt64(entries.count))
            out.appendLE(UInt64(central.count)); out.appendLE(cdOffset)
            out.appendLE(UInt32(0x0706_4B50)); out.appendLE(UInt32(0)); out.appendLE(recordOffset); out.appendLE(UInt32(1))
        }
        out.appendLE(UInt32(0x0605_4B50)); out.appendLE(UInt16(0)); out.appendLE(UInt16(0))
        out.appendLE(zip64 ? UInt16.max : UInt16(entries.count)); out.appendLE(zip64 ? UInt16.max : UInt16(entries.count))
        out.appendLE(zip64 ? UInt32.max : UInt32(central.count)); out.appendLE(zip64 ? UInt32.max : UInt32(cdOffset))
        out.appendLE(UInt16(0))
        return out
    }
}

/// Builds pickle byte streams opcode by opcode (protocol 2), for crafted `data.pkl` files.
public struct PickleBuilder {
    public var bytes: [UInt8] = [0x80, 2]
    public init() {}

    public mutating func global(_ module: String, _ name: String) { bytes.append(UInt8(ascii: "c")); bytes += Array("\(module)\n\(name)\n".utf8) }
    public mutating func string(_ s: String) { bytes.append(UInt8(ascii: "X")); bytes.appendLE(UInt32(s.utf8.count)); bytes += Array(s.utf8) }
    public mutating func int(_ v: Int) {
        if v >= 0 && v < 256 { bytes += [UInt8(ascii: "K"), UInt8(v)] }
        else if let small = Int32(exactly: v) { bytes.append(UInt8(ascii: "J")); bytes.appendLE(small) }
        else { bytes += [0x8A, 8]; bytes.appendLE(Int64(v)) } // LONG1, as pickle writes ints past 32 bits
    }
    public mutating func op(_ c: Character) { bytes.append(c.asciiValue!) }
    public mutating func raw(_ b: [UInt8]) { bytes += b }
    public mutating func mark() { op("(") }
    public mutating func tuple() { op("t") }
    public mutating func emptyTuple() { op(")") }
    public mutating func reduce() { op("R") }
    public mutating func stop() { op(".") }

    /// Pushes `_rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())`.
    public mutating func tensor(storageClass: String, key: String, numel: Int, offset: Int, size: [Int], stride: [Int]) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark(); string("storage"); global("torch", storageClass); string(key); string("cpu"); int(numel); tuple()
        op("Q")
        int(offset)
        mark(); for s in size { int(s) }; tuple()
        mark(); for s in stride { int(s) }; tuple()
        bytes.append(0x89)
        global("collections", "OrderedDict"); emptyTuple(); reduce()
        tuple()
        reduce()
    }

    /// A whole state dict `{name: tensor}` ending in STOP, each tensor a contiguous FloatStorage view.
    public static func stateDict(_ tensors: [(name: String, key: String, shape: [Int])]) -> [UInt8] {
        var p = PickleBuilder()
        p.global("collections", "OrderedDict"); p.emptyTuple(); p.reduce()
        p.mark()
        for t in tensors {
            p.string(t.name)
            var strides = [Int](repeating: 1, count: t.shape.count)
            for i in stride(from: t.shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * t.shape[i + 1] }
            p.tensor(storageClass: "FloatStorage", key: t.key, numel: t.shape.reduce(1, *), offset: 0, size: t.shape, stride: strides)
        }
        p.op("u")
        p.stop()
        return p.bytes
    }
}
