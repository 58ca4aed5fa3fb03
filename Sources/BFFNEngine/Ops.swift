import BFFNKernels

#if canImport(Glibc)
import Glibc
#endif

/// Small float32 helpers shared by the forward pass.
enum Ops {
    @inline(__always)
    static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// out[t] = w ⊙ x[t] / sqrt(mean(x[t]²) + eps), the mean in `Dot`'s fixed order.
    static func rmsNorm(_ x: [Float], _ w: WeightMatrix, _ eps: Float, _ T: Int, _ n: Int, into out: inout [Float]) {
        let weight = w.rowValues(0) // widened once per call, not per element
        x.withUnsafeBufferPointer { xp in
            for t in 0..<T {
                let row = xp.baseAddress! + t * n
                let inv = 1 / (Dot.dot(row, row, n) / Float(n) + eps).squareRoot()
                for j in 0..<n { out[t * n + j] = weight[j] * (row[j] * inv) }
            }
        }
    }

    /// out[T, w.rows] = x[T, w.cols] · wᵀ, with int8 activations for q8 / q4 weights when `activations` says so.
    static func matmul(_ x: [Float], _ T: Int, _ w: WeightMatrix, into out: inout [Float], threads: Int, activations: ActivationPrecision) {
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                MatMul.run(x: xp.baseAddress!, tokens: T, xStride: w.cols, w: w, out: op.baseAddress!, outStride: w.rows, threads: threads,
                           activations: activations)
            }
        }
    }
}
