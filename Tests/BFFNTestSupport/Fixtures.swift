import BFFNCore

/// Paths of the checked-in fixtures (see fixtures/README.md).
public enum Fixtures {
    /// The repository root, found from this file's path.
    public static let repositoryRoot: String = {
        var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3) // Tests/BFFNTestSupport/Fixtures.swift
        return parts.joined(separator: "/")
    }()

    /// The `bffn` executable the command-line tests run: the one built beside the running test bundle (the
    /// test target depends on it, so `swift build --build-tests` builds it), else `.build/debug/bffn`.
    public static let bffnBinary: String = {
        if let exe = RunningExecutable.path {
            let beside = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/bffn"
            if access(beside, X_OK) == 0 { return beside }
        }
        return repositoryRoot + "/.build/debug/bffn"
    }()

    /// `fixtures/<relative>`.
    public static func path(_ relative: String) -> String { "\(repositoryRoot)/fixtures/\(relative)" }

    /// The `block` layout reference checkpoint folder (safetensors).
    public static let blockReference = path("reference/mla-block-rms-bf16")
    /// The `block_linear` reference checkpoint folder (pytorch_model.bin).
    public static let blockLinearReference = path("reference/mla-blocklinear-rms-bf16-bin")

    /// The numpy-reference fixtures (fixtures/engine), one folder per variant.
    public static let engineModels: [String] = [
        "gqa-blocklinear-rms-f32", "mha-block-sum-f16", "gqa-fastmoe-none-bf16", "mla-megablocks-rms-bf16", "mla-bmt-rms-bf16",
        "gqa-blocklinear-tied-linearrope-bf16", "mla-blocklinear-sharded-bin-f16", "mha-block-rms-sharded-bf16",
        "gqa-dynamicrope-blocklinear-f32", "gqa-vanilla-dense-f32",
    ].map { path("engine/\($0)") }

    /// Every model fixture: the two published-code references, then the numpy-reference fixtures.
    public static let allModels: [String] = [blockReference, blockLinearReference] + engineModels
    /// The bundled trained model (docs/training.md): a real checkpoint with its tokenizer and PyTorch reference.
    public static let trainedModel = path("trained")
    /// The EAGLE draft head trained for it (docs/training.md, "The EAGLE head"), with its PyTorch draft reference.
    public static let trainedEagle = path("trained/eagle")

    /// The bytes of a fixture file.
    public static func bytes(_ path: String) throws -> [UInt8] {
        try MappedFile(path: path).contents
    }
}

/// One row of an expected-tensor table written by an independent reader (numpy or torch).
public struct ExpectedTensor: Sendable {
    public var name: String
    public var dtype: String
    public var shape: [Int]
    public var bytes: Int
    public var crc32: UInt32
    public var first: [Double]

    /// Loads `{"tensors": [...]}` from `path`.
    public static func load(_ path: String) throws -> [ExpectedTensor] {
        let json = try MappedFile(path: path).withBytes { try JSONValue.parse($0, file: path) }
        return (json["tensors"]?.arrayElements ?? []).map { r in
            ExpectedTensor(name: r["name"]?.stringValue ?? "", dtype: r["dtype"]?.stringValue ?? "",
                           shape: r["shape"]?.arrayElements?.compactMap { $0.intValue.map(Int.init) } ?? [],
                           bytes: Int(r["bytes"]?.intValue ?? -1), crc32: UInt32(r["crc32"]?.intValue ?? -1),
                           first: r["first"]?.arrayElements?.compactMap { $0.numberValue } ?? [])
        }
    }
}

/// A temporary folder removed (with its files) when the object goes away.
public final class TemporaryDirectory: @unchecked Sendable {
    /// The folder's path.
    public let path: String

    /// Creates a fresh folder under /tmp.
    public init() {
        var template = Array("/tmp/bffn-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }

    /// `path/name`.
    public func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `bytes` to `path/name` and returns the path.
    @discardableResult
    public func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = file(name)
        try writeFileAtomically(p, bytes)
        return p
    }

    /// Writes text to `path/name` and returns the path.
    @discardableResult
    public func write(_ name: String, text: String) throws -> String {
        try write(name, Array(text.utf8))
    }

    /// Copies a file into the folder under `name`.
    @discardableResult
    public func copy(_ source: String, as name: String) throws -> String {
        try write(name, Fixtures.bytes(source))
    }

    /// Makes a sub-folder.
    public func makeFolder(_ name: String) -> String {
        let p = file(name)
        mkdir(p, 0o755)
        return p
    }

    deinit {
        removeTree(path)
    }

    private func removeTree(_ p: String) {
        for name in (try? Directory.names(in: p)) ?? [] {
            let child = "\(p)/\(name)"
            var st = stat()
            if lstat(child, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { removeTree(child) } else { unlink(child) }
        }
        rmdir(p)
    }
}

/// Little-endian byte building for crafted test files.
public extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }
}
