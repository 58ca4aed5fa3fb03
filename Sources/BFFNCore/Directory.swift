/// Reading folders without copying past a directory entry: `readdir` records are only as long as their name,
/// so a name is read with `strlen` from where it starts, never as the whole 256-byte `d_name` field
/// (AddressSanitizer caught such a copy reading past the end of the kernel's buffer).
public enum Directory {
    /// The names in `folder` (without "." and ".."), sorted.
    /// - Throws: `.io` with the system's reason when the folder cannot be read.
    public static func names(in folder: String) throws -> [String] {
        guard let d = opendir(folder) else {
            throw BFFNError(.io, "cannot read the folder: \(String(cString: strerror(errno)))", file: folder)
        }
        defer { closedir(d) }
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        var names: [String] = []
        while let e = readdir(d) {
            let name = String(cString: (UnsafeRawPointer(e) + nameOffset).assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
