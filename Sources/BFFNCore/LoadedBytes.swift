/// Bytes read from a file: either a view into memory that `owner` keeps alive (a mapping, a cached
/// storage), or a buffer this object allocated and frees (an inflated zip entry, a gathered strided tensor).
///
/// `bytes` is valid while this object lives; when the object is a temporary, use `withBytes` (Swift may
/// release an object right after its last use).
public final class LoadedBytes: @unchecked Sendable {
    /// The bytes.
    public let bytes: UnsafeRawBufferPointer
    private let owner: AnyObject?
    private let owned: UnsafeMutableRawBufferPointer?

    /// A view into memory that `owner` keeps alive.
    public init(view: UnsafeRawBufferPointer, owner: AnyObject?) {
        bytes = view
        self.owner = owner
        owned = nil
    }

    /// Takes ownership of `buffer` (freed on deinit) and exposes its first `count` bytes.
    public init(owned buffer: UnsafeMutableRawBufferPointer, count: Int) {
        bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
        owner = nil
        owned = buffer
    }

    /// Runs `body` with the bytes, keeping them alive until it returns.
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try withExtendedLifetime(self) { try body(bytes) }
    }

    /// A copy of the bytes.
    public var contents: [UInt8] { withBytes { Array($0) } }

    deinit { owned?.deallocate() }
}
