import BFFN
import BFFNCheckpoint
import BFFNCore
import BFFNKernels
import BFFNPack
import BFFNVerify

// include/bffn.h, "Versions" and "Files": bffn_version, bffn_inspect, bffn_convert, bffn_verify, and the tensors
// of a checkpoint (bffn_tensors_*).

/// The release string, allocated once and never freed (a static string for C).
nonisolated(unsafe) let versionString: UnsafeMutablePointer<CChar> = strdup(BFFNVersion.string)!

@_cdecl("bffn_version")
public func bffn_version() -> UnsafePointer<CChar> { UnsafePointer(versionString) }

@_cdecl("bffn_inspect")
public func bffn_inspect(_ path: UnsafePointer<CChar>?, _ check: Int32, _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    call {
        guard let out else { throw BFFNError(.usage, "out_json is NULL", field: "out_json") }
        out.pointee = nil
        let inspection = try ModelInspection(path: try string(path, "path"), check: check != 0)
        try handOut(inspection.json, to: out)
    }
}

@_cdecl("bffn_convert")
public func bffn_convert(_ source: UnsafePointer<CChar>?, _ output: UnsafePointer<CChar>?, _ optionsJSON: UnsafePointer<CChar>?,
                         _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    call {
        out?.pointee = nil
        let source = try string(source, "source"), output = try string(output, "output")
        let given = try options(optionsJSON, "options_json", known: ["quant", "overrides", "alignment", "threads", "force"])
        var o = ConvertOptions()
        if let q = given["quant"] { o.setQuantization(try QuantChoice(parsing: try text(q, "quant"))) }
        if let v = given["overrides"] {
            guard let members = v.objectMembers else { throw BFFNError(.usage, "overrides must be an object of class: scheme", field: "overrides") }
            for m in members {
                o.overrides.append(try StorageOverride(parsing: "\(m.key)=\(try text(m.value, "overrides.\(m.key)"))"))
            }
        }
        if let v = given["alignment"] {
            o.alignment = try integer(v, "alignment", in: 1...(1 << 30))
            guard PackHeader.isSupportedAlignment(o.alignment) else { throw BFFNError(.usage, "alignment must be \(PackHeader.alignmentRule)", field: "alignment") }
        }
        if let v = given["threads"] { o.threads = try integer(v, "threads", in: 1...256) }
        if let v = given["force"] { o.overwrite = try flag(v, "force") }
        let (report, carried) = try Conversion.convert(source: source, output: output, options: o)
        try handOut(report.json.appending("carried_files", .array(carried.map { .string($0) })), to: out)
    }
}

@_cdecl("bffn_verify")
public func bffn_verify(_ model: UnsafePointer<CChar>?, _ reference: UnsafePointer<CChar>?, _ optionsJSON: UnsafePointer<CChar>?,
                        _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    call {
        out?.pointee = nil
        let model = try string(model, "model"), reference = try string(reference, "reference")
        let given = try options(optionsJSON, "options_json", known: ["threads", "text", "max_new_tokens"])
        var o = VerifyOptions()
        o.activations = .auto   // as bffn verify runs by default
        if let v = given["threads"] { o.threads = try integer(v, "threads", in: 1...256) }
        if let v = given["max_new_tokens"] { o.maxNewTokens = try integer(v, "max_new_tokens", in: 0...100_000) }
        let textFile = try given["text"].map { try text($0, "text") }
        let report = try Conversion.verify(model: model, reference: reference, textFile: textFile, options: o)
        try handOut(report.json, to: out)
    }
}

/// An open checkpoint's tensors with the C views of their names, dtypes, shapes and bytes.
final class OpenTensors: @unchecked Sendable {
    struct Entry {
        let name: UnsafeMutablePointer<CChar>, dtype: UnsafeMutablePointer<CChar>
        let shape: UnsafeMutableBufferPointer<Int64>
        let rank: Int
        let bytes: LoadedBytes
    }
    let entries: [Entry]

    init(path: String) throws {
        let file = try TensorFile(path: path)
        entries = try file.tensors.map { t in
            let shape = UnsafeMutableBufferPointer<Int64>.allocate(capacity: max(t.shape.count, 1))
            for (i, d) in t.shape.enumerated() { shape[i] = Int64(d) }
            return Entry(name: strdup(t.name)!, dtype: strdup(t.dtype.rawValue)!, shape: shape, rank: t.shape.count, bytes: try file.bytes(of: t))
        }
    }

    deinit {
        for e in entries {
            free(e.name)
            free(e.dtype)
            e.shape.deallocate()
        }
    }
}

let tensorSets = HandleRegistry<OpenTensors>(kind: "bffn_tensors")

@_cdecl("bffn_tensors_open")
public func bffn_tensors_open(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    call {
        guard let out else { throw BFFNError(.usage, "out_tensors is NULL", field: "out_tensors") }
        out.pointee = nil
        out.pointee = tensorSets.open(try OpenTensors(path: try string(path, "path")))
    }
}

@_cdecl("bffn_tensors_count")
public func bffn_tensors_count(_ tensors: OpaquePointer?) -> Int {
    (try? tensorSets.object(tensors, "tensors"))?.entries.count ?? 0
}

@_cdecl("bffn_tensor_info")
public func bffn_tensor_info(_ tensors: OpaquePointer?, _ index: Int, _ name: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                             _ dtype: UnsafeMutablePointer<UnsafePointer<CChar>?>?, _ rank: UnsafeMutablePointer<Int>?,
                             _ shape: UnsafeMutablePointer<UnsafePointer<Int64>?>?, _ data: UnsafeMutablePointer<UnsafeRawPointer?>?,
                             _ bytes: UnsafeMutablePointer<Int>?) -> Int32 {
    call {
        let set = try tensorSets.object(tensors, "tensors")
        guard index >= 0 && index < set.entries.count else {
            throw BFFNError(.outOfBounds, "index \(index) is not below the tensor count \(set.entries.count)", field: "index")
        }
        let e = set.entries[index]
        name?.pointee = UnsafePointer(e.name)
        dtype?.pointee = UnsafePointer(e.dtype)
        rank?.pointee = e.rank
        shape?.pointee = UnsafePointer(e.shape.baseAddress)
        data?.pointee = e.bytes.bytes.baseAddress
        bytes?.pointee = e.bytes.bytes.count
    }
}

@_cdecl("bffn_tensors_close")
public func bffn_tensors_close(_ tensors: OpaquePointer?) {
    tensorSets.close(tensors)
}
