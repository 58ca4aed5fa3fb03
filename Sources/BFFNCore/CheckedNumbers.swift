/// Numbers read from files, converted and combined only through checks that throw: a value out of range, or a
/// sum or product that would overflow, is a `BFFNError` naming the file, the field and the byte offset, never a
/// trap. Parsers turn every untrusted number into a Swift integer here.
public enum CheckedNumbers {
    /// `value` as a `T` when it lies in `range`.
    /// - Throws: `.outOfBounds` naming `field` when it does not (or is not an integer).
    public static func integer<T: FixedWidthInteger>(_ value: JSONValue?, in range: ClosedRange<T>, file: String?, field: String,
                                                     offset: UInt64?) throws -> T {
        guard let v = value?.intValue else {
            throw BFFNError(.invalidJSON, "'\(field)' must be an integer", file: file, field: field, offset: offset)
        }
        guard v >= 0 || T.isSigned, let t = T(exactly: v), range.contains(t) else {
            throw BFFNError(.outOfBounds, "'\(field)' is \(v), outside \(range.lowerBound)...\(range.upperBound)", file: file, field: field, offset: offset)
        }
        return t
    }

    /// a + b.
    /// - Throws: `.outOfBounds` naming `field` when the sum overflows.
    public static func add(_ a: UInt64, _ b: UInt64, file: String?, field: String, offset: UInt64?) throws -> UInt64 {
        let (s, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw BFFNError(.outOfBounds, "\(a) + \(b) overflows", file: file, field: field, offset: offset) }
        return s
    }

    /// a × b.
    /// - Throws: `.outOfBounds` naming `field` when the product overflows.
    public static func multiply(_ a: UInt64, _ b: UInt64, file: String?, field: String, offset: UInt64?) throws -> UInt64 {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw BFFNError(.outOfBounds, "\(a) × \(b) overflows", file: file, field: field, offset: offset) }
        return p
    }
}
