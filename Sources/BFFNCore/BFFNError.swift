/// Where in the input an error was found: the file, the named field or tensor, and the byte offset.
///
/// Every part is optional because not every error has all three (a usage error has no file, a JSON error
/// may have no tensor name). Offsets are absolute byte offsets from the start of `file`.
public struct BFFNErrorLocation: Sendable, Equatable, CustomStringConvertible {
    /// The file the error is in, as the user named it.
    public var file: String?
    /// The tensor, JSON key or record the error is about, e.g. `model.layers.0.mlp.up_proj`.
    public var field: String?
    /// The absolute byte offset in `file` where the problem starts, in bytes.
    public var offset: UInt64?

    /// Creates a location; every part may be omitted.
    public init(file: String? = nil, field: String? = nil, offset: UInt64? = nil) {
        self.file = file
        self.field = field
        self.offset = offset
    }

    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let field { parts.append("'\(field)'") }
        if let offset { parts.append("byte \(offset)") }
        return parts.joined(separator: ", ")
    }
}

/// The error every bffn library throws: a stable `code`, a human `reason`, and a `location`.
///
/// Two errors are equal when their codes are equal, so tests can match on the class of failure while the
/// message stays free to improve. `exitCode` is what the command-line tool exits with for it.
public struct BFFNError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The class of failure. Raw values are stable and appear in `--json` output.
    public enum Code: String, Sendable, CaseIterable {
        /// A command-line usage error (bad flag value, missing argument). Exit code 2.
        case usage
        /// The operating system refused an operation (open, mmap, write, rename).
        case io
        /// The file ends before a structure it declares.
        case truncated
        /// A header or record is not what the format allows.
        case malformed
        /// Text that must be JSON is not valid JSON (or is not the JSON shape required).
        case invalidJSON = "invalid_json"
        /// A name that must be unique occurs twice.
        case duplicateName = "duplicate_name"
        /// A dtype string or storage class we do not know.
        case unknownDType = "unknown_dtype"
        /// A declared shape disagrees with the bytes or with what the model needs.
        case shapeMismatch = "shape_mismatch"
        /// A byte range lies outside the data it must be in.
        case outOfBounds = "out_of_bounds"
        /// Two byte ranges overlap, or a data section has bytes no tensor covers.
        case badLayout = "bad_layout"
        /// A checksum does not match the data.
        case checksumMismatch = "checksum_mismatch"
        /// A feature of the format that bffn does not read (e.g. encrypted zip entries).
        case unsupported
        /// A pickle names a global outside the allowed set; nothing is executed.
        case forbiddenGlobal = "forbidden_global"
        /// A resource bound was hit (nesting depth, memo size, declared sizes).
        case limitExceeded = "limit_exceeded"
        /// config.json has a key of the wrong type or an impossible value.
        case invalidConfig = "invalid_config"
        /// A tensor the architecture needs is missing.
        case missingTensor = "missing_tensor"
        /// The output already exists and overwriting was not asked for.
        case outputExists = "output_exists"
        /// What must be resident does not fit the memory budget given.
        case budgetExceeded = "budget_exceeded"
        /// A model failed verification against its reference (nothing was written).
        case verificationFailed = "verification_failed"
        /// A chat template's text is not valid Jinja; the reason names the line and column.
        case templateSyntax = "template_syntax"
        /// A chat template called `raise_exception(message)`; the reason is exactly the message.
        case templateRaised = "template_raised"
        /// A chat template failed while rendering (a wrong type, an undefined value used, an unknown filter).
        case templateError = "template_error"
        /// bffn contradicted itself (a plan and what was done disagree): a bug to report, whatever the input.
        case internalError = "internal"
    }

    /// The class of failure.
    public var code: Code
    /// What went wrong, in words a user can act on.
    public var reason: String
    /// Where the problem is.
    public var location: BFFNErrorLocation

    /// Creates an error.
    public init(_ code: Code, _ reason: String, file: String? = nil, field: String? = nil, offset: UInt64? = nil) {
        self.code = code
        self.reason = reason
        self.location = BFFNErrorLocation(file: file, field: field, offset: offset)
    }

    /// The process exit status the tool uses: 2 for usage errors, 1 for everything else.
    public var exitCode: Int32 { code == .usage ? 2 : 1 }

    public var description: String {
        let loc = location.description
        return loc.isEmpty ? "\(reason) [\(code.rawValue)]" : "\(loc): \(reason) [\(code.rawValue)]"
    }

    public static func == (lhs: BFFNError, rhs: BFFNError) -> Bool { lhs.code == rhs.code }

    /// What every `--json` command prints on failure (docs/json.md): `{"error": {"code", "reason", "file",
    /// "field", "offset"}}`, the location's parts null where unknown.
    public var json: JSONValue {
        .object([
            ("error", .object([
                ("code", .string(code.rawValue)), ("reason", .string(reason)),
                ("file", location.file.map { .string($0) } ?? .null),
                ("field", location.field.map { .string($0) } ?? .null),
                ("offset", location.offset.map { .integer($0) } ?? .null),
            ])),
        ])
    }
}
