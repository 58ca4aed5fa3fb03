import BFFNCore
import BFFNTestSupport
import Testing

/// The repository's own rules: the module graph in Package.swift is the graph the code has, and nothing in
/// the repository sends the reader to files outside it.
@Suite("repository")
struct RepositoryTests {
    /// Every file under `folder` (relative to the repository root) whose name ends with one of `suffixes`.
    static func files(under folder: String, endingWith suffixes: [String]) -> [String] {
        var out: [String] = []
        func walk(_ path: String) {
            for name in (try? Directory.names(in: path)) ?? [] {
                if name.hasPrefix(".") { continue }
                let full = path + "/" + name
                var info = stat()
                guard stat(full, &info) == 0 else { continue }
                if info.st_mode & S_IFMT == S_IFDIR { walk(full) } else if suffixes.contains(where: { name.hasSuffix($0) }) { out.append(full) }
            }
        }
        walk(Fixtures.repositoryRoot + "/" + folder)
        return out.sorted()
    }

    static func text(_ path: String) throws -> String { String(decoding: try Fixtures.bytes(path), as: UTF8.self) }

    /// Package.swift's targets: name → (declared dependencies, source folder).
    static func targets() throws -> [String: (dependencies: Set<String>, folder: String)] {
        let package = try text(Fixtures.repositoryRoot + "/Package.swift")
        var out: [String: (Set<String>, String)] = [:]
        for kind in ["target", "executableTarget", "testTarget"] {
            for part in package.split(separator: ".\(kind)(name: \"").dropFirst() {
                let name = String(part.prefix { $0 != "\"" })
                // The call's text: up to the parenthesis that closes it.
                var depth = 1, end = part.startIndex
                for i in part.indices {
                    if part[i] == "(" { depth += 1 } else if part[i] == ")" { depth -= 1 }
                    if depth == 0 { end = i; break }
                }
                let call = part[..<end]
                var deps = Set<String>()
                if let r = call.firstRange(of: "dependencies: [") {
                    let list = call[r.upperBound...].prefix { $0 != "]" }
                    for quoted in list.split(separator: "\"", omittingEmptySubsequences: false).enumerated() where quoted.offset % 2 == 1 { deps.insert(String(quoted.element)) }
                }
                let folder: String
                if let p = call.firstRange(of: "path: \"") { folder = String(call[p.upperBound...].prefix { $0 != "\"" }) } else {
                    folder = (kind == "testTarget" ? "Tests/" : "Sources/") + name
                }
                out[name] = (deps, folder)
            }
        }
        return out
    }

    @Test func everyImportIsADeclaredDependencyAndEveryDependencyIsImported() throws {
        let targets = try Self.targets()
        #expect(targets["BFFNModel"] != nil && targets["bffn"] != nil && targets.count > 20)
        let system: Set<String> = ["Glibc", "Darwin", "Foundation", "Testing", "Dispatch", "Synchronization", "ArgumentParser"]
        for (name, target) in targets {
            var imported = Set<String>()
            for file in Self.files(under: target.folder, endingWith: [".swift"]) {
                for line in try Self.text(file).split(separator: "\n") {
                    let words = line.split(separator: " ")
                    guard let i = words.firstIndex(of: "import"), words[..<i].allSatisfy({ $0 == "@testable" }), i + 1 < words.count else { continue }
                    let module = String(words[i + 1])
                    if !system.contains(module) && module != name { imported.insert(module) }
                }
            }
            let declaredModules = target.dependencies.filter { targets[$0] != nil && !$0.hasPrefix("C") && $0 != "bffn" }
            #expect(imported.subtracting(target.dependencies).isEmpty, "\(name) imports \(imported.subtracting(target.dependencies).sorted()) without declaring them")
            #expect(declaredModules.subtracting(imported).isEmpty, "\(name) declares \(declaredModules.subtracting(imported).sorted()) but never imports them")
        }
        // The layering the README draws: the model sits below the engine and the packed format; the packed
        // format does not need the engine; deployment needs neither synthesis nor speculative decoding.
        #expect(targets["BFFNEngine"]!.dependencies.contains("BFFNModel") && targets["BFFNPack"]!.dependencies.contains("BFFNModel"))
        #expect(!targets["BFFNPack"]!.dependencies.contains("BFFNEngine"))
        #expect(targets["BFFNDeploy"]!.dependencies.isDisjoint(with: ["BFFNSynth", "BFFNSpeculative"]))
    }

    @Test func nothingPointsOutsideTheRepository() throws {
        var offenders: [String] = []
        // The names of the reading material outside the repository, assembled so this file does not name them.
        let outside = "sha" + "red"
        let forbidden = ["DECISIONS" + ".md", "BLOCKFFN" + "-SPEC", "SWIFT" + "-NOTES", "../" + outside, outside + "/reference", outside + "/seeds"]
        for folder in ["Sources", "Tests", "formats", "docs", "fixtures", "scripts"] {
            for file in Self.files(under: folder, endingWith: [".swift", ".md", ".py", ".sh", ".c", ".h"]) {
                let t = try Self.text(file)
                for word in forbidden where t.contains(word) { offenders.append("\(file): \(word)") }
            }
        }
        for file in ["README.md", "CONTRIBUTING.md", "Package.swift"] {
            let t = try Self.text(Fixtures.repositoryRoot + "/" + file)
            for word in forbidden where t.contains(word) { offenders.append("\(file): \(word)") }
        }
        #expect(offenders.isEmpty, "\(offenders)")
    }
}
