import BFFNCore
import BFFNKernels
import BFFNModel

extension PackWriter {
    /// Encodes every row of `m` (output row i holds source row `sourceRow(i)`) as `type` and writes the rows one
    /// after another from `first` (a range from `reserve`). The rows are cut into pieces of about `pieceBytes` that the
    /// threads take as they become free; each piece is encoded, checksummed, written, its writeback started and,
    /// when `releasingSource`, its source pages let go, so a large embedding never sits in memory whole. Returns
    /// the CRC-32 of all rows (piece CRCs combined in order) and each row's error sums in row order (merged by the
    /// caller in that order, so totals do not depend on threads). q8/q4 scales follow `search`, weighted by
    /// `importance` (one weight per column; nil: x²).
    /// - Throws: the first write error.
    static func encodeTensor(_ m: WeightMatrix, sourceRow: (Int) -> Int, as type: StorageType, search: WeightQuantizer.ScaleSearch = .nearest,
                             importance: [Float]? = nil, to out: AtomicFileWriter,
                             at first: UInt64, releasingSource: Bool, threads: Int,
                             pieceBytes: Int = 1 << 20) throws -> (crc: UInt32, rowErrors: [WeightQuantizer.ErrorSums]) {
        let rowBytes = type.rowBytes(cols: m.cols), rows = m.rows
        let pieceRows = max(1, min(rows, pieceBytes / max(1, rowBytes)))
        let pieces = (rows + pieceRows - 1) / pieceRows
        var sums = [WeightQuantizer.ErrorSums](repeating: .init(), count: rows)
        var pieceCRCs = [UInt32](repeating: 0, count: pieces)
        var pieceErrors = [BFFNError?](repeating: nil, count: pieces)
        let writer = DisjointWrites(out)
        sums.withUnsafeMutableBufferPointer { s in
            pieceCRCs.withUnsafeMutableBufferPointer { c in
                pieceErrors.withUnsafeMutableBufferPointer { e in
                    let slots = DisjointWrites((sums: s, crcs: c, errors: e))
                    WorkerPool.shared.run(parts: threads > 1 ? pieces : 1, threads: threads) { part in
                        let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: pieceRows * rowBytes, alignment: 64)
                        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: m.cols)
                        defer {
                            piece.deallocate()
                            scratch.deallocate()
                        }
                        // One part does every piece when running on one thread.
                        for p in threads > 1 ? part..<(part + 1) : 0..<pieces {
                            let r0 = p * pieceRows, r1 = min(rows, r0 + pieceRows)
                            for r in r0..<r1 {
                                encodeRow(m, sourceRow(r), as: type, search: search, importance: importance,
                                          into: piece.baseAddress! + (r - r0) * rowBytes, scratch: scratch, errors: &slots.value.sums[r])
                            }
                            let bytes = UnsafeRawBufferPointer(rebasing: piece[0..<((r1 - r0) * rowBytes)])
                            slots.value.crcs[p] = CRC32.checksum(bytes)
                            let at = first + UInt64(r0 * rowBytes)
                            do {
                                try writer.value.write(bytes, at: at)
                            } catch {
                                slots.value.errors[p] = error as? BFFNError ?? BFFNError(.io, "\(error)")
                                return
                            }
                            writer.value.startWriteback(offset: at, length: UInt64(bytes.count))
                            if releasingSource { releaseMappedPages(m.row(r0), count: (r1 - r0) * m.rowStrideBytes) }
                        }
                    }
                }
            }
        }
        if let e = pieceErrors.compactMap({ $0 }).first { throw e }
        var crc = pieceCRCs[0]
        for p in 1..<pieces {
            crc = CRC32.combine(crc, pieceCRCs[p], length: (min(rows, (p + 1) * pieceRows) - p * pieceRows) * rowBytes)
        }
        return (crc, sums)
    }

    /// One encoded expert block: its CRC-32 over the data bytes and its quantization error.
    struct WrittenBlock {
        var crc: UInt32
        var errors: WeightQuantizer.ErrorSums
    }

    /// Encodes the experts `slots` (source expert indices, in slot order) of one layer into whole blocks
    /// (up rows, then down rows, then zero padding to `blockBytes`) and writes block i at `first + i·blockBytes`.
    /// `blocks` holds a whole number of blocks (at least one), zero after each block's data bytes (only data bytes
    /// are ever written to it, so one zeroed buffer serves every layer); the slots are encoded that many at a
    /// time. Results come back in slot order (an I/O error per failed block). q8/q4 scales follow `search`,
    /// weighted by the layer's `statistics` for each source expert (nil: x²).
    static func encodeExpertBlocks(layer lw: ExpertWeights, slots: [Int], layout: PackLayout, blocks: UnsafeMutableRawBufferPointer,
                                   search: WeightQuantizer.ScaleSearch = .nearest, statistics: ActivationStatistics.ExpertLayer? = nil,
                                   to out: AtomicFileWriter, at first: UInt64, threads: Int) -> [Result<WrittenBlock, BFFNError>] {
        let upType = layout.upType, downType = layout.downType, blockBytes = Int(layout.blockBytes)
        let upRowBytes = upType.rowBytes(cols: lw.up.first?.cols ?? 0)
        let downRowBytes = downType.rowBytes(cols: lw.down.first?.cols ?? 0)
        let maxCols = max(lw.up.first?.cols ?? 0, lw.down.first?.cols ?? 0, 1)
        let results = UnsafeMutableBufferPointer<Result<WrittenBlock, BFFNError>?>.allocate(capacity: slots.count)
        results.initialize(repeating: nil)
        defer {
            _ = results.deinitialize()
            results.deallocate()
        }
        let box = DisjointWrites(results), writer = DisjointWrites(out)
        let buffer = DisjointWrites(blocks.baseAddress!)
        let batch = blocks.count / blockBytes
        var start = 0
        while start < slots.count {
            let end = min(slots.count, start + batch)
            // One part per expert, taken by whichever thread is free (experts take equal time, but the machine may
            // not give both threads equal time); with one thread, one part does them all.
            WorkerPool.shared.run(parts: threads > 1 ? end - start : 1, threads: threads) { part in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: maxCols)
                defer { scratch.deallocate() }
                for i in threads > 1 ? (start + part)..<(start + part + 1) : start..<end {
                    let block = buffer.value + (i - start) * blockBytes
                    let up = lw.up[slots[i]], down = lw.down[slots[i]]
                    var errors = WeightQuantizer.ErrorSums()
                    let upImportance = statistics?.up[slots[i]], downImportance = statistics?.down[slots[i]]
                    for r in 0..<up.rows {
                        encodeRow(up, r, as: upType, search: search, importance: upImportance, into: block + r * upRowBytes, scratch: scratch,
                                  errors: &errors)
                    }
                    let downStart = block + up.rows * upRowBytes
                    for r in 0..<down.rows {
                        encodeRow(down, r, as: downType, search: search, importance: downImportance, into: downStart + r * downRowBytes,
                                  scratch: scratch, errors: &errors)
                    }
                    let crc = CRC32.checksum(UnsafeRawBufferPointer(start: block, count: Int(layout.expertDataBytes)))
                    do {
                        try writer.value.write(UnsafeRawBufferPointer(start: block, count: blockBytes), at: first + UInt64(i * blockBytes))
                        box.value[i] = .success(WrittenBlock(crc: crc, errors: errors))
                    } catch let e as BFFNError {
                        box.value[i] = .failure(e)
                    } catch {
                        box.value[i] = .failure(BFFNError(.io, "\(error)"))
                    }
                }
            }
            start = end
        }
        return results.map { $0! }
    }

    /// Row r of `m` stored as `type` at `destination` (a byte copy when the types agree); `scratch` holds at
    /// least `m.cols` floats. q8/q4 scales follow `search`, weighted by `importance` (`m.cols` weights; nil: x²).
    static func encodeRow(_ m: WeightMatrix, _ r: Int, as type: StorageType, search: WeightQuantizer.ScaleSearch = .nearest,
                          importance: [Float]? = nil, into destination: UnsafeMutableRawPointer,
                          scratch: UnsafeMutablePointer<Float>, errors: inout WeightQuantizer.ErrorSums) {
        if type == m.type && type.isFloat {
            errors.elements += UInt64(m.cols)   // a byte copy: zero error, nothing else to record
            destination.copyMemory(from: m.row(r), byteCount: m.cols * m.type.size)
            return
        }
        func run(_ w: UnsafePointer<Float>?) {
            if m.type.isFloat {
                WeightQuantizer.encode(m.row(r), storedAs: m.type, count: m.cols, as: type, search: search, importance: w, into: destination,
                                       errors: &errors)
            } else {
                m.loadRow(r, into: scratch)
                WeightQuantizer.encode(UnsafeRawPointer(scratch), storedAs: .f32, count: m.cols, as: type, search: search, importance: w,
                                       into: destination, errors: &errors)
            }
        }
        if let importance {
            precondition(importance.count == m.cols, "one importance weight per column")
            importance.withUnsafeBufferPointer { run($0.baseAddress) }
        } else {
            run(nil)
        }
    }
}
