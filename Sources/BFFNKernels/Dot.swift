/// Loads eight weights of one storage type as Float (specialised per type, so the inner loops carry no
/// type switch).
public protocol WeightLoader {
    /// Eight elements starting at element `k`.
    static func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float>
    /// One element.
    static func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float
}

public enum F32Loader: WeightLoader {
    @inlinable @inline(__always)
    public static func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> { w.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self) }
    @inlinable @inline(__always)
    public static func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float { w.loadUnaligned(fromByteOffset: k * 4, as: Float.self) }
}

public enum BF16Loader: WeightLoader {
    @inlinable @inline(__always)
    public static func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        // Lane-wise widening: the generic SIMD conversion initialisers are not inlined (see SWIFT-NOTES.md).
        let h = w.loadUnaligned(fromByteOffset: k * 2, as: SIMD8<UInt16>.self)
        let u = SIMD8<UInt32>(UInt32(h[0]), UInt32(h[1]), UInt32(h[2]), UInt32(h[3]),
                              UInt32(h[4]), UInt32(h[5]), UInt32(h[6]), UInt32(h[7]))
        return unsafeBitCast(u &<< 16, to: SIMD8<Float>.self)
    }
    @inlinable @inline(__always)
    public static func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float {
        Float(bitPattern: UInt32(w.loadUnaligned(fromByteOffset: k * 2, as: UInt16.self)) << 16)
    }
}

public enum F16Loader: WeightLoader {
    @inlinable @inline(__always)
    public static func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        let h = w.loadUnaligned(fromByteOffset: k * 2, as: SIMD8<Float16>.self)
        return SIMD8<Float>(Float(h[0]), Float(h[1]), Float(h[2]), Float(h[3]), Float(h[4]), Float(h[5]), Float(h[6]), Float(h[7]))
    }
    @inlinable @inline(__always)
    public static func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float { Float(w.loadUnaligned(fromByteOffset: k * 2, as: Float16.self)) }
}

/// Dot products of a float32 activation vector with stored weight rows, in a fixed order.
///
/// The order depends only on the length n: two SIMD8 accumulators take alternate 8-element blocks with
/// fused multiply-adds, a remaining full block goes to the first, the tail (n mod 8 elements) is summed in
/// index order with fused multiply-adds, and the lanes are reduced in one fixed tree. Every kernel here (one
/// row, four rows, any number of tokens, any thread split) performs exactly this sequence for each output, so
/// results never depend on grouping: this is what makes the engine batch-invariant.
public enum Dot {
    @inlinable @inline(__always)
    static func reduce(_ a: SIMD8<Float>) -> Float {
        let h = a.lowHalf + a.highHalf
        let q = h.lowHalf + h.highHalf
        return q[0] + q[1]
    }

    /// x · w over n elements.
    @inlinable @inline(__always)
    public static func dot<L: WeightLoader>(_ x: UnsafePointer<Float>, _ w: UnsafeRawPointer, _ n: Int, _: L.Type) -> Float {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        let xr = UnsafeRawPointer(x)
        var k = 0
        while k + 16 <= n {
            a0.addProduct(xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), L.load8(w, k))
            a1.addProduct(xr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self), L.load8(w, k + 8))
            k += 16
        }
        if k + 8 <= n {
            a0.addProduct(xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), L.load8(w, k))
            k += 8
        }
        var tail: Float = 0
        while k < n {
            tail = tail.addingProduct(x[k], L.load1(w, k))
            k += 1
        }
        return reduce(a0 + a1) + tail
    }

    /// Four rows at once, each in exactly the order of `dot` (four weight streams per pass).
    @inlinable @inline(__always)
    public static func dot4<L: WeightLoader>(_ x: UnsafePointer<Float>, _ w0: UnsafeRawPointer, _ w1: UnsafeRawPointer,
                                             _ w2: UnsafeRawPointer, _ w3: UnsafeRawPointer, _ n: Int, _: L.Type) -> SIMD4<Float> {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), b0 = SIMD8<Float>(), b1 = SIMD8<Float>()
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), d0 = SIMD8<Float>(), d1 = SIMD8<Float>()
        let xr = UnsafeRawPointer(x)
        var k = 0
        while k + 16 <= n {
            let x0 = xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
            let x1 = xr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self)
            a0.addProduct(x0, L.load8(w0, k)); a1.addProduct(x1, L.load8(w0, k + 8))
            b0.addProduct(x0, L.load8(w1, k)); b1.addProduct(x1, L.load8(w1, k + 8))
            c0.addProduct(x0, L.load8(w2, k)); c1.addProduct(x1, L.load8(w2, k + 8))
            d0.addProduct(x0, L.load8(w3, k)); d1.addProduct(x1, L.load8(w3, k + 8))
            k += 16
        }
        if k + 8 <= n {
            let x0 = xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
            a0.addProduct(x0, L.load8(w0, k)); b0.addProduct(x0, L.load8(w1, k))
            c0.addProduct(x0, L.load8(w2, k)); d0.addProduct(x0, L.load8(w3, k))
            k += 8
        }
        var ta: Float = 0, tb: Float = 0, tc: Float = 0, td: Float = 0
        while k < n {
            ta = ta.addingProduct(x[k], L.load1(w0, k)); tb = tb.addingProduct(x[k], L.load1(w1, k))
            tc = tc.addingProduct(x[k], L.load1(w2, k)); td = td.addingProduct(x[k], L.load1(w3, k))
            k += 1
        }
        return SIMD4(reduce(a0 + a1) + ta, reduce(b0 + b1) + tb, reduce(c0 + c1) + tc, reduce(d0 + d1) + td)
    }

    /// x · w for a weight row of any stored type.
    @inlinable
    public static func dot(_ x: UnsafePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType, _ n: Int) -> Float {
        switch type {
        case .f32: return dot(x, w, n, F32Loader.self)
        case .bf16: return dot(x, w, n, BF16Loader.self)
        case .f16: return dot(x, w, n, F16Loader.self)
        }
    }

    /// x · y for two float32 vectors, in the same fixed order.
    @inlinable
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        dot(x, UnsafeRawPointer(y), n, F32Loader.self)
    }
}
