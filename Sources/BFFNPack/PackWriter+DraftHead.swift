import BFFNCheckpoint
import BFFNCore
import BFFNKernels
import BFFNModel

extension PackWriter {
    /// Writes the EAGLE head at `folder` (and its reduced vocabulary `freq_<N>.pkl` when `vocabularySize` is given)
    /// after the attachments, each at a multiple of 64, and returns the manifest's `draft_head` value
    /// (formats/bfpk.md, "Draft head"). Tensors keep their dtype and bytes.
    /// - Throws: the head's loading errors; `.shapeMismatch` when its hidden size is not the target's; the draft
    ///   vocabulary's errors; `.unsupported` for a head tensor that is not F32, F16 or BF16; write errors.
    static func writeDraftHead(folder: String, vocabularySize: Int?, target: ModelWeights, to out: AtomicFileWriter) throws -> JSONValue {
        let checkpoint = try Checkpoint(path: folder)
        let head = try EagleHead(checkpoint: checkpoint)
        try head.check(targetHiddenSize: target.architecture.hiddenSize, file: checkpoint.primaryFile)
        var entries: [JSONValue] = []
        for (name, m) in head.namedMatrices {
            guard m.type.isFloat, m.rowStride == m.cols else {
                throw BFFNError(.unsupported, "draft head tensors must be F32, F16 or BF16", file: checkpoint.primaryFile, field: name)
            }
            try out.pad(toMultipleOf: 64)
            let offset = out.bytesWritten
            let bytes = UnsafeRawBufferPointer(start: m.base, count: m.byteCount)
            try out.write(bytes)
            let shape = m.rows == 1 ? [m.cols] : [m.rows, m.cols]
            entries.append(.object([("name", .string(name))] + m.type.manifestFields + [
                ("shape", .array(shape.map { .integer($0) })), ("offset", .integer(offset)),
                ("bytes", .integer(UInt64(m.byteCount))), ("crc32", .integer(CRC32.checksum(bytes)))]))
        }
        var vocabularyJSON: JSONValue = .null
        if let n = vocabularySize {
            let v = try DraftVocabulary.load(pickle: folder + "/freq_\(n).pkl", size: n, targetVocabulary: target.architecture.vocabSize)
            var raw = [UInt8]()
            raw.reserveCapacity(n * 4)
            for k in 0..<n { withUnsafeBytes(of: Int32(v.token(k)).littleEndian) { raw += $0 } }
            try out.pad(toMultipleOf: 64)
            let offset = out.bytesWritten
            try out.write(raw)
            vocabularyJSON = .object([("count", .integer(n)), ("offset", .integer(offset)), ("bytes", .integer(raw.count)),
                                      ("crc32", .integer(CRC32.checksum(raw)))])
        }
        return .object([("kind", "eagle"), ("config", checkpoint.config.raw), ("tensors", .array(entries)), ("vocabulary", vocabularyJSON),
                        ("source", .string(folder.split(separator: "/").last.map(String.init) ?? folder))])
    }
}
