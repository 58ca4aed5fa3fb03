import CBlockFFNSystem

/// The file this process runs.
public enum RunningExecutable {
    /// The running executable's absolute path (Linux: the kernel's link for this process; Darwin:
    /// `_NSGetExecutablePath`), or nil when the system does not say or the path is longer than 4095 bytes.
    public static var path: String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = bffn_executable_path(&buffer, buffer.count)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
