import BFFNCheckpoint
import BFFNCore
import BFFNKernels

extension ModelWeights {
    /// These weights with every matrix that `precision`'s products read from tiles (int8: q8 / q4; bf16: bf16;
    /// `WeightTiles.applies`) among those the forward pass multiplies by (attention, routers, dense FFNs, the LM
    /// head and, with `experts`, every expert's up and down weights) repacked into `WeightTiles`
    /// (formats/numerics.md). The tiles are heap copies as large as the rows they repack; the matrices keep their
    /// mapped rows for the float path and for embedding lookups, but the pages of a file mapping are released once
    /// repacked (they fault back when read), so resident memory stays about the model's size. Weights with nothing
    /// to repack come back as the same object.
    /// - Parameter threads: threads that repack matrices side by side.
    public func withTiles(for precision: ActivationPrecision, experts: Bool, threads: Int) -> ModelWeights {
        // Collect the matrices, each distinct one (by its first byte) repacked once.
        var order: [WeightMatrix] = []
        var index: [UnsafeRawPointer: Int] = [:]
        func note(_ w: WeightMatrix) {
            guard WeightTiles.applies(precision, to: w.type), w.tiles == nil, index[w.base] == nil else { return }
            index[w.base] = order.count
            order.append(w)
        }
        note(head)
        for lw in layers {
            _ = lw.mappingProducts(experts: experts) { w in
                note(w)
                return w
            }
        }
        if order.isEmpty { return self }
        // One arena for all tiles, each matrix's at a 64-byte-aligned offset.
        var offsets: [Int] = [], total = 0
        for w in order {
            offsets.append(total)
            total += (WeightTiles.byteCount(of: w) + 63) / 64 * 64
        }
        let arena = TileArena(byteCount: total)
        let tiled = UnsafeMutableBufferPointer<WeightMatrix>.allocate(capacity: order.count)
        defer {
            tiled.deinitialize()
            tiled.deallocate()
        }
        _ = tiled.initialize(from: order)
        // Each matrix's mapped pages are let go once it is repacked (they fault back from the page cache if the float
        // path or an embedding lookup reads them), so resident memory stays about the model's size.
        let files = keepAlive.compactMap { $0 as? MappedFile }, checkpoints = keepAlive.compactMap { $0 as? Checkpoint }
        WorkerPool.shared.run(parts: order.count, threads: threads) { i in
            let w = tiled[i]
            tiled[i] = w.withTiles(arena: arena, offset: offsets[i])
            if let (f, offset) = files.lazy.compactMap({ f in f.offset(of: w.base).map { (f, $0) } }).first {
                f.releaseRange(offset: offset, count: w.spanBytes)
            } else {
                // A checkpoint's tensors: pages outside its file mappings (owned copies) are left alone.
                for c in checkpoints { c.releaseTensorPages(w.base, count: w.spanBytes) }
            }
        }
        let done = Array(tiled)
        func t(_ w: WeightMatrix) -> WeightMatrix { index[w.base].map { done[$0] } ?? w }
        let newLayers = layers.map { $0.mappingProducts(experts: experts, t) }
        let copy = ModelWeights(copying: self, head: t(head), layers: newLayers)
        copy.keepAlive.append(arena)
        return copy
    }
}
