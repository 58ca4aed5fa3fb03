import CBlockFFNUnpack

/// Loads weights of one storage type as Float (specialised per type, so inner loops carry no type switch).
/// `k` is an element index within a row starting at `w`; `load8` is only called with k a multiple of 8.
public protocol WeightLoader {
    /// Eight elements starting at element `k`.
    func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float>
    /// One element.
    func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float
    /// Thirty-two elements starting at element `k` (a multiple of 32), as four `load8` results: the same
    /// values, but a quantized loader reads the block's scale (and offset) once when one group covers it.
    func load32(_ w: UnsafeRawPointer, _ k: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
}

extension WeightLoader {
    @inlinable @inline(__always)
    public func load32(_ w: UnsafeRawPointer, _ k: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        load8x4(w, k)
    }

    /// Four `load8` calls at k, k + 8, k + 16, k + 24 (what `load32` is for any loader).
    @inlinable @inline(__always)
    public func load8x4(_ w: UnsafeRawPointer, _ k: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        (load8(w, k), load8(w, k + 8), load8(w, k + 16), load8(w, k + 24))
    }

    /// Writes elements 0 ..< count of the row at `w` to `destination` as Float (32 at a time, then 8, then 1).
    @inlinable @inline(__always)
    public func widen(_ w: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        let out = UnsafeMutableRawPointer(destination)
        var k = 0
        while k + 32 <= count {
            let (a, b, c, d) = load32(w, k)
            out.storeBytes(of: a, toByteOffset: k * 4, as: SIMD8<Float>.self)
            out.storeBytes(of: b, toByteOffset: k * 4 + 32, as: SIMD8<Float>.self)
            out.storeBytes(of: c, toByteOffset: k * 4 + 64, as: SIMD8<Float>.self)
            out.storeBytes(of: d, toByteOffset: k * 4 + 96, as: SIMD8<Float>.self)
            k += 32
        }
        while k + 8 <= count {
            out.storeBytes(of: load8(w, k), toByteOffset: k * 4, as: SIMD8<Float>.self)
            k += 8
        }
        while k < count { destination[k] = load1(w, k); k += 1 }
    }
}

public struct F32Loader: WeightLoader {
    public init() {}
    @inlinable @inline(__always)
    public func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> { w.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self) }
    @inlinable @inline(__always)
    public func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float { w.loadUnaligned(fromByteOffset: k * 4, as: Float.self) }
}

public struct BF16Loader: WeightLoader {
    public init() {}
    @inlinable @inline(__always)
    public func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        // Lane-wise widening: the generic SIMD conversion initialisers are not inlined (measured here: about 4 GFLOP/s in a hot loop).
        let h = w.loadUnaligned(fromByteOffset: k * 2, as: SIMD8<UInt16>.self)
        let u = SIMD8<UInt32>(UInt32(h[0]), UInt32(h[1]), UInt32(h[2]), UInt32(h[3]),
                              UInt32(h[4]), UInt32(h[5]), UInt32(h[6]), UInt32(h[7]))
        return unsafeBitCast(u &<< 16, to: SIMD8<Float>.self)
    }
    @inlinable @inline(__always)
    public func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float {
        Float(bitPattern: UInt32(w.loadUnaligned(fromByteOffset: k * 2, as: UInt16.self)) << 16)
    }
}

public struct F16Loader: WeightLoader {
    public init() {}
    @inlinable @inline(__always)
    public func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        let h = w.loadUnaligned(fromByteOffset: k * 2, as: SIMD8<Float16>.self)
        return SIMD8<Float>(Float(h[0]), Float(h[1]), Float(h[2]), Float(h[3]), Float(h[4]), Float(h[5]), Float(h[6]), Float(h[7]))
    }
    @inlinable @inline(__always)
    public func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float { Float(w.loadUnaligned(fromByteOffset: k * 2, as: Float16.self)) }
}

/// Symmetric int8 rows: [scales: f32 × cols/group][codes: i8 × cols]; value = Float(q) · scale.
public struct Q8Loader: WeightLoader {
    public let group: Int
    public let dataOffset: Int
    /// log2(group) when the group is a power of two (the usual case), else −1.
    public let groupShift: Int
    /// Whether every aligned block of 32 elements lies in one group (groups of a multiple of 32, or one group).
    public let groupCovers32: Bool
    public init(group: Int, cols: Int) {
        self.group = group
        dataOffset = cols / group * 4
        groupShift = group & (group - 1) == 0 ? group.trailingZeroBitCount : -1
        groupCovers32 = group % 32 == 0 || group == cols
    }
    /// The group of element k, without a division in the common cases (one group per row, power-of-two groups).
    @inlinable @inline(__always)
    func groupIndex(_ k: Int) -> Int { dataOffset == 4 ? 0 : groupShift >= 0 ? k &>> groupShift : k / group }
    /// The scale of element k's group.
    @inlinable @inline(__always)
    func scale(_ w: UnsafeRawPointer, _ k: Int) -> Float { w.loadUnaligned(fromByteOffset: groupIndex(k) &* 4, as: Float.self) }
    @inlinable @inline(__always)
    public func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        bffn_unpack_bytes8(w + (dataOffset &+ k)) * scale(w, k)
    }
    @inlinable @inline(__always)
    public func load32(_ w: UnsafeRawPointer, _ k: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        guard groupCovers32 else { return load8x4(w, k) }
        let s = scale(w, k), codes = w + (dataOffset &+ k)
        return (bffn_unpack_bytes8(codes) * s, bffn_unpack_bytes8(codes + 8) * s,
                bffn_unpack_bytes8(codes + 16) * s, bffn_unpack_bytes8(codes + 24) * s)
    }
    @inlinable @inline(__always)
    public func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float {
        Float(w.loadUnaligned(fromByteOffset: dataOffset &+ k, as: Int8.self)) * scale(w, k)
    }
}

/// int4 rows: [scales: f32 × n][offsets: f32 × n if asymmetric][codes: two per byte, even element low],
/// n = cols/group; value = fma(Float(q), scale, offset) (asymmetric, q in 0...15) or Float(q − 8) · scale.
public struct Q4Loader: WeightLoader {
    public let group: Int
    public let offsetsOffset: Int
    public let dataOffset: Int
    public let asymmetric: Bool
    /// log2(group) when the group is a power of two, else −1.
    public let groupShift: Int
    public init(group: Int, cols: Int, asymmetric: Bool) {
        self.group = group
        self.asymmetric = asymmetric
        offsetsOffset = cols / group * 4
        dataOffset = cols / group * 4 * (asymmetric ? 2 : 1)
        groupShift = group & (group - 1) == 0 ? group.trailingZeroBitCount : -1
        groupCovers32 = group % 32 == 0 || group == cols
    }
    /// Whether every aligned block of 32 elements lies in one group (groups of a multiple of 32, or one group).
    public let groupCovers32: Bool
    @inlinable @inline(__always)
    func groupIndex(_ k: Int) -> Int { offsetsOffset == 4 ? 0 : groupShift >= 0 ? k &>> groupShift : k / group }
    @inlinable @inline(__always)
    public func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        let g = groupIndex(k)
        let scale = w.loadUnaligned(fromByteOffset: g &* 4, as: Float.self)
        let q = bffn_unpack_nibbles8(w + (dataOffset &+ (k &>> 1)))
        if asymmetric {
            let offset = w.loadUnaligned(fromByteOffset: offsetsOffset &+ g &* 4, as: Float.self)
            return SIMD8<Float>(repeating: offset).addingProduct(q, SIMD8<Float>(repeating: scale))
        }
        return (q - 8) * scale
    }
    /// As four `load8` calls, with the group's scale and offset read once and the symmetry tested once (the same
    /// formulas as `load8`, written out per case: a shared helper measured 4 % slower decoding).
    @inlinable @inline(__always)
    public func load32(_ w: UnsafeRawPointer, _ k: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        guard groupCovers32 else { return load8x4(w, k) }
        let g = groupIndex(k)
        let scale = SIMD8<Float>(repeating: w.loadUnaligned(fromByteOffset: g &* 4, as: Float.self))
        let codes = w + (dataOffset &+ (k &>> 1))
        let q0 = bffn_unpack_nibbles8(codes), q1 = bffn_unpack_nibbles8(codes + 4)
        let q2 = bffn_unpack_nibbles8(codes + 8), q3 = bffn_unpack_nibbles8(codes + 12)
        if asymmetric {
            let offset = SIMD8<Float>(repeating: w.loadUnaligned(fromByteOffset: offsetsOffset &+ g &* 4, as: Float.self))
            return (offset.addingProduct(q0, scale), offset.addingProduct(q1, scale),
                    offset.addingProduct(q2, scale), offset.addingProduct(q3, scale))
        }
        return ((q0 - 8) * scale, (q1 - 8) * scale, (q2 - 8) * scale, (q3 - 8) * scale)
    }
    @inlinable @inline(__always)
    public func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float {
        let g = groupIndex(k)
        let scale = w.loadUnaligned(fromByteOffset: g * 4, as: Float.self)
        let byte = w.loadUnaligned(fromByteOffset: dataOffset + k / 2, as: UInt8.self)
        let q = Float(k % 2 == 0 ? byte & 15 : byte >> 4)
        if asymmetric {
            return w.loadUnaligned(fromByteOffset: offsetsOffset + g * 4, as: Float.self).addingProduct(q, scale)
        }
        return (q - 8) * scale
    }
}

/// Dot products of a float32 activation vector with stored weight rows, in a fixed order.
///
/// The order depends only on the length n: four SIMD8 accumulators take the elements in blocks of 32 (the
/// first accumulator elements k..k+7, the second k+8.., the third k+16.., the fourth k+24..) with fused
/// multiply-adds; remaining whole 8-element blocks go to the first accumulator; the tail (n mod 8 elements) is
/// summed in index order with fused multiply-adds; the result is reduce((a + b) + (c + d)) + tail with one fixed
/// lane tree. Every kernel here (one row, two tokens at once, any thread split, weights widened on the fly or
/// from a float32 scratch copy) performs exactly this sequence per output, so results never depend on grouping:
/// this is what makes the engine batch-invariant. One row is read as one sequential stream, which is what the
/// hardware prefetcher follows best on 4 KiB-page file mappings.
public enum Dot {
    @inlinable @inline(__always)
    static func reduce(_ a: SIMD8<Float>) -> Float {
        let h = a.lowHalf + a.highHalf
        let q = h.lowHalf + h.highHalf
        return q[0] + q[1]
    }

    /// x · w over n elements.
    @inlinable @inline(__always)
    public static func dot<L: WeightLoader>(_ x: UnsafePointer<Float>, _ w: UnsafeRawPointer, _ n: Int, _ loader: L) -> Float {
        var acc = DotAccumulators()
        acc.add(UnsafeRawPointer(x), w, from: 0, to: n / 32 * 32, loader)
        return acc.result(x, w, n, loader)
    }

    /// x · (a ++ b) for float32 vectors a (`na` elements, a multiple of 32) and b (`nb` elements), without
    /// building the concatenation: bit-identical to `dot(x, a ++ b, na + nb)` (the accumulators carry across the
    /// pieces, and b's tail is taken exactly as the concatenation's). MLA attention scores read a head's key as its
    /// own part and the rotary part all heads share.
    @inlinable
    public static func dot(_ x: UnsafePointer<Float>, _ a: UnsafePointer<Float>, _ na: Int, _ b: UnsafePointer<Float>, _ nb: Int) -> Float {
        dot(x, UnsafeRawPointer(a), na, UnsafeRawPointer(b), nb, F32Loader())
    }

    /// The same split dot product over stored pieces read by `loader` (a bf16 KV cache's keys).
    @inlinable @inline(__always)
    public static func dot<L: WeightLoader>(_ x: UnsafePointer<Float>, _ a: UnsafeRawPointer, _ na: Int, _ b: UnsafeRawPointer, _ nb: Int,
                                            _ loader: L) -> Float {
        precondition(na % 32 == 0, "the first piece of a split dot product is a multiple of 32 elements")
        var acc = DotAccumulators()
        acc.add(UnsafeRawPointer(x), a, from: 0, to: na, loader)
        acc.add(UnsafeRawPointer(x + na), b, from: 0, to: nb / 32 * 32, loader)
        return acc.result(x + na, b, nb, loader)
    }

    /// The dot product of x with the concatenation of `segments` (each `segmentLength` elements, a multiple of
    /// 32), without building the concatenation: the four accumulators carry across segments, so the result is
    /// bit-identical to `dot` over the concatenated row. Used for the down projection over a chunk's union of
    /// experts: segments of experts whose gates are zero add exact zeros, so any union gives the same bits.
    @inlinable @inline(__always)
    public static func segmentedDot<L: WeightLoader>(_ x: UnsafePointer<Float>, _ segments: UnsafeBufferPointer<UnsafeRawPointer>,
                                                     _ segmentLength: Int, _ loader: L) -> Float {
        var acc = DotAccumulators()
        var xr = UnsafeRawPointer(x)
        for w in segments {
            acc.add(xr, w, from: 0, to: segmentLength, loader)
            xr += segmentLength * 4
        }
        return acc.sum
    }

    /// One row for two tokens x and y (each weight block is loaded once and used twice); each output in
    /// exactly the order of `dot`.
    @inlinable @inline(__always)
    public static func dot2<L: WeightLoader>(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ w: UnsafeRawPointer,
                                             _ n: Int, _ loader: L) -> (Float, Float) {
        var a = SIMD8<Float>(), b = SIMD8<Float>(), c = SIMD8<Float>(), d = SIMD8<Float>()
        var e = SIMD8<Float>(), f = SIMD8<Float>(), g = SIMD8<Float>(), h = SIMD8<Float>()
        let xr = UnsafeRawPointer(x), yr = UnsafeRawPointer(y)
        var k = 0
        while k + 32 <= n {
            let w0 = loader.load8(w, k), w1 = loader.load8(w, k + 8), w2 = loader.load8(w, k + 16), w3 = loader.load8(w, k + 24)
            a.addProduct(xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), w0)
            e.addProduct(yr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), w0)
            b.addProduct(xr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self), w1)
            f.addProduct(yr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self), w1)
            c.addProduct(xr.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self), w2)
            g.addProduct(yr.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self), w2)
            d.addProduct(xr.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self), w3)
            h.addProduct(yr.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self), w3)
            k += 32
        }
        while k + 8 <= n {
            let w0 = loader.load8(w, k)
            a.addProduct(xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), w0)
            e.addProduct(yr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), w0)
            k += 8
        }
        var tx: Float = 0, ty: Float = 0
        while k < n {
            let v = loader.load1(w, k)
            tx = tx.addingProduct(x[k], v)
            ty = ty.addingProduct(y[k], v)
            k += 1
        }
        return (reduce((a + b) + (c + d)) + tx, reduce((e + f) + (g + h)) + ty)
    }

    /// Three dot products against one float32 row (x·w, y·w, z·w), each in exactly `dot`'s order; the row is
    /// loaded once for the three (multi-token calls).
    @inlinable @inline(__always)
    public static func dot3(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ z: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                            _ n: Int) -> (Float, Float, Float) {
        var ax = DotAccumulators(), ay = DotAccumulators(), az = DotAccumulators()
        DotAccumulators.add3(&ax, &ay, &az, x, y, z, w, from: 0, to: n / 32 * 32)
        let wr = UnsafeRawPointer(w)
        return (ax.result(x, wr, n, F32Loader()), ay.result(y, wr, n, F32Loader()), az.result(z, wr, n, F32Loader()))
    }

    /// x · w for a weight row of any stored type.
    @inlinable
    public static func dot(_ x: UnsafePointer<Float>, _ w: UnsafeRawPointer, _ type: StorageType, _ n: Int) -> Float {
        type.withLoader(cols: n, RowDot(x: x, w: w, n: n))
    }

    /// `dot(x, w, n, loader)` as a loader body.
    @usableFromInline
    struct RowDot: WeightLoaderBody {
        @usableFromInline let x: UnsafePointer<Float>, w: UnsafeRawPointer, n: Int
        @inlinable init(x: UnsafePointer<Float>, w: UnsafeRawPointer, n: Int) {
            self.x = x
            self.w = w
            self.n = n
        }
        @inlinable @inline(__always)
        func callAsFunction<L: WeightLoader>(_ loader: L) -> Float { Dot.dot(x, w, n, loader) }
    }

    /// x · y for two float32 vectors, in the same fixed order.
    @inlinable
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        dot(x, UnsafeRawPointer(y), n, F32Loader())
    }
}

/// The four accumulators of one dot product in `Dot.dot`'s order (accumulator a takes elements k..k+7 of every
/// block of 32, b k+8.., c k+16.., d k+24..), carried across the pieces of a row: a row may be added in any
/// number of calls, in ascending element order, and gives the same bits as one call. Every kernel builds on it.
@usableFromInline
struct DotAccumulators {
    @usableFromInline var a = SIMD8<Float>(), b = SIMD8<Float>(), c = SIMD8<Float>(), d = SIMD8<Float>()

    @inlinable @inline(__always)
    init() {}

    /// Adds elements k0 ..< k1 of x·w (k0 and k1 multiples of 32, relative to the row's start): x holds float32
    /// values, w is read by `loader`.
    @inlinable @inline(__always)
    mutating func add<L: WeightLoader>(_ x: UnsafeRawPointer, _ w: UnsafeRawPointer, from k0: Int, to k1: Int, _ loader: L) {
        var k = k0
        while k < k1 {
            let (w0, w1, w2, w3) = loader.load32(w, k)
            a.addProduct(x.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), w0)
            b.addProduct(x.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self), w1)
            c.addProduct(x.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self), w2)
            d.addProduct(x.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self), w3)
            k += 32
        }
    }

    /// `add` for three rows x, y, z against one float32 row w, each weight vector loaded once for the three.
    @inlinable @inline(__always)
    static func add3(_ ax: inout DotAccumulators, _ ay: inout DotAccumulators, _ az: inout DotAccumulators,
                     _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ z: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                     from k0: Int, to k1: Int) {
        var xa = ax.a, xb = ax.b, xc = ax.c, xd = ax.d
        var ya = ay.a, yb = ay.b, yc = ay.c, yd = ay.d
        var za = az.a, zb = az.b, zc = az.c, zd = az.d
        let xr = UnsafeRawPointer(x), yr = UnsafeRawPointer(y), zr = UnsafeRawPointer(z), wr = UnsafeRawPointer(w)
        var k = k0
        while k < k1 {
            var v = wr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
            xa.addProduct(xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), v)
            ya.addProduct(yr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), v)
            za.addProduct(zr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), v)
            v = wr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self)
            xb.addProduct(xr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self), v)
            yb.addProduct(yr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self), v)
            zb.addProduct(zr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self), v)
            v = wr.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self)
            xc.addProduct(xr.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self), v)
            yc.addProduct(yr.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self), v)
            zc.addProduct(zr.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self), v)
            v = wr.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self)
            xd.addProduct(xr.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self), v)
            yd.addProduct(yr.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self), v)
            zd.addProduct(zr.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self), v)
            k += 32
        }
        (ax.a, ax.b, ax.c, ax.d) = (xa, xb, xc, xd)
        (ay.a, ay.b, ay.c, ay.d) = (ya, yb, yc, yd)
        (az.a, az.b, az.c, az.d) = (za, zb, zc, zd)
    }

    /// reduce((a + b) + (c + d)): the value of a row whose length is a multiple of 32.
    @inlinable @inline(__always)
    var sum: Float { Dot.reduce((a + b) + (c + d)) }

    /// Completes x·w over n elements once every block of 32 has been added: the remaining whole 8-element
    /// blocks go to the first accumulator, the n mod 8 tail is summed in index order from +0, then `sum` + tail.
    @inlinable @inline(__always)
    func result<L: WeightLoader>(_ x: UnsafePointer<Float>, _ w: UnsafeRawPointer, _ n: Int, _ loader: L) -> Float {
        var last = self
        let xr = UnsafeRawPointer(x)
        var k = n / 32 * 32
        while k + 8 <= n {
            last.a.addProduct(xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), loader.load8(w, k))
            k += 8
        }
        var tail: Float = 0
        while k < n {
            tail = tail.addingProduct(x[k], loader.load1(w, k))
            k += 1
        }
        return last.sum + tail
    }
}
