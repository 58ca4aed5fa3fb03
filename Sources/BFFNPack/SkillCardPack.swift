import BFFNCore
import BFFNModel

/// A `.bfpk` holding one skill-card layer (formats/bfpk.md, "Skill-card layer packs"): the same header,
/// alignment and checksums as a model pack, the router, router-norm and LayerNorm tensors in the dense section,
/// and one aligned block per expert holding fc1 [de, H], fc2 [H, de], fc1's bias [de] and fc2's bias [H], all
/// float32. The manifest's `kind` is `skill_card_layer`.
public enum SkillCardPack {
    /// The manifest's `kind`.
    public static let kind = "skill_card_layer"

    /// Whether the pack at `path` holds a skill-card layer (its manifest's `kind`); false for anything unreadable.
    public static func isLayerPack(path: String) -> Bool {
        guard PackFile.isPack(path: path), let file = try? MappedFile(path: path), let header = try? PackHeader.parse(file.bytes, path: path) else { return false }
        guard header.manifestOffset + header.manifestLength <= UInt64(file.bytes.count) else { return false }
        let m = UnsafeRawBufferPointer(rebasing: file.bytes[Int(header.manifestOffset)..<Int(header.manifestOffset + header.manifestLength)])
        return (try? JSONValue.parse(m, file: path))?["kind"]?.stringValue == kind
    }

    /// Writes `layer` to `path` atomically (`overwrite` to replace a file), blocks aligned to `alignment`.
    /// Returns the file's size in bytes. The same layer and options give the same bytes.
    /// - Throws: `.outputExists` without `overwrite`; `.usage` for an alignment that is not a power of two in
    ///   64 ... 1 MiB; the writer's errors.
    @discardableResult
    public static func write(_ layer: SkillCardLayer, to path: String, alignment: Int = 4096, overwrite: Bool = false, sourceFiles: [JSONValue] = []) throws -> Int {
        guard PackHeader.isSupportedAlignment(alignment) else {
            throw BFFNError(.usage, "the alignment must be \(PackHeader.alignmentRule)", field: "align")
        }
        let H = layer.hiddenSize, E = layer.experts, de = layer.expertSize
        var file = [UInt8](repeating: 0, count: PackHeader.length)
        func pad(_ multiple: Int) { while file.count % multiple != 0 { file.append(0) } }
        func floats(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }   // little-endian on every platform bffn builds for
        pad(alignment)
        var tensors: [JSONValue] = []
        for (name, shape, values) in [(SkillCardLayer.Names.router, [E, H], layer.router), (SkillCardLayer.Names.routerNorm, [E], layer.routerNormWeight),
                                      (SkillCardLayer.Names.norm, [H], layer.normWeight), (SkillCardLayer.Names.normBias, [H], layer.normBias)] {
            pad(64)
            let bytes = floats(values)
            tensors.append(.object([("name", .string(name)), ("dtype", "F32"), ("shape", .array(shape.map { .integer($0) })),
                                    ("offset", .integer(file.count)), ("bytes", .integer(bytes.count)), ("crc32", .integer(CRC32.checksum(bytes)))]))
            file += bytes
        }
        pad(alignment)
        let expertOffset = file.count
        let dataBytes = 4 * (2 * de * H + de + H)
        let blockBytes = (dataBytes + alignment - 1) / alignment * alignment
        var crcs: [JSONValue] = []
        for e in 0..<E {
            let block = floats(layer.fc1[e]) + floats(layer.fc2[e]) + floats(layer.fc1Bias[e]) + floats(layer.fc2Bias[e])
            crcs.append(.integer(CRC32.checksum(block)))
            file += block
            file += [UInt8](repeating: 0, count: blockBytes - block.count)
        }
        pad(64)
        let manifest: JSONValue = .object([
            ("format", "bfpk"), ("version", 1), ("kind", .string(kind)),
            ("layer", .object([("hidden_size", .integer(H)), ("num_experts", .integer(E)), ("expert_size", .integer(de)),
                               ("sharpness", .double(layer.sharpness)), ("rms_norm_eps", .double(Double(SkillCardLayer.rmsNormEpsilon))),
                               ("layer_norm_eps", .double(Double(SkillCardLayer.layerNormEpsilon)))])),
            ("alignment", .integer(alignment)), ("tensors", .array(tensors)),
            ("experts", .object([("dtype", "F32"), ("expert_size", .integer(de)), ("hidden_size", .integer(H)), ("count", .integer(E)),
                                 ("offset", .integer(expertOffset)), ("block_bytes", .integer(blockBytes)),
                                 ("up_offset", 0), ("down_offset", .integer(4 * de * H)), ("up_bias_offset", .integer(8 * de * H)),
                                 ("down_bias_offset", .integer(8 * de * H + 4 * de)), ("blocks", .array(crcs))])),
            ("provenance", .object([("tool", "bffn"), ("source_files", .array(sourceFiles))])),
            ("attachments", .array([])),
        ])
        let manifestBytes = Array(manifest.serialized(pretty: false).utf8)
        let manifestOffset = file.count
        file += manifestBytes
        let header = PackHeader(manifestOffset: UInt64(manifestOffset), manifestLength: UInt64(manifestBytes.count),
                                manifestCRC: CRC32.checksum(manifestBytes), alignment: UInt32(alignment), fileLength: UInt64(file.count))
        file.replaceSubrange(0..<PackHeader.length, with: header.bytes)
        try writeFileAtomically(path, file, overwrite: overwrite)
        return file.count
    }

    /// Reads a skill-card layer pack, checking every CRC-32.
    /// - Throws: the header's errors; `.invalidJSON` naming a missing or wrong manifest field; `.outOfBounds` for a
    ///   tensor or block outside the data region; `.checksumMismatch` naming the tensor or expert; `.shapeMismatch`.
    public static func read(path: String) throws -> SkillCardLayer {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        let header = try PackHeader.parse(bytes, path: path)
        let at = header.manifestOffset
        let manifestBytes = UnsafeRawBufferPointer(rebasing: bytes[Int(at)..<Int(at + header.manifestLength)])
        guard CRC32.checksum(manifestBytes) == header.manifestCRC else {
            throw BFFNError(.checksumMismatch, "manifest CRC-32 does not match", file: path, field: "manifest", offset: at)
        }
        let m = try JSONValue.parse(manifestBytes, file: path, baseOffset: at, what: "manifest")
        func fail(_ key: String, _ why: String) -> BFFNError { BFFNError(.invalidJSON, why, file: path, field: key, offset: at) }
        guard m["kind"]?.stringValue == kind else { throw fail("kind", "not a skill-card layer pack") }
        func int(_ v: JSONValue?, _ key: String, max: Int64 = 1 << 20) throws -> Int {
            Int(try CheckedNumbers.integer(v, in: 0...max, file: path, field: key, offset: at) as Int64)
        }
        let layer = m["layer"], x = m["experts"]
        let H = try int(layer?["hidden_size"], "layer.hidden_size"), E = try int(layer?["num_experts"], "layer.num_experts", max: 1 << 16)
        let de = try int(layer?["expert_size"], "layer.expert_size")
        guard H > 0, E > 0, de > 0 else { throw fail("layer", "hidden_size, num_experts and expert_size must be positive") }
        guard let sharpness = layer?["sharpness"]?.numberValue, sharpness.isFinite else { throw fail("layer.sharpness", "sharpness must be a number") }
        /// `count` floats at absolute `offset`, inside the data region.
        func floats(_ offset: Int, _ count: Int, _ name: String) throws -> [Float] {
            guard offset >= PackHeader.length, offset % 4 == 0, UInt64(offset) + UInt64(count) * 4 <= at else {
                throw BFFNError(.outOfBounds, "\(count) floats at \(offset) are not inside the data region", file: path, field: name, offset: UInt64(offset))
            }
            return (0..<count).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4 * $0, as: UInt32.self))) }
        }
        var dense: [String: [Float]] = [:]
        for t in m["tensors"]?.arrayElements ?? [] {
            guard let name = t["name"]?.stringValue, t["dtype"]?.stringValue == "F32" else { throw fail("tensors", "a tensor lacks its name or is not F32") }
            let offset = try int(t["offset"], name + ".offset", max: 1 << 52), count = try int(t["bytes"], name + ".bytes", max: 1 << 40)
            let values = try floats(offset, count / 4, name)
            let crc: UInt32 = try CheckedNumbers.integer(t["crc32"], in: 0...UInt32.max, file: path, field: name + ".crc32", offset: at)
            guard CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])) == crc else {
                throw BFFNError(.checksumMismatch, "tensor CRC-32 does not match", file: path, field: name, offset: UInt64(offset))
            }
            dense[name] = values
        }
        func tensor(_ name: String) throws -> [Float] {
            guard let v = dense[name] else { throw BFFNError(.missingTensor, "tensor is missing from the manifest", file: path, field: name, offset: at) }
            return v
        }
        let offset = try int(x?["offset"], "experts.offset", max: 1 << 52), blockBytes = try int(x?["block_bytes"], "experts.block_bytes", max: 1 << 40)
        let blocks = x?["blocks"]?.arrayElements ?? []
        guard try int(x?["count"], "experts.count") == E, try int(x?["expert_size"], "experts.expert_size") == de,
              try int(x?["hidden_size"], "experts.hidden_size") == H, blocks.count == E, blockBytes >= 4 * (2 * de * H + de + H) else {
            throw fail("experts", "the expert geometry disagrees with 'layer' or the blocks are too small")
        }
        var fc1: [[Float]] = [], fc2: [[Float]] = [], b1: [[Float]] = [], b2: [[Float]] = []
        for e in 0..<E {
            let start = offset + e * blockBytes, n = 4 * (2 * de * H + de + H)
            guard start >= PackHeader.length, UInt64(start + n) <= at else {
                throw BFFNError(.outOfBounds, "expert block \(e) is not inside the data region", file: path, field: "expert \(e)", offset: UInt64(start))
            }
            let crc: UInt32 = try CheckedNumbers.integer(blocks[e], in: 0...UInt32.max, file: path, field: "experts.blocks", offset: at)
            guard CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + n)])) == crc else {
                throw BFFNError(.checksumMismatch, "expert block CRC-32 does not match", file: path, field: "expert \(e)", offset: UInt64(start))
            }
            fc1.append(try floats(start, de * H, "expert \(e) fc1"))
            fc2.append(try floats(start + 4 * de * H, H * de, "expert \(e) fc2"))
            b1.append(try floats(start + 8 * de * H, de, "expert \(e) fc1 bias"))
            b2.append(try floats(start + 8 * de * H + 4 * de, H, "expert \(e) fc2 bias"))
        }
        return try SkillCardLayer(hiddenSize: H, experts: E, expertSize: de, sharpness: sharpness, router: try tensor(SkillCardLayer.Names.router),
                                  routerNormWeight: try tensor(SkillCardLayer.Names.routerNorm), fc1: fc1, fc1Bias: b1, fc2: fc2, fc2Bias: b2,
                                  normWeight: try tensor(SkillCardLayer.Names.norm), normBias: try tensor(SkillCardLayer.Names.normBias))
    }

    /// `bffn convert --json` for a skill-card layer pack (docs/json.md, "convert (skill-card layer)").
    public static func json(output: String, fileBytes: Int, experts: Int) -> JSONValue {
        .object([("output", .string(output)), ("kind", "skill_card_layer"), ("file_bytes", .integer(fileBytes)),
                 ("experts", .integer(experts)), ("dtype", "F32")])
    }
}
