import BFFNCore

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
    /// Two products of the same input (`MatMul.run(products:)`: one quantization and one pool run for int8
    /// activations): out1 = x · W1ᵀ, out2 = x · W2ᵀ, [T, rows] each.
    public static func matmul(_ x: [Float], _ T: Int, _ w1: WeightMatrix, into out1: inout [Float], _ w2: WeightMatrix,
                              into out2: inout [Float], threads: Int, activations: ActivationPrecision = .float) {
        precondition(w1.cols == w2.cols, "shared-input products need one width")
        x.withUnsafeBufferPointer { xp in
            out1.withUnsafeMutableBufferPointer { o1 in
                out2.withUnsafeMutableBufferPointer { o2 in
                    MatMul.run(x: xp.baseAddress!, tokens: T, xStride: w1.cols,
                               products: [(w1, o1.baseAddress!, w1.rows), (w2, o2.baseAddress!, w2.rows)], threads: threads,
                               activations: activations)
                }
            }
        }
    }

    /// Three products of the same input (a layer's q, k and v; see the two-product form).
    public static func matmul(_ x: [Float], _ T: Int, _ w1: WeightMatrix, into out1: inout [Float], _ w2: WeightMatrix,
                              into out2: inout [Float], _ w3: WeightMatrix, into out3: inout [Float], threads: Int,
                              activations: ActivationPrecision = .float) {
        precondition(w1.cols == w2.cols && w1.cols == w3.cols, "shared-input products need one width")
        x.withUnsafeBufferPointer { xp in
            out1.withUnsafeMutableBufferPointer { o1 in
                out2.withUnsafeMutableBufferPointer { o2 in
                    out3.withUnsafeMutableBufferPointer { o3 in
                        MatMul.run(x: xp.baseAddress!, tokens: T, xStride: w1.cols,
                                   products: [(w1, o1.baseAddress!, w1.rows), (w2, o2.baseAddress!, w2.rows), (w3, o3.baseAddress!, w3.rows)],
                                   threads: threads, activations: activations)
                    }
                }
            }
        }
    }

    /// Two products of different inputs, x1 · W1 and x2 · W2, handed to the workers together where both take
    /// products on tiles (`MatMul.run(inputs:tokens:threads:activations:)`); the same bits as two `matmul` calls.
    public static func matmul(_ x1: [Float], _ w1: WeightMatrix, into out1: inout [Float], _ x2: [Float], _ w2: WeightMatrix,
                              into out2: inout [Float], tokens T: Int, threads: Int, activations: ActivationPrecision = .float) {
        x1.withUnsafeBufferPointer { a in
            x2.withUnsafeBufferPointer { b in
                out1.withUnsafeMutableBufferPointer { o1 in
                    out2.withUnsafeMutableBufferPointer { o2 in
                        MatMul.run(inputs: [(a.baseAddress!, w1.cols, w1, o1.baseAddress!, w1.rows), (b.baseAddress!, w2.cols, w2, o2.baseAddress!, w2.rows)],
                                   tokens: T, threads: threads, activations: activations)
                    }
                }
            }
        }
    }

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
