/// Hands a value to the parts of one parallel call that use it concurrently, each part writing only memory
/// no other part touches (its own rows, slots or file ranges): the one place bffn vouches for such sharing.
///
/// Wrap pointers, buffers and writers that are not `Sendable` themselves; never wrap something parts would
/// write to in overlapping places.
public struct DisjointWrites<Value>: @unchecked Sendable {
    /// The shared value.
    public let value: Value
    /// Wraps `value` for the parts of one call.
    public init(_ value: Value) { self.value = value }
}
