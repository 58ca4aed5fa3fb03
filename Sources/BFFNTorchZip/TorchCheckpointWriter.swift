import BFFNCore

/// Writes the `torch.save` zip format (what `pytorch_model.bin` files are) without PyTorch, streaming one
/// tensor at a time so memory stays bounded whatever the model size.
///
/// Layout, as torch writes it: `FOLDER/data.pkl` (a protocol-2 pickle of an OrderedDict name →
/// `torch._utils._rebuild_tensor_v2(('storage', torch.<Type>Storage, KEY, 'cpu', NUMEL), 0, size, stride, False,
/// OrderedDict())`), `FOLDER/byteorder` (`little`), `FOLDER/data/KEY` (stored, 64-byte aligned through the local
/// extra field), `FOLDER/version`. Zip64 records are added when an offset or size passes 4 GiB. Each local
/// header's CRC-32 is patched in after its data is streamed. The file appears under its final name only when
/// complete (`AtomicFileWriter`).
public final class TorchCheckpointWriter {
    /// One tensor to declare up front: name, dtype (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL) and shape.
    public struct Declaration {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public init(name: String, dtype: DType, shape: [Int]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }
    }

    struct Central {
        var name: [UInt8]
        var crc: UInt32
        var size: UInt64
        var offset: UInt64
    }

    private let out: AtomicFileWriter
    private let folder: String
    private let declarations: [Declaration]
    private var central: [Central] = []
    private var next = 0

    static let storageClass: [DType: String] = [
        .f64: "DoubleStorage", .f32: "FloatStorage", .f16: "HalfStorage", .bf16: "BFloat16Storage", .i64: "LongStorage",
        .i32: "IntStorage", .i16: "ShortStorage", .i8: "CharStorage", .u8: "ByteStorage", .bool: "BoolStorage",
    ]

    /// Starts a file at `path` holding `tensors` (their bytes follow through `writeTensor`, in this order).
    /// - Throws: `.outputExists` without `overwrite`, `.unsupported` for a dtype torch has no storage class for.
    public init(path: String, tensors: [Declaration], folder: String = "pytorch_model", overwrite: Bool) throws {
        for t in tensors where TorchCheckpointWriter.storageClass[t.dtype] == nil {
            throw BFFNError(.unsupported, "torch.save has no storage class for \(t.dtype.rawValue)", field: t.name)
        }
        out = try AtomicFileWriter(path: path, overwrite: overwrite)
        self.folder = folder
        declarations = tensors
        try addEntry("\(folder)/data.pkl", TorchCheckpointWriter.pickle(tensors))
        try addEntry("\(folder)/byteorder", Array("little".utf8))
    }

    /// Streams the next declared tensor's bytes: `produce` is called with a writer and must pass exactly the
    /// tensor's byte count, in any number of pieces.
    /// - Throws: `.shapeMismatch` when the bytes produced differ from the declared size.
    public func writeTensor(_ produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let d = declarations[next]
        let expected = d.dtype.byteCount(elements: Shape.elementCount(d.shape) ?? 0) ?? 0
        let headerOffset = try beginEntry("\(folder)/data/\(next)", size: expected)
        var crc: UInt32 = 0
        var written: UInt64 = 0
        try produce { piece in
            crc = CRC32.checksum(piece, initial: crc)
            written += UInt64(piece.count)
            try out.write(piece)
        }
        guard written == expected else {
            throw BFFNError(.shapeMismatch, "\(written) bytes written for a tensor of \(expected)", field: d.name)
        }
        var patch: [UInt8] = []
        append(&patch, crc)
        try out.overwrite(patch, at: headerOffset + 14)
        central[central.count - 1].crc = crc
        next += 1
    }

    /// Writes the remaining records and moves the file to its final name.
    /// - Throws: `.malformed` when fewer tensors were written than declared.
    public func finish() throws {
        guard next == declarations.count else {
            throw BFFNError(.malformed, "\(declarations.count - next) declared tensors were not written")
        }
        try addEntry("\(folder)/version", Array("3\n".utf8))
        let cdOffset = out.bytesWritten
        var cd: [UInt8] = []
        for c in central {
            let big = c.size >= 0xFFFF_FFFF || c.offset >= 0xFFFF_FFFF
            var extra: [UInt8] = []
            if big {
                append(&extra, UInt16(1)); append(&extra, UInt16(24))
                append(&extra, c.size); append(&extra, c.size); append(&extra, c.offset)
            }
            append(&cd, UInt32(0x0201_4B50)); append(&cd, UInt16(big ? 45 : 20)); append(&cd, UInt16(big ? 45 : 20))
            append(&cd, UInt16(0)); append(&cd, UInt16(0)); append(&cd, UInt32(0)); append(&cd, c.crc)
            append(&cd, big ? UInt32.max : UInt32(c.size)); append(&cd, big ? UInt32.max : UInt32(c.size))
            append(&cd, UInt16(c.name.count)); append(&cd, UInt16(extra.count)); append(&cd, UInt16(0))
            append(&cd, UInt16(0)); append(&cd, UInt16(0)); append(&cd, UInt32(0))
            append(&cd, big ? UInt32.max : UInt32(c.offset))
            cd += c.name
            cd += extra
        }
        try out.write(cd)
        let needZip64 = cdOffset >= 0xFFFF_FFFF || central.count >= 0xFFFF
        var end: [UInt8] = []
        if needZip64 {
            let recordOffset = out.bytesWritten
            append(&end, UInt32(0x0606_4B50)); append(&end, UInt64(44)); append(&end, UInt16(45)); append(&end, UInt16(45))
            append(&end, UInt32(0)); append(&end, UInt32(0)); append(&end, UInt64(central.count)); append(&end, UInt64(central.count))
            append(&end, UInt64(cd.count)); append(&end, cdOffset)
            append(&end, UInt32(0x0706_4B50)); append(&end, UInt32(0)); append(&end, recordOffset); append(&end, UInt32(1))
        }
        append(&end, UInt32(0x0605_4B50)); append(&end, UInt16(0)); append(&end, UInt16(0))
        append(&end, needZip64 ? UInt16.max : UInt16(central.count)); append(&end, needZip64 ? UInt16.max : UInt16(central.count))
        append(&end, needZip64 ? UInt32.max : UInt32(cd.count)); append(&end, needZip64 ? UInt32.max : UInt32(cdOffset))
        append(&end, UInt16(0))
        try out.write(end)
        try out.commit()
    }

    // MARK: - Records

    private func addEntry(_ name: String, _ data: [UInt8]) throws {
        let at = try beginEntry(name, size: UInt64(data.count))
        try out.write(data)
        let crc = CRC32.checksum(data)
        var patch: [UInt8] = []
        append(&patch, crc)
        try out.overwrite(patch, at: at + 14)
        central[central.count - 1].crc = crc
    }

    /// Writes a local header (CRC 0 for now) padded so the data starts on a 64-byte boundary; returns its offset.
    private func beginEntry(_ name: String, size: UInt64) throws -> UInt64 {
        let offset = out.bytesWritten
        let nameBytes = Array(name.utf8)
        let unpadded = offset + 30 + UInt64(nameBytes.count) + 4
        let pad = Int((64 - unpadded % 64) % 64)
        var h: [UInt8] = []
        append(&h, UInt32(0x0403_4B50)); append(&h, UInt16(20)); append(&h, UInt16(0)); append(&h, UInt16(0))
        append(&h, UInt32(0)); append(&h, UInt32(0))
        let small = UInt32(truncatingIfNeeded: min(size, 0xFFFF_FFFF))
        append(&h, small); append(&h, small)
        append(&h, UInt16(nameBytes.count)); append(&h, UInt16(4 + pad))
        h += nameBytes
        // Extra field 0x4246 ("FB", as torch uses) carrying alignment padding.
        append(&h, UInt16(0x4246)); append(&h, UInt16(pad))
        h += [UInt8](repeating: 0x5A, count: pad)
        try out.write(h)
        central.append(Central(name: nameBytes, crc: 0, size: size, offset: offset))
        return offset
    }

    private func append<T: FixedWidthInteger>(_ b: inout [UInt8], _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) }
    }

    /// The state-dict pickle torch.save writes for contiguous tensors, one storage each.
    static func pickle(_ tensors: [Declaration]) -> [UInt8] {
        var p: [UInt8] = [0x80, 2]
        func global(_ m: String, _ n: String) { p.append(UInt8(ascii: "c")); p += Array("\(m)\n\(n)\n".utf8) }
        func string(_ s: String) {
            p.append(UInt8(ascii: "X"))
            withUnsafeBytes(of: UInt32(s.utf8.count).littleEndian) { p += $0 }
            p += Array(s.utf8)
        }
        func int(_ v: Int) {
            if v >= 0 && v < 256 { p += [UInt8(ascii: "K"), UInt8(v)] }
            else if v >= 0 && v < 65536 { p.append(UInt8(ascii: "M")); withUnsafeBytes(of: UInt16(v).littleEndian) { p += $0 } }
            else if let i = Int32(exactly: v) { p.append(UInt8(ascii: "J")); withUnsafeBytes(of: i.littleEndian) { p += $0 } }
            else { p += [0x8A, 8]; withUnsafeBytes(of: Int64(v).littleEndian) { p += $0 } }
        }
        func tuple(_ items: [Int]) { p.append(UInt8(ascii: "(")); items.forEach(int); p.append(UInt8(ascii: "t")) }
        global("collections", "OrderedDict"); p += [UInt8(ascii: ")"), UInt8(ascii: "R"), UInt8(ascii: "(")]
        for (i, t) in tensors.enumerated() {
            string(t.name)
            global("torch._utils", "_rebuild_tensor_v2")
            p.append(UInt8(ascii: "("))
            p.append(UInt8(ascii: "("))
            string("storage"); global("torch", storageClass[t.dtype]!); string(String(i)); string("cpu")
            int(t.shape.reduce(1, *))
            p.append(UInt8(ascii: "t"))
            p.append(UInt8(ascii: "Q"))
            int(0)
            tuple(t.shape)
            var strides = [Int](repeating: 1, count: t.shape.count)
            if t.shape.count >= 2 { for k in stride(from: t.shape.count - 2, through: 0, by: -1) { strides[k] = strides[k + 1] * t.shape[k + 1] } }
            tuple(strides)
            p.append(0x89)
            global("collections", "OrderedDict"); p += [UInt8(ascii: ")"), UInt8(ascii: "R")]
            p.append(UInt8(ascii: "t"))
            p.append(UInt8(ascii: "R"))
        }
        p += [UInt8(ascii: "u"), UInt8(ascii: ".")]
        return p
    }
}
