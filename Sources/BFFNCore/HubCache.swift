/// Finds models in a Hugging Face hub cache, offline: a `models--ORG--NAME` folder, or `ORG/NAME` looked up in
/// `$HF_HUB_CACHE`, `$HF_HOME/hub` and `~/.cache/huggingface/hub` (in that order). A cached model's files are
/// `snapshots/HASH/...`, with HASH read from `refs/main` (or the only snapshot), and the files themselves symlinks
/// into `blobs/`, which are followed. Nothing is downloaded.
public enum HubCache {
    /// The cache folders searched for `ORG/NAME`, in order, from the environment.
    public static func searchFolders(environment: [String: String] = currentEnvironment()) -> [String] {
        var folders: [String] = []
        if let c = environment["HF_HUB_CACHE"], !c.isEmpty { folders.append(c) }
        if let h = environment["HF_HOME"], !h.isEmpty { folders.append(h + "/hub") }
        if let home = environment["HOME"], !home.isEmpty { folders.append(home + "/.cache/huggingface/hub") }
        return folders
    }

    /// The folder or file `argument` names: itself when it exists (a `models--ORG--NAME` folder becomes its
    /// snapshot), else, for an `ORG/NAME` form, the snapshot of that model in the first cache that has it.
    /// - Throws: `.io` naming `argument` and every place it looked when an `ORG/NAME` form matches nothing, or
    ///   naming the cache folder whose `refs/main` points to a missing snapshot. Other missing paths are returned
    ///   unchanged, for the reader to report.
    public static func resolve(_ argument: String, environment: [String: String] = currentEnvironment()) throws -> String {
        if exists(argument) {
            return isCacheRepository(argument) ? try snapshot(of: argument) : argument
        }
        // ORG/NAME: two plain components, the first not a file or folder here. Anything else is a path: the
        // reader that opens it reports the system's reason.
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        let looksLikeRepository = parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." } && !exists(String(parts[0]))
        guard looksLikeRepository else { return argument }
        let folderName = "models--\(parts[0])--\(parts[1])"
        var looked: [String] = []
        for cache in searchFolders(environment: environment) {
            let candidate = cache + "/" + folderName
            looked.append(candidate)
            if exists(candidate) { return try snapshot(of: candidate) }
        }
        throw BFFNError(.io, "no such file or folder, and no Hugging Face cache holds \(argument) (looked in: \(looked.joined(separator: ", ")); bffn downloads nothing: fetch it with `huggingface-cli download \(argument)` first)",
                        file: argument)
    }

    /// Whether `folder` is a cache repository folder (`models--ORG--NAME` with `snapshots/`).
    static func isCacheRepository(_ folder: String) -> Bool {
        let name = folder.split(separator: "/").last.map(String.init) ?? folder
        return name.hasPrefix("models--") && exists(folder + "/snapshots")
    }

    /// The snapshot folder a cache repository's `refs/main` names, or its only snapshot.
    static func snapshot(of repository: String) throws -> String {
        if let ref = try? MappedFile(path: repository + "/refs/main"), ref.size <= 256 {
            let hash = String(decoding: ref.contents, as: UTF8.self).trimmingSpaces()
            let folder = repository + "/snapshots/" + hash
            guard !hash.isEmpty, !hash.contains("/"), exists(folder) else {
                throw BFFNError(.io, "refs/main names snapshot '\(hash)', which is not in snapshots/", file: repository + "/refs/main")
            }
            return folder
        }
        let snapshots = (try? Directory.names(in: repository + "/snapshots")) ?? []
        guard snapshots.count == 1 else {
            throw BFFNError(.io, "no refs/main and \(snapshots.count) snapshots: name the snapshot folder", file: repository + "/snapshots")
        }
        return repository + "/snapshots/" + snapshots[0]
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// The process environment as a dictionary.
    public static func currentEnvironment() -> [String: String] { ProcessEnvironment.variables }
}

extension String {
    /// Without leading and trailing spaces, tabs and newlines.
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
