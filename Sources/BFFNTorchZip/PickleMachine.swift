import BFFNCore

/// A restricted pickle interpreter for what `torch.save` writes for a state dict.
///
/// It never imports or calls anything: GLOBAL names are checked against a fixed allow-list (OrderedDict,
/// the tensor rebuild functions, storage classes and dtype objects), REDUCE runs only the three rebuild
/// functions and `OrderedDict()` as built-in Swift code, and persistent ids must be storage tuples. Any other
/// global, opcode or shape of data is an error naming the byte offset. Bounds: nesting depth
/// (`maxDepth`), memo size, and stack size, so hostile input cannot exhaust memory or the stack.
public struct PickleMachine {
    /// The deepest container nesting accepted.
    public static let maxDepth = 64
    /// The most memo entries and stack slots accepted.
    public static let maxSlots = 10_000_000

    /// The storage classes torch.save names, and the dtype each implies.
    static let storageClasses: [String: DType] = [
        "DoubleStorage": .f64, "FloatStorage": .f32, "HalfStorage": .f16, "BFloat16Storage": .bf16,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8, "ByteStorage": .u8,
        "BoolStorage": .bool, "ComplexFloatStorage": .c64, "UntypedStorage": .u8,
    ]

    /// The `torch.<dtype>` objects `_rebuild_tensor_v3` receives, and the dtype each is.
    static let dtypeObjects: [String: DType] = [
        "float64": .f64, "double": .f64, "float32": .f32, "float": .f32, "float16": .f16, "half": .f16,
        "bfloat16": .bf16, "int64": .i64, "long": .i64, "int32": .i32, "int": .i32, "int16": .i16,
        "short": .i16, "int8": .i8, "uint8": .u8, "bool": .bool, "uint16": .u16, "uint32": .u32,
        "uint64": .u64, "complex64": .c64, "float8_e4m3fn": .f8e4m3, "float8_e5m2": .f8e5m2,
        "float8_e8m0fnu": .f8e8m0,
    ]

    /// True when `module.name` may appear in a GLOBAL.
    static func isAllowed(_ g: PickleGlobal) -> Bool {
        switch (g.module, g.name) {
        case ("collections", "OrderedDict"),
             ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor_v3"),
             ("torch._utils", "_rebuild_parameter"):
            return true
        case ("torch", let n): return storageClasses[n] != nil || dtypeObjects[n] != nil
        case ("torch.storage", "UntypedStorage"): return true
        default: return false
        }
    }

    private let bytes: UnsafeRawBufferPointer
    private let base: UInt64
    private let file: String?
    private var pos = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [UInt32: PickleValue] = [:]

    /// Prepares to run `bytes`; `base` is their absolute offset in `file` (used in errors).
    public init(_ bytes: UnsafeRawBufferPointer, file: String?, base: UInt64 = 0) {
        self.bytes = bytes
        self.file = file
        self.base = base
    }

    /// Runs the pickle to STOP and returns the top value.
    /// - Throws: `BFFNError` with code `.forbiddenGlobal`, `.malformed`, `.truncated`, `.unsupported` or
    ///   `.limitExceeded`, naming the offset of the opcode that failed.
    public mutating func run() throws -> PickleValue {
        while true {
            let opOffset = pos
            guard pos < bytes.count else {
                throw error(.truncated, "pickle ends without STOP", at: opOffset)
            }
            let op = bytes[pos]
            pos += 1
            do {
                if let result = try step(op, at: opOffset) { return result }
            } catch var e as BFFNError {
                if e.location.offset == nil { e.location.offset = base + UInt64(opOffset) }
                if e.location.file == nil { e.location.file = file }
                throw e
            }
        }
    }

    private func error(_ code: BFFNError.Code, _ reason: String, at offset: Int) -> BFFNError {
        BFFNError(code, reason, file: file, field: "data.pkl", offset: base + UInt64(offset))
    }

    // MARK: - Reading arguments

    private mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - pos else {
            throw error(.truncated, "pickle ends inside an opcode argument (\(n) bytes needed)", at: pos)
        }
        let s = UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
        pos += n
        return s
    }

    private mutating func le<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let s = try take(MemoryLayout<T>.size)
        return T(littleEndian: s.loadUnaligned(as: T.self))
    }

    private mutating func line() throws -> String {
        guard let nl = bytes[pos...].firstIndex(of: 0x0A) else {
            throw error(.truncated, "pickle ends inside a GLOBAL name", at: pos)
        }
        let s = UnsafeRawBufferPointer(rebasing: bytes[pos..<nl])
        pos = nl + 1
        guard let text = String(validating: s, as: UTF8.self) else {
            throw error(.malformed, "GLOBAL name is not UTF-8", at: pos)
        }
        return text
    }

    private mutating func utf8(_ n: Int) throws -> String {
        let s = try take(n)
        guard let text = String(validating: s, as: UTF8.self) else {
            throw error(.malformed, "string is not valid UTF-8", at: pos - n)
        }
        return text
    }

    // MARK: - Stack

    private mutating func push(_ v: PickleValue) throws {
        guard stack.count < PickleMachine.maxSlots else {
            throw BFFNError(.limitExceeded, "pickle stack exceeds \(PickleMachine.maxSlots) values")
        }
        guard v.depth <= PickleMachine.maxDepth else {
            throw BFFNError(.limitExceeded, "pickle nests containers deeper than \(PickleMachine.maxDepth) levels")
        }
        stack.append(v)
    }

    private mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw BFFNError(.malformed, "pickle pops an empty stack") }
        if let m = marks.last, stack.count < m { throw BFFNError(.malformed, "pickle pops past a MARK") }
        return v
    }

    private mutating func popToMark() throws -> [PickleValue] {
        guard let m = marks.popLast() else { throw BFFNError(.malformed, "pickle has no MARK to pop to") }
        guard m <= stack.count else { throw BFFNError(.malformed, "pickle MARK lies above the stack") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func memoPut(_ key: UInt32) throws {
        guard let top = stack.last else { throw BFFNError(.malformed, "memo put on an empty stack") }
        guard memo.count < PickleMachine.maxSlots || memo[key] != nil else {
            throw BFFNError(.limitExceeded, "pickle memo exceeds \(PickleMachine.maxSlots) entries")
        }
        memo[key] = top
    }

    private mutating func memoGet(_ key: UInt32) throws {
        guard let v = memo[key] else { throw BFFNError(.malformed, "pickle reads memo slot \(key), which was never set") }
        try push(v)
    }

    // MARK: - Containers

    private func setItems(_ dict: PickleValue, _ pairs: ArraySlice<PickleValue>) throws {
        guard case .dict(let d) = dict else {
            throw BFFNError(.malformed, "SETITEM(S) applies to a \(dict.kindName), not a dict")
        }
        guard !d.frozen else { throw BFFNError(.malformed, "pickle mutates a dict after placing it in another container") }
        guard pairs.count % 2 == 0 else { throw BFFNError(.malformed, "SETITEMS has an odd number of items") }
        var i = pairs.startIndex
        while i < pairs.endIndex {
            let k = pairs[i], v = pairs[i + 1]
            if case .dict(let inner) = v, inner === d { throw BFFNError(.malformed, "pickle puts a dict inside itself") }
            guard 1 + v.depth <= PickleMachine.maxDepth else {
                throw BFFNError(.limitExceeded, "pickle nests containers deeper than \(PickleMachine.maxDepth) levels")
            }
            v.freeze()
            k.freeze()
            if case .string(let s) = k, let existing = d.stringIndex[s] {
                d.values[existing] = v
            } else {
                if case .string(let s) = k { d.stringIndex[s] = d.keys.count }
                d.keys.append(k)
                d.values.append(v)
            }
            d.depth = max(d.depth, 1 + max(v.depth, k.depth))
            i += 2
        }
    }

    private func appendItems(_ list: PickleValue, _ items: [PickleValue]) throws {
        guard case .list(let l) = list else {
            throw BFFNError(.malformed, "APPEND(S) applies to a \(list.kindName), not a list")
        }
        guard !l.frozen else { throw BFFNError(.malformed, "pickle mutates a list after placing it in another container") }
        for v in items {
            if case .list(let inner) = v, inner === l { throw BFFNError(.malformed, "pickle puts a list inside itself") }
            guard 1 + v.depth <= PickleMachine.maxDepth else {
                throw BFFNError(.limitExceeded, "pickle nests containers deeper than \(PickleMachine.maxDepth) levels")
            }
            v.freeze()
            l.items.append(v)
            l.depth = max(l.depth, 1 + v.depth)
        }
    }

    // MARK: - One opcode

    private mutating func step(_ op: UInt8, at offset: Int) throws -> PickleValue? {
        switch op {
        case 0x80: // PROTO
            let v = try take(1)[0]
            guard v >= 2 && v <= 5 else { throw error(.unsupported, "pickle protocol \(v) is not supported (2-5 are)", at: offset) }
        case 0x95: // FRAME
            _ = try le(UInt64.self)
        case UInt8(ascii: "."): // STOP
            let v = try pop()
            return v
        case UInt8(ascii: "("): // MARK
            guard marks.count < PickleMachine.maxDepth * 4 else {
                throw BFFNError(.limitExceeded, "pickle opens more than \(PickleMachine.maxDepth * 4) MARKs")
            }
            marks.append(stack.count)
        case UInt8(ascii: "0"): // POP
            if let m = marks.last, m == stack.count { marks.removeLast() } else { _ = try pop() }
        case UInt8(ascii: "1"): // POP_MARK
            _ = try popToMark()
        case UInt8(ascii: "N"): try push(.none)
        case 0x88: try push(.bool(true))
        case 0x89: try push(.bool(false))
        case UInt8(ascii: "J"): try push(.int(Int64(try le(Int32.self))))
        case UInt8(ascii: "K"): try push(.int(Int64(try le(UInt8.self))))
        case UInt8(ascii: "M"): try push(.int(Int64(try le(UInt16.self))))
        case 0x8A: // LONG1
            let n = Int(try take(1)[0])
            guard n <= 8 else { throw error(.limitExceeded, "integer of \(n) bytes does not fit in 64 bits", at: offset) }
            let b = try take(n)
            var v: Int64 = 0
            for i in 0..<n { v |= Int64(b[i]) << (8 * Int64(i)) }
            if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 { v -= Int64(1) << (8 * Int64(n)) }
            try push(.int(v))
        case UInt8(ascii: "G"): // BINFLOAT, big-endian
            try push(.float(Double(bitPattern: UInt64(bigEndian: try take(8).loadUnaligned(as: UInt64.self)))))
        case UInt8(ascii: "X"): try push(.string(try utf8(Int(try le(UInt32.self)))))
        case 0x8C: try push(.string(try utf8(Int(try le(UInt8.self)))))
        case 0x8D:
            let n = try le(UInt64.self)
            guard n <= UInt64(bytes.count) else { throw error(.truncated, "string of \(n) bytes runs past the pickle", at: offset) }
            try push(.string(try utf8(Int(n))))
        case UInt8(ascii: "B"): try push(.bytes(Array(try take(Int(try le(UInt32.self))))))
        case UInt8(ascii: "C"): try push(.bytes(Array(try take(Int(try le(UInt8.self))))))
        case UInt8(ascii: ")"): try push(.tuple(PickleTuple([])))
        case UInt8(ascii: "t"): try push(.tuple(PickleTuple(try popToMark())))
        case 0x85: let a = try pop(); try push(.tuple(PickleTuple([a])))
        case 0x86: let b = try pop(), a = try pop(); try push(.tuple(PickleTuple([a, b])))
        case 0x87: let c = try pop(), b = try pop(), a = try pop(); try push(.tuple(PickleTuple([a, b, c])))
        case UInt8(ascii: "]"): try push(.list(PickleList()))
        case UInt8(ascii: "l"):
            let items = try popToMark()
            let l = PickleValue.list(PickleList())
            try appendItems(l, items)
            try push(l)
        case UInt8(ascii: "a"):
            let v = try pop()
            guard let l = stack.last else { throw BFFNError(.malformed, "APPEND with no list") }
            try appendItems(l, [v])
        case UInt8(ascii: "e"):
            let items = try popToMark()
            guard let l = stack.last else { throw BFFNError(.malformed, "APPENDS with no list") }
            try appendItems(l, items)
        case UInt8(ascii: "}"): try push(.dict(PickleDict()))
        case UInt8(ascii: "d"):
            let items = try popToMark()
            let d = PickleValue.dict(PickleDict())
            try setItems(d, items[...])
            try push(d)
        case UInt8(ascii: "s"):
            let v = try pop(), k = try pop()
            guard let d = stack.last else { throw BFFNError(.malformed, "SETITEM with no dict") }
            try setItems(d, [k, v][...])
        case UInt8(ascii: "u"):
            let items = try popToMark()
            guard let d = stack.last else { throw BFFNError(.malformed, "SETITEMS with no dict") }
            try setItems(d, items[...])
        case UInt8(ascii: "c"): // GLOBAL
            let module = try line()
            let name = try line()
            try pushGlobal(PickleGlobal(module: module, name: name), at: offset)
        case 0x93: // STACK_GLOBAL
            let n = try pop(), m = try pop()
            guard case .string(let module) = m, case .string(let name) = n else {
                throw error(.malformed, "STACK_GLOBAL needs two strings", at: offset)
            }
            try pushGlobal(PickleGlobal(module: module, name: name), at: offset)
        case UInt8(ascii: "R"): // REDUCE
            let args = try pop(), callable = try pop()
            try push(try reduce(callable, args))
        case UInt8(ascii: "b"): // BUILD
            let state = try pop()
            guard let target = stack.last else { throw BFFNError(.malformed, "BUILD with no object") }
            // torch.save of module.state_dict() sets `_metadata` on the OrderedDict; it carries no weights.
            guard case .dict = target else {
                throw error(.unsupported, "BUILD on a \(target.kindName) is not part of a state dict", at: offset)
            }
            guard case .dict = state else {
                throw error(.unsupported, "BUILD state of a dict must be a dict, found \(state.kindName)", at: offset)
            }
        case UInt8(ascii: "Q"): // BINPERSID
            try push(try persistentLoad(try pop()))
        case UInt8(ascii: "q"): try memoPut(UInt32(try le(UInt8.self)))
        case UInt8(ascii: "r"): try memoPut(try le(UInt32.self))
        case 0x94: try memoPut(UInt32(truncatingIfNeeded: memo.count))
        case UInt8(ascii: "h"): try memoGet(UInt32(try le(UInt8.self)))
        case UInt8(ascii: "j"): try memoGet(try le(UInt32.self))
        default:
            throw error(.unsupported, "pickle opcode 0x\(String(op, radix: 16)) is not part of what torch.save writes for a state dict", at: offset)
        }
        return nil
    }

    private mutating func pushGlobal(_ g: PickleGlobal, at offset: Int) throws {
        guard PickleMachine.isAllowed(g) else {
            throw BFFNError(.forbiddenGlobal, "pickle names the global '\(g.module).\(g.name)', which a state dict never needs; refusing (nothing was executed)",
                            file: file, field: "data.pkl", offset: base + UInt64(offset))
        }
        try push(.global(g))
    }

    private func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case .global(let g) = callable else {
            throw BFFNError(.malformed, "REDUCE calls a \(callable.kindName)")
        }
        guard case .tuple(let t) = args else { throw BFFNError(.malformed, "REDUCE arguments are a \(args.kindName), not a tuple") }
        let a = t.items
        switch (g.module, g.name) {
        case ("collections", "OrderedDict"):
            guard a.isEmpty else { throw BFFNError(.unsupported, "OrderedDict called with arguments") }
            return .dict(PickleDict())
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor_v3"):
            let v3 = g.name.hasSuffix("v3")
            guard a.count >= (v3 ? 7 : 6) && a.count <= (v3 ? 8 : 7) else {
                throw BFFNError(.malformed, "\(g.name) takes \(v3 ? "7-8" : "6-7") arguments, got \(a.count)")
            }
            guard case .storage(let storage) = a[0] else { throw BFFNError(.malformed, "\(g.name) argument 0 is a \(a[0].kindName), not a storage") }
            guard case .int(let offset) = a[1], offset >= 0 else { throw BFFNError(.malformed, "\(g.name) storage offset must be a non-negative int") }
            let shape = try intTuple(a[2], what: "size")
            let strides = try intTuple(a[3], what: "stride")
            guard shape.count == strides.count else {
                throw BFFNError(.shapeMismatch, "size has \(shape.count) dimensions but stride has \(strides.count)")
            }
            var dtype = storage.dtype
            if v3 {
                guard case .global(let dg) = a[6], dg.module == "torch", let d = PickleMachine.dtypeObjects[dg.name] else {
                    throw BFFNError(.unknownDType, "_rebuild_tensor_v3 dtype argument is \(a[6].kindName)")
                }
                dtype = d
            }
            return .tensor(TorchTensorRecord(storage: storage, dtype: dtype, storageOffset: UInt64(offset),
                                             shape: shape, strides: strides))
        case ("torch._utils", "_rebuild_parameter"):
            guard a.count == 3, case .tensor = a[0] else { throw BFFNError(.malformed, "_rebuild_parameter needs (tensor, requires_grad, hooks)") }
            return a[0]
        default:
            throw BFFNError(.forbiddenGlobal, "REDUCE on '\(g.module).\(g.name)', which is data, not a function; refusing")
        }
    }

    private func intTuple(_ v: PickleValue, what: String) throws -> [Int] {
        guard case .tuple(let t) = v else { throw BFFNError(.malformed, "tensor \(what) is a \(v.kindName), not a tuple") }
        return try t.items.map {
            guard case .int(let i) = $0, i >= 0, i < Int64(Int32.max) * 1024 else {
                throw BFFNError(.malformed, "tensor \(what) holds \($0.kindName) that is not a non-negative int")
            }
            return Int(i)
        }
    }

    private func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let t) = pid, t.items.count == 5, case .string("storage") = t.items[0] else {
            throw BFFNError(.unsupported, "persistent id is not a ('storage', class, key, location, numel) tuple")
        }
        guard case .global(let cls) = t.items[1], let dtype = PickleMachine.storageClasses[cls.name] else {
            throw BFFNError(.unknownDType, "persistent id names storage class \(t.items[1].kindName)")
        }
        guard case .string(let key) = t.items[2] else { throw BFFNError(.malformed, "storage key is a \(t.items[2].kindName), not a string") }
        guard !key.isEmpty, !key.contains("/"), key != ".." else {
            throw BFFNError(.malformed, "storage key '\(key)' is not a plain entry name")
        }
        guard case .int(let numel) = t.items[4], numel >= 0 else { throw BFFNError(.malformed, "storage element count must be a non-negative int") }
        return .storage(TorchStorageRef(key: key, dtype: dtype, elementCount: UInt64(numel)))
    }
}
