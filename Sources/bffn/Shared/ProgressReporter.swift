#if canImport(Glibc)
import Glibc
#endif

/// Progress of a long command on stderr, only when stderr is a terminal (never in pipes, logs or `--json`
/// captures): a percentage for work with a known size (`update`), or a line saying what is being done now
/// (`note`). Every long command reports through one of these.
final class ProgressReporter: @unchecked Sendable {
    /// The command's name, printed before every line.
    let label: String
    /// Whether anything is printed (stderr is a terminal).
    let enabled = isatty(2) != 0
    private var lastPercent = -1
    private var shown = false

    /// A reporter for the command `label`.
    init(label: String) { self.label = label }

    /// `done` of `total` units are finished (printed when the whole percentage changes).
    func update(_ done: UInt64, _ total: UInt64) {
        guard enabled, total > 0 else { return }
        let pct = Int(done * 100 / total)
        if pct != lastPercent {
            lastPercent = pct
            write("\(pct) %")
        }
    }

    /// What the command is doing now ("measuring with 2 threads").
    func note(_ text: String) {
        guard enabled else { return }
        write(text)
    }

    /// Ends the progress line (prints "done" when anything was shown).
    func finish() {
        guard enabled, shown else { return }
        FileHandleOutput.standardError("\r\(label): done\u{1B}[K\n")
        shown = false
    }

    private func write(_ text: String) {
        shown = true
        FileHandleOutput.standardError("\r\(label): \(text)\u{1B}[K")
    }
}
