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
/// The order depends only on the length n: one SIMD8 accumulator takes the 8-element blocks in index order
/// with fused multiply-adds, the tail (n mod 8 elements) is summed in index order with fused multiply-adds, and
/// the eight lanes are reduced in one fixed tree, then the tail is added. Every kernel here (one row, four rows,
/// two tokens at once, any thread split) performs exactly this sequence for each output, so results never
/// depend on grouping: this is what makes the engine batch-invariant. Independent outputs (rows, tokens)
/// supply the parallel FMA chains.
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
        var a = SIMD8<Float>()
        let xr = UnsafeRawPointer(x)
        var k = 0
        while k + 8 <= n {
            a.addProduct(xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), L.load8(w, k))
            k += 8
        }
        var tail: Float = 0
        while k < n {
            tail = tail.addingProduct(x[k], L.load1(w, k))
            k += 1
        }
        return reduce(a) + tail
    }

    /// Four rows at once, each in exactly the order of `dot`.
    @inlinable @inline(__always)
    public static func dot4<L: WeightLoader>(_ x: UnsafePointer<Float>, _ w0: UnsafeRawPointer, _ w1: UnsafeRawPointer,
                                             _ w2: UnsafeRawPointer, _ w3: UnsafeRawPointer, _ n: Int, _: L.Type) -> SIMD4<Float> {
        var a = SIMD8<Float>(), b = SIMD8<Float>(), c = SIMD8<Float>(), d = SIMD8<Float>()
        let xr = UnsafeRawPointer(x)
        var k = 0
        while k + 8 <= n {
            let xv = xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
            a.addProduct(xv, L.load8(w0, k)); b.addProduct(xv, L.load8(w1, k))
            c.addProduct(xv, L.load8(w2, k)); d.addProduct(xv, L.load8(w3, k))
            k += 8
        }
        var ta: Float = 0, tb: Float = 0, tc: Float = 0, td: Float = 0
        while k < n {
            ta = ta.addingProduct(x[k], L.load1(w0, k)); tb = tb.addingProduct(x[k], L.load1(w1, k))
            tc = tc.addingProduct(x[k], L.load1(w2, k)); td = td.addingProduct(x[k], L.load1(w3, k))
            k += 1
        }
        return SIMD4(reduce(a) + ta, reduce(b) + tb, reduce(c) + tc, reduce(d) + td)
    }

    /// Four rows for two tokens x and y (each weight block is widened once and used twice); every output in
    /// exactly the order of `dot`.
    @inlinable @inline(__always)
    public static func dot4x2<L: WeightLoader>(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
                                               _ w0: UnsafeRawPointer, _ w1: UnsafeRawPointer, _ w2: UnsafeRawPointer,
                                               _ w3: UnsafeRawPointer, _ n: Int, _: L.Type) -> (SIMD4<Float>, SIMD4<Float>) {
        var xa = SIMD8<Float>(), xb = SIMD8<Float>(), xc = SIMD8<Float>(), xd = SIMD8<Float>()
        var ya = SIMD8<Float>(), yb = SIMD8<Float>(), yc = SIMD8<Float>(), yd = SIMD8<Float>()
        let xr = UnsafeRawPointer(x), yr = UnsafeRawPointer(y)
        var k = 0
        while k + 8 <= n {
            let xv = xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
            let yv = yr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
            let v0 = L.load8(w0, k); xa.addProduct(xv, v0); ya.addProduct(yv, v0)
            let v1 = L.load8(w1, k); xb.addProduct(xv, v1); yb.addProduct(yv, v1)
            let v2 = L.load8(w2, k); xc.addProduct(xv, v2); yc.addProduct(yv, v2)
            let v3 = L.load8(w3, k); xd.addProduct(xv, v3); yd.addProduct(yv, v3)
            k += 8
        }
        var tx = SIMD4<Float>(), ty = SIMD4<Float>()
        while k < n {
            let e0 = L.load1(w0, k), e1 = L.load1(w1, k), e2 = L.load1(w2, k), e3 = L.load1(w3, k)
            tx[0] = tx[0].addingProduct(x[k], e0); tx[1] = tx[1].addingProduct(x[k], e1)
            tx[2] = tx[2].addingProduct(x[k], e2); tx[3] = tx[3].addingProduct(x[k], e3)
            ty[0] = ty[0].addingProduct(y[k], e0); ty[1] = ty[1].addingProduct(y[k], e1)
            ty[2] = ty[2].addingProduct(y[k], e2); ty[3] = ty[3].addingProduct(y[k], e3)
            k += 1
        }
        return (SIMD4(reduce(xa) + tx[0], reduce(xb) + tx[1], reduce(xc) + tx[2], reduce(xd) + tx[3]),
                SIMD4(reduce(ya) + ty[0], reduce(yb) + ty[1], reduce(yc) + ty[2], reduce(yd) + ty[3]))
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
