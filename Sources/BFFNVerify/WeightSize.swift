import BFFNModel
import BFFNPack

/// How many bits the verified model spends per weight: every stored weight byte (quantized rows with their scales
/// and offsets, float tensors, router and norms included) × 8 / the parameters, without and with the alignment
/// padding of a pack's expert blocks (formats/bfpk.md: each block is rounded up to the alignment).
public struct WeightSize: Sendable, Equatable {
    /// Weight parameters: every tensor's elements, a tied head counted once.
    public var parameters: Int
    /// Bytes of weight data, and the same with the expert blocks' padding.
    public var bytes: Int, paddedBytes: Int

    /// Bits per weight without padding.
    public var bitsPerWeight: Double { parameters > 0 ? Double(bytes) * 8 / Double(parameters) : 0 }
    /// Bits per weight with the expert blocks' padding.
    public var paddedBitsPerWeight: Double { parameters > 0 ? Double(paddedBytes) * 8 / Double(parameters) : 0 }

    /// The sizes of `weights`, opened from `path` (a pack's expert block size comes from its manifest).
    /// - Throws: the pack reader's errors.
    public static func of(_ weights: ModelWeights, path: String) throws -> WeightSize {
        var parameters = weights.denseTensors.reduce(0) { $0 + $1.matrix.rows * $1.matrix.cols }
        var expertBlocks = 0
        for lw in weights.layers {
            guard let x = lw.experts else { continue }
            parameters += (x.up + x.down).reduce(0) { $0 + $1.rows * $1.cols }
            expertBlocks += x.up.count
        }
        var padding = 0
        if PackFile.isPack(path: path), let block = try PackFile(path: path).manifest["experts"]?["block_bytes"]?.intValue {
            padding = expertBlocks * max(0, Int(block) - weights.bytesPerExpert)
        }
        return WeightSize(parameters: parameters, bytes: weights.weightBytes, paddedBytes: weights.weightBytes + padding)
    }
}
