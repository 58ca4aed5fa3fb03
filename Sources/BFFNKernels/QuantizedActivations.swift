import BFFNCore
import CBlockFFNIntDot

/// The int8 form of T activation rows for one weight layout (formats/numerics.md, "int8"): codes in element order,
/// one scale and one code sum per block, and for q4 asymmetric weights one sum per weight group. Rows may be cut
/// into segments (the experts of a down projection's union) whose blocks and groups restart at each segment.
final class QuantizedActivations {
    let tokens: Int, width: Int, block: Int
    /// The row kind (`BFFN_INTDOT_Q8`, `..._Q4_SYMMETRIC`, `..._Q4_ASYMMETRIC`) and weight group.
    let kind: Int32, group: Int
    /// Blocks and groups per row of every token.
    let blocksPerRow: Int, groupsPerRow: Int
    let codes: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Int32>
    let groupSums: UnsafeMutablePointer<Float>?

    /// Quantizes `tokens` rows of `width` floats (`stride` apart) for weight rows of `type` whose segments have
    /// `segment` elements (`width` for one segment); several tokens are split over up to `threads` threads (each
    /// token's codes are the same whoever computes them).
    init(_ x: UnsafePointer<Float>, tokens: Int, stride: Int, width: Int, segment: Int, type: StorageType, threads: Int = 1) {
        let group = type.group(cols: segment)!
        let block = bffn_activation_block(segment, group)
        self.tokens = tokens
        self.width = width
        self.block = block
        self.group = group
        kind = IntegerDot.kind(type)
        let segments = width / segment
        let groupsPerSegment = segment / group, blocksPerSegment = groupsPerSegment * ((group + block - 1) / block)
        let blocksPerRow = blocksPerSegment * segments, groupsPerRow = groupsPerSegment * segments
        self.blocksPerRow = blocksPerRow
        self.groupsPerRow = groupsPerRow
        let codes = UnsafeMutablePointer<Int8>.allocate(capacity: max(tokens * width, 1))
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: max(tokens * blocksPerRow, 1))
        let sums = UnsafeMutablePointer<Int32>.allocate(capacity: max(tokens * blocksPerRow, 1))
        let groupSums: UnsafeMutablePointer<Float>? = kind == Int32(BFFN_INTDOT_Q4_ASYMMETRIC) || kind == Int32(BFFN_INTDOT_Q4K) ? .allocate(capacity: max(tokens * groupsPerRow, 1)) : nil
        (self.codes, self.scales, self.sums, self.groupSums) = (codes, scales, sums, groupSums)
        let quantize: (Int) -> Void = { t in
            for s in 0..<segments {
                let b = t * blocksPerRow + s * blocksPerSegment
                bffn_quantize_activations(x + t * stride + s * segment, segment, group, block, codes + t * width + s * segment,
                                          scales + b, sums + b, groupSums.map { $0 + t * groupsPerRow + s * groupsPerSegment })
            }
        }
        let parts = threads > 1 && tokens >= 4 && tokens * width >= 1 << 14 ? min(threads, tokens) : 1
        if parts == 1 {
            for t in 0..<tokens { quantize(t) }
        } else {
            WorkerPool.shared.run(parts: parts, threads: threads) { p in
                for t in (tokens * p / parts)..<(tokens * (p + 1) / parts) { quantize(t) }
            }
        }
    }

    /// The C view of these activations (valid while `self` lives).
    var view: bffn_int8_activations {
        bffn_int8_activations(codes: codes, scales: scales, sums: sums, group_sums: groupSums, code_stride: width,
                              block_stride: blocksPerRow, group_stride: groupsPerRow, tokens: tokens, block: block)
    }

    deinit {
        codes.deallocate()
        scales.deallocate()
        sums.deallocate()
        groupSums?.deallocate()
    }
}
