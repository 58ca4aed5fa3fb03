#if canImport(Glibc)
import Glibc
#endif

/// Small float32 row operations shared by the forward passes (the model's and an EAGLE draft head's).
public enum VectorOps {
    /// x · sigmoid(x).
    @inline(__always)
    public static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// out[t] = weight ⊙ x[t] / sqrt(mean(x[t]²) + eps) for `rows` rows of `width` floats, the mean in `Dot`'s fixed
    /// order.
    public static func rmsNorm(_ x: [Float], weight: [Float], _ eps: Float, rows: Int, width n: Int, into out: inout [Float]) {
        x.withUnsafeBufferPointer { xp in
            for t in 0..<rows {
                let row = xp.baseAddress! + t * n
                let inv = 1 / (Dot.dot(row, row, n) / Float(n) + eps).squareRoot()
                for j in 0..<n { out[t * n + j] = weight[j] * (row[j] * inv) }
            }
        }
    }

    /// `rmsNorm` with a stored weight row (widened once per call, not per element).
    public static func rmsNorm(_ x: [Float], _ w: WeightMatrix, _ eps: Float, _ T: Int, _ n: Int, into out: inout [Float]) {
        rmsNorm(x, weight: w.rowValues(0), eps, rows: T, width: n, into: &out)
    }

    /// out[T, w.rows] = x[T, w.cols] · wᵀ (`MatMul.run`; `activations` as there).
    public static func matmul(_ x: [Float], _ T: Int, _ w: WeightMatrix, into out: inout [Float], threads: Int,
                              activations: ActivationPrecision = .float) {
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                MatMul.run(x: xp.baseAddress!, tokens: T, xStride: w.cols, w: w, out: op.baseAddress!, outStride: w.rows, threads: threads,
                           activations: activations)
            }
        }
    }
}
