import BFFNCore
import CBlockFFNInterfaceState
import Synchronization

// What every exported function shares: the status codes of include/bffn.h, turning thrown errors into a status
// and the thread's last error, reading C strings and JSON arguments, handing strings and ids to the caller, and the
// registry that tells live handles from NULL, closed or foreign pointers.

/// include/bffn.h's status code for an error code.
func status(of code: BFFNError.Code) -> Int32 {
    switch code {
    case .usage: return 1
    case .io: return 2
    case .truncated: return 3
    case .malformed, .invalidJSON, .duplicateName, .unknownDType, .badLayout: return 4
    case .unsupported, .forbiddenGlobal: return 5
    case .checksumMismatch: return 6
    case .limitExceeded, .budgetExceeded, .outOfBounds, .shapeMismatch: return 7
    case .invalidConfig, .missingTensor: return 8
    case .outputExists: return 9
    case .verificationFailed: return 10
    case .internalError: return 11
    case .templateSyntax, .templateRaised, .templateError: return 12
    }
}

/// Runs one exported call: clears the thread's last error, runs `body`, and turns what it throws into a status
/// code with the error recorded (message with file, field and offset).
func call(_ body: () throws -> Void) -> Int32 {
    bffn_interface_clear_error()
    do {
        try body()
        return 0
    } catch let e as BFFNError {
        bffn_interface_set_error(status(of: e.code), e.code.rawValue, e.description)
        return status(of: e.code)
    } catch {
        bffn_interface_set_error(11, BFFNError.Code.internalError.rawValue, "\(error)")
        return 11
    }
}

/// A NUL-terminated UTF-8 argument; `.usage` naming the parameter when it is NULL.
func string(_ pointer: UnsafePointer<CChar>?, _ parameter: String) throws -> String {
    guard let pointer else { throw BFFNError(.usage, "\(parameter) is NULL", field: parameter) }
    return String(decoding: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), as: UTF8.self)
}

/// A JSON-object argument (NULL: an empty object), with its members; `.usage` for anything but an object, and
/// for a member not among `known` (a misspelt option is an error, not ignored).
func options(_ pointer: UnsafePointer<CChar>?, _ parameter: String, known: Set<String>) throws -> JSONValue {
    guard let pointer else { return JSONValue.object([JSONMember]()) }
    let value = try JSONValue.parse(try string(pointer, parameter), file: nil, what: parameter)
    guard let members = value.objectMembers else { throw BFFNError(.usage, "\(parameter) must be a JSON object, not \(value.typeName)", field: parameter) }
    if let unknown = members.first(where: { !known.contains($0.key) }) {
        throw BFFNError(.usage, "unknown member \"\(unknown.key)\" (known: \(known.sorted().joined(separator: ", ")))", field: parameter)
    }
    return value
}

/// A JSON integer argument member within `range`.
/// - Throws: `.invalidJSON` for a value that is not an integer, `.outOfBounds` outside `range`, naming `field`.
func integer(_ value: JSONValue, _ field: String, in range: ClosedRange<Int64>) throws -> Int {
    Int(try CheckedNumbers.integer(value, in: range, file: nil, field: field, offset: nil))
}

/// `text` copied into a malloc'd NUL-terminated buffer for the caller (freed with bffn_string_free).
func handOut(_ text: String) throws -> UnsafeMutablePointer<CChar> {
    let bytes = Array(text.utf8)
    guard let p = malloc(bytes.count + 1)?.assumingMemoryBound(to: CChar.self) else { throw BFFNError(.limitExceeded, "out of memory for \(bytes.count) bytes") }
    bytes.withUnsafeBytes { UnsafeMutableRawPointer(p).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    p[bytes.count] = 0
    return p
}

/// Writes `value` serialized (pretty, with its schema version first, as `bffn ... --json` prints it) to `out` when the caller wants it (a non-NULL `out`).
func handOut(_ value: JSONValue, to out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) throws {
    guard let out else { return }
    out.pointee = try handOut(value.versioned.serialized(pretty: true))
}

/// Live handles: a pointer is accepted only while the object it was made for is open, so a NULL, closed or foreign
/// pointer is a usage error instead of a crash.
final class HandleRegistry<Object: AnyObject & Sendable>: Sendable {
    private let live = Mutex<[UInt: Object]>([:])
    let kind: String

    init(kind: String) { self.kind = kind }

    /// Registers `object` and returns its handle.
    func open(_ object: Object) -> OpaquePointer {
        let key = UInt(bitPattern: Unmanaged.passUnretained(object).toOpaque())
        live.withLock { $0[key] = object }
        return OpaquePointer(bitPattern: key)!
    }

    /// The object of a live handle.
    /// - Throws: `.usage` for NULL and for a pointer that is not a live handle of this kind.
    func object(_ handle: OpaquePointer?, _ parameter: String) throws -> Object {
        guard let handle else { throw BFFNError(.usage, "\(parameter) is NULL", field: parameter) }
        let key = UInt(bitPattern: UnsafeRawPointer(handle))
        guard let object = live.withLock({ $0[key] }) else {
            throw BFFNError(.usage, "\(parameter) is not an open \(kind) handle (closed already, or never opened)", field: parameter)
        }
        return object
    }

    /// Forgets a handle (NULL and unknown pointers: nothing happens); the object goes when its last user is done.
    func close(_ handle: OpaquePointer?) {
        guard let handle else { return }
        let key = UInt(bitPattern: UnsafeRawPointer(handle))
        _ = live.withLock { $0.removeValue(forKey: key) }
    }
}
