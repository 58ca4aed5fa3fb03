/// Dot products of a float32 activation vector with one stored weight row, in a fixed order.
///
/// The order depends only on the length n: two SIMD8 accumulators take alternate 8-element blocks with
/// fused multiply-adds, the remaining full block goes to the first, the tail (n mod 8 elements) is summed
/// in index order, and the lanes are reduced in one fixed tree. Every kernel in this module (one row, four
/// rows, many tokens) performs exactly this sequence for each output, so a result never depends on how
/// rows or tokens were grouped or split across threads: this is what makes the engine batch-invariant.
public enum Dot {
    @usableFromInline @inline(__always)
    static func load8(_ w: UnsafeRawPointer, _ type: WeightType, _ k: Int) -> SIMD8<Float> {
        switch type {
        case .f32:
            return w.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
        case .bf16:
            let h = w.loadUnaligned(fromByteOffset: k * 2, as: SIMD8<UInt16>.self)
            return unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: h) &<< 16, to: SIMD8<Float>.self)
        case .f16:
            let h = w.loadUnaligned(fromByteOffset: k * 2, as: SIMD8<Float16>.self)
            return SIMD8<Float>(Float(h[0]), Float(h[1]), Float(h[2]), Float(h[3]),
                                Float(h[4]), Float(h[5]), Float(h[6]), Float(h[7]))
        }
    }

    @usableFromInline @inline(__always)
    static func scalar(_ w: UnsafeRawPointer, _ type: WeightType, _ k: Int) -> Float {
        switch type {
        case .f32: return w.loadUnaligned(fromByteOffset: k * 4, as: Float.self)
        case .bf16: return Float(bitPattern: UInt32(w.loadUnaligned(fromByteOffset: k * 2, as: UInt16.self)) << 16)
        case .f16: return Float(w.loadUnaligned(fromByteOffset: k * 2, as: Float16.self))
        }
    }

    @usableFromInline @inline(__always)
    static func reduce(_ a: SIMD8<Float>) -> Float {
        let h = a.lowHalf + a.highHalf
        let q = h.lowHalf + h.highHalf
        return q[0] + q[1]
    }

    /// x · w over n elements, in the fixed order described above.
    @inlinable @inline(__always)
    public static func dot(_ x: UnsafePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType, _ n: Int) -> Float {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        let xr = UnsafeRawPointer(x)
        var k = 0
        while k + 16 <= n {
            a0.addProduct(xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), load8(w, type, k))
            a1.addProduct(xr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self), load8(w, type, k + 8))
            k += 16
        }
        if k + 8 <= n {
            a0.addProduct(xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), load8(w, type, k))
            k += 8
        }
        var tail: Float = 0
        while k < n {
            tail = tail.addingProduct(x[k], scalar(w, type, k))
            k += 1
        }
        return reduce(a0 + a1) + tail
    }

    /// Four dot products of x with four rows, each in exactly the order of `dot` (four memory streams per
    /// pass are faster when decoding is bound by reading weights).
    @inlinable @inline(__always)
    public static func dot4(_ x: UnsafePointer<Float>, _ w0: UnsafeRawPointer, _ w1: UnsafeRawPointer,
                            _ w2: UnsafeRawPointer, _ w3: UnsafeRawPointer, _ type: WeightType, _ n: Int) -> SIMD4<Float> {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), b0 = SIMD8<Float>(), b1 = SIMD8<Float>()
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), d0 = SIMD8<Float>(), d1 = SIMD8<Float>()
        let xr = UnsafeRawPointer(x)
        var k = 0
        while k + 16 <= n {
            let x0 = xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
            let x1 = xr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self)
            a0.addProduct(x0, load8(w0, type, k)); a1.addProduct(x1, load8(w0, type, k + 8))
            b0.addProduct(x0, load8(w1, type, k)); b1.addProduct(x1, load8(w1, type, k + 8))
            c0.addProduct(x0, load8(w2, type, k)); c1.addProduct(x1, load8(w2, type, k + 8))
            d0.addProduct(x0, load8(w3, type, k)); d1.addProduct(x1, load8(w3, type, k + 8))
            k += 16
        }
        if k + 8 <= n {
            let x0 = xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
            a0.addProduct(x0, load8(w0, type, k)); b0.addProduct(x0, load8(w1, type, k))
            c0.addProduct(x0, load8(w2, type, k)); d0.addProduct(x0, load8(w3, type, k))
            k += 8
        }
        var ta: Float = 0, tb: Float = 0, tc: Float = 0, td: Float = 0
        while k < n {
            ta = ta.addingProduct(x[k], scalar(w0, type, k)); tb = tb.addingProduct(x[k], scalar(w1, type, k))
            tc = tc.addingProduct(x[k], scalar(w2, type, k)); td = td.addingProduct(x[k], scalar(w3, type, k))
            k += 1
        }
        return SIMD4(reduce(a0 + a1) + ta, reduce(b0 + b1) + tb, reduce(c0 + c1) + tc, reduce(d0 + d1) + td)
    }

    /// x · y for two float32 vectors, in the same fixed order.
    @inlinable @inline(__always)
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        dot(x, UnsafeRawPointer(y), .f32, n)
    }
}
