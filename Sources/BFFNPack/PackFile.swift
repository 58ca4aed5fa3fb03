import BFFNCheckpoint
import BFFNCore
import BFFNKernels
import BFFNModel

/// A `.bfpk` file opened for reading: header and manifest validated, data memory-mapped (formats/bfpk.md).
public final class PackFile: @unchecked Sendable {
    /// One dense tensor of the manifest.
    public struct DenseTensor: Sendable {
        public var name: String
        /// The storage type (F32, F16, BF16, Q8, Q4).
        public var storage: StorageType
        public var shape: [Int]
        public var offset: UInt64
        public var bytes: UInt64
        public var crc32: UInt32
    }

    /// The expert block table.
    public struct Experts: Sendable {
        /// Storage of the up rows and of the down rows.
        public var upStorage: StorageType
        public var downStorage: StorageType
        public var expertSize: Int
        public var hiddenSize: Int
        public var layers: Int
        public var count: Int
        public var offset: UInt64
        public var blockBytes: UInt64
        /// Slots per layer in the resident section (the rest are in the streamed section after it); `count`
        /// when the pack is not split.
        public var residentCount: Int
        /// Per layer: the source expert stored in each slot.
        public var order: [[Int]]
        /// Per layer, per slot: CRC-32 of the block's data bytes.
        public var blockCRCs: [[UInt32]]
        /// Bytes of data in a block (up and down parts).
        public var upBytes: UInt64 { UInt64(expertSize * upStorage.rowBytes(cols: hiddenSize)) }
        public var dataBytes: UInt64 { upBytes + UInt64(hiddenSize * downStorage.rowBytes(cols: expertSize)) }
        /// Absolute offset of the block of `layer`, `slot`: the resident section holds slots 0..<residentCount of
        /// every layer (layer-major), the streamed section the other slots (layer-major).
        public func blockOffset(layer: Int, slot: Int) -> UInt64 {
            if slot < residentCount { return offset + UInt64(layer * residentCount + slot) * blockBytes }
            let streamed = count - residentCount
            return offset + UInt64(layers * residentCount + layer * streamed + slot - residentCount) * blockBytes
        }
        /// Bytes of the resident and of the streamed section.
        public var residentBytes: UInt64 { UInt64(layers * residentCount) * blockBytes }
        public var streamedBytes: UInt64 { UInt64(layers * (count - residentCount)) * blockBytes }
    }

    /// One attachment.
    public struct Attachment: Sendable {
        public var name: String
        public var offset: UInt64
        public var bytes: UInt64
        public var crc32: UInt32
    }

    public let file: MappedFile
    public let header: PackHeader
    public let manifest: JSONValue
    public let config: ModelConfig
    public let architecture: ModelArchitecture
    public let tensors: [DenseTensor]
    public let experts: Experts?
    public let attachments: [Attachment]
    /// The EAGLE draft head the pack carries (formats/bfpk.md, "Draft head"), or nil.
    public let draftHead: DraftHeadSection?
    private let index: [String: Int]

    /// The path.
    public var path: String { file.path }

    /// Opens and validates `path` (checks 1-5 of formats/bfpk.md; `verifyChecksums` does check 6).
    /// - Throws: `BFFNError` naming the field, tensor or block and the byte offset.
    public init(path: String) throws {
        file = try MappedFile(path: path)
        let bytes = file.bytes
        header = try PackHeader.parse(bytes, path: path)
        let manifestBytes = UnsafeRawBufferPointer(rebasing: bytes[Int(header.manifestOffset)..<Int(header.manifestOffset + header.manifestLength)])
        guard CRC32.checksum(manifestBytes) == header.manifestCRC else {
            throw BFFNError(.checksumMismatch, "manifest CRC-32 does not match", file: path, field: "manifest", offset: header.manifestOffset)
        }
        let m = try JSONValue.parse(manifestBytes, file: path, baseOffset: header.manifestOffset, what: "manifest")
        manifest = m
        let at = header.manifestOffset
        func fail(_ key: String, _ why: String) -> BFFNError { BFFNError(.invalidJSON, why, file: path, field: key, offset: at) }
        guard m["format"]?.stringValue == "bfpk", m["version"]?.intValue == 1 else { throw fail("format", "manifest is not a bfpk version 1 manifest") }
        if m["kind"]?.stringValue == "skill_card_layer" {
            throw BFFNError(.unsupported, "this pack holds a skill-card layer, not a model (bffn inspect and bffn verify read it)", file: path, field: "kind", offset: at)
        }
        guard let cfg = m["config"], cfg.objectMembers != nil else { throw fail("config", "'config' must be an object") }
        config = try ModelConfig(json: cfg, path: path)
        architecture = try ModelArchitecture(json: m["architecture"], fail: fail)
        guard let ts = m["tensors"]?.arrayElements else { throw fail("tensors", "'tensors' must be an array") }
        let dataEnd = header.manifestOffset
        var tensors: [DenseTensor] = []
        var index: [String: Int] = [:]
        var ranges: [(Range<UInt64>, String)] = []
        for t in ts {
            let entry = try PackFile.tensorEntry(t, path: path, manifestOffset: at, dataEnd: dataEnd, section: "tensors")
            let name = entry.name
            if index[name] != nil { throw BFFNError(.duplicateName, "tensor listed twice", file: path, field: name, offset: at) }
            index[name] = tensors.count
            tensors.append(entry)
            ranges.append((entry.offset..<(entry.offset + entry.bytes), name))
        }
        var experts: Experts?
        if let x = m["experts"], x != .null {
            guard let upV = x["up"], let downV = x["down"], let de = x["expert_size"]?.intValue,
                  let H = x["hidden_size"]?.intValue, let L = x["layers"]?.intValue, let E = x["count"]?.intValue,
                  let off = x["offset"]?.intValue, let bb = x["block_bytes"]?.intValue, let orderV = x["order"]?.arrayElements,
                  let blocksV = x["blocks"]?.arrayElements, de > 0, H > 0, L > 0, E > 0, off >= 0, off < 1 << 52, bb > 0, bb < 1 << 40
            else { throw fail("experts", "'experts' lacks a field or has one of the wrong type") }
            let resident = x["resident_count"].map { $0.intValue ?? -1 } ?? E
            guard resident >= 0 && resident <= E else { throw fail("experts.resident_count", "resident_count must be 0...count") }
            let up = try StorageType(manifest: upV, file: path, field: "experts.up", offset: at)
            let down = try StorageType(manifest: downV, file: path, field: "experts.down", offset: at)
            guard de < 1 << 20, H < 1 << 20, L < 1 << 16, E < 1 << 16, up.fits(cols: Int(H)),
                  down.fits(cols: Int(de)) else {
                throw fail("experts", "expert geometry or group sizes are out of range")
            }
            let e = Experts(upStorage: up, downStorage: down, expertSize: Int(de), hiddenSize: Int(H), layers: Int(L), count: Int(E), offset: UInt64(off),
                            blockBytes: UInt64(bb), residentCount: Int(resident), order: try orderV.map { l in try (l.arrayElements ?? []).map { v in
                                try Int(CheckedNumbers.integer(v, in: 0...Int64(1 << 16), file: path, field: "experts.order", offset: at))
                            } },
                            blockCRCs: try blocksV.map { l in try (l.arrayElements ?? []).map { v in
                                try CheckedNumbers.integer(v, in: 0...UInt32.max, file: path, field: "experts.blocks", offset: at)
                            } })
            guard e.blockBytes >= e.dataBytes, e.blockBytes % UInt64(header.alignment) == 0, e.offset % UInt64(header.alignment) == 0 else {
                throw BFFNError(.malformed, "block_bytes \(bb) must hold \(e.dataBytes) data bytes and be a multiple of the alignment", file: path, field: "experts.block_bytes", offset: at)
            }
            let end = try CheckedNumbers.add(e.offset, try CheckedNumbers.multiply(UInt64(L * E), e.blockBytes, file: path, field: "experts.block_bytes", offset: at),
                                             file: path, field: "experts.offset", offset: at)
            guard end <= dataEnd else {
                throw BFFNError(.outOfBounds, "expert blocks end at \(end), past the data region (\(dataEnd))", file: path, field: "experts.offset", offset: e.offset)
            }
            guard e.order.count == e.layers, e.order.allSatisfy({ $0.sorted() == Array(0..<e.count) }) else {
                throw fail("experts.order", "order must list a permutation of 0..<\(E) for each of \(L) layers")
            }
            guard e.blockCRCs.count == e.layers, e.blockCRCs.allSatisfy({ $0.count == e.count }) else {
                throw fail("experts.blocks", "blocks must list \(E) CRCs for each of \(L) layers")
            }
            guard e.expertSize == architecture.expertSize, e.count == architecture.numExperts, e.layers == architecture.numLayers,
                  e.hiddenSize == architecture.hiddenSize else {
                throw fail("experts", "expert geometry disagrees with 'architecture'")
            }
            ranges.append((e.offset..<end, "expert blocks"))
            experts = e
        }
        var attachments: [Attachment] = []
        for a in m["attachments"]?.arrayElements ?? [] {
            guard let name = a["name"]?.stringValue else { throw fail("attachments", "an attachment entry lacks its name") }
            let off: UInt64 = try CheckedNumbers.integer(a["offset"], in: 0...(1 << 52), file: path, field: "attachments.\(name).offset", offset: at)
            let n: UInt64 = try CheckedNumbers.integer(a["bytes"], in: 0...(1 << 52), file: path, field: "attachments.\(name).bytes", offset: at)
            let crc: UInt32 = try CheckedNumbers.integer(a["crc32"], in: 0...UInt32.max, file: path, field: "attachments.\(name).crc32", offset: at)
            guard off + n <= dataEnd else { throw fail("attachments", "an attachment entry is out of range") }
            attachments.append(Attachment(name: name, offset: off, bytes: n, crc32: crc))
            ranges.append((UInt64(off)..<UInt64(off + n), "attachment \(name)"))
        }
        let draftHead = try PackFile.draftHeadSection(m["draft_head"], path: path, manifestOffset: at, dataEnd: dataEnd)
        for t in draftHead?.tensors ?? [] { ranges.append((t.offset..<(t.offset + t.bytes), "draft_head \(t.name)")) }
        if let v = draftHead?.vocabulary { ranges.append((v.offset..<(v.offset + v.bytes), "draft_head vocabulary")) }
        ranges.sort { $0.0.lowerBound < $1.0.lowerBound }
        for (a, b) in zip(ranges, ranges.dropFirst()) where a.0.upperBound > b.0.lowerBound {
            throw BFFNError(.badLayout, "overlaps \(a.1)", file: path, field: b.1, offset: b.0.lowerBound)
        }
        self.tensors = tensors
        self.index = index
        self.experts = experts
        self.attachments = attachments
        self.draftHead = draftHead
    }

    /// Bytes of every dense (non-expert) tensor together.
    public var denseBytes: UInt64 { tensors.reduce(0) { $0 + $1.bytes } }

    /// The dense tensor named `name`.
    public func tensor(named name: String) -> DenseTensor? { index[name].map { tensors[$0] } }

    /// The bytes at an absolute range (a view kept alive by this object).
    public func bytes(at offset: UInt64, count: UInt64) -> LoadedBytes {
        LoadedBytes(view: UnsafeRawBufferPointer(rebasing: file.bytes[Int(offset)..<Int(offset + count)]), owner: file)
    }

    /// Verifies every dense tensor, expert block and attachment CRC (check 6).
    /// - Throws: `.checksumMismatch` naming the first bad tensor, or layer and expert, and its byte offset.
    public func verifyChecksums() throws {
        for t in tensors {
            guard bytes(at: t.offset, count: t.bytes).withBytes({ CRC32.checksum($0) }) == t.crc32 else {
                throw BFFNError(.checksumMismatch, "tensor CRC-32 does not match", file: path, field: t.name, offset: t.offset)
            }
        }
        if let e = experts {
            for l in 0..<e.layers {
                for s in 0..<e.count {
                    let off = e.blockOffset(layer: l, slot: s)
                    guard bytes(at: off, count: e.dataBytes).withBytes({ CRC32.checksum($0) }) == e.blockCRCs[l][s] else {
                        throw BFFNError(.checksumMismatch, "expert block CRC-32 does not match (layer \(l), expert \(e.order[l][s]), slot \(s))",
                                        file: path, field: "layer \(l) expert \(e.order[l][s])", offset: off)
                    }
                }
            }
        }
        for t in draftHead?.tensors ?? [] {
            guard bytes(at: t.offset, count: t.bytes).withBytes({ CRC32.checksum($0) }) == t.crc32 else {
                throw BFFNError(.checksumMismatch, "draft head tensor CRC-32 does not match", file: path, field: "draft_head \(t.name)", offset: t.offset)
            }
        }
        for a in attachments + (draftHead?.vocabulary.map { [$0] } ?? []) {
            guard bytes(at: a.offset, count: a.bytes).withBytes({ CRC32.checksum($0) }) == a.crc32 else {
                throw BFFNError(.checksumMismatch, "attachment CRC-32 does not match", file: path, field: a.name, offset: a.offset)
            }
        }
    }

    /// Parses and range-checks one tensor entry of the manifest (`section` names its list in errors).
    /// - Throws: `.invalidJSON`, `.shapeMismatch` or `.outOfBounds` naming the tensor and offset.
    static func tensorEntry(_ t: JSONValue, path: String, manifestOffset at: UInt64, dataEnd: UInt64, section: String) throws -> DenseTensor {
        func fail(_ key: String, _ why: String) -> BFFNError { BFFNError(.invalidJSON, why, file: path, field: key, offset: at) }
        guard let name = t["name"]?.stringValue, let shapeV = t["shape"]?.arrayElements, t["offset"] != nil, t["bytes"] != nil, t["crc32"] != nil
        else { throw fail(section, "a tensor entry lacks name, dtype, shape, offset, bytes or crc32") }
        let off: Int64 = try CheckedNumbers.integer(t["offset"], in: 0...(1 << 52), file: path, field: name + ".offset", offset: at)
        let n: Int64 = try CheckedNumbers.integer(t["bytes"], in: 0...(1 << 52), file: path, field: name + ".bytes", offset: at)
        let crc: UInt32 = try CheckedNumbers.integer(t["crc32"], in: 0...UInt32.max, file: path, field: name + ".crc32", offset: at)
        let shape = try shapeV.map { v -> Int in
            guard let d = v.intValue, d >= 0, d < Int64(Int32.max) else { throw fail(name, "shape must hold non-negative integers") }
            return Int(d)
        }
        let storage = try StorageType(manifest: t, file: path, field: name, offset: at)
        guard let elements = Shape.elementCount(shape), elements < 1 << 48 else {
            throw BFFNError(.shapeMismatch, "shape \(Shape.describe(shape)) holds too many elements", file: path, field: name, offset: UInt64(off))
        }
        let cols = shape.count >= 2 ? shape.dropFirst().reduce(1, *) : (shape.first ?? 1)
        let rows = shape.count >= 2 ? shape[0] : 1
        guard elements >= 0, cols >= 0, UInt64(rows).multipliedReportingOverflow(by: UInt64(storage.rowBytes(cols: cols))) == (UInt64(n), false),
              storage.fits(cols: cols) else {
            throw BFFNError(.shapeMismatch, "shape \(Shape.describe(shape)) of \(t["dtype"]?.stringValue ?? "?") does not take \(n) bytes",
                            file: path, field: name, offset: UInt64(off))
        }
        guard UInt64(off) % 64 == 0, UInt64(off) >= 64, UInt64(off) + UInt64(n) <= dataEnd else {
            throw BFFNError(.outOfBounds, "bytes \(off) ..< \(off + n) are not a 64-aligned range inside the data region", file: path, field: name, offset: UInt64(off))
        }
        return DenseTensor(name: name, storage: storage, shape: shape, offset: UInt64(off), bytes: UInt64(n), crc32: crc)
    }
}
