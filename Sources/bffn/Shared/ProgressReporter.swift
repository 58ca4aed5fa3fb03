import BFFNCore

/// Progress of a long command on stderr: what it is doing, and for work of a known size a bar with the rate and
/// the time left (`convert: [#########-----------]  45 %  812 MB/s  3 s left`). Shown only when stderr is a
/// terminal and `--quiet` is not given, redrawn at most ten times a second; with `TERM=dumb` or `NO_COLOR` set
/// it writes no escape codes (lines are cleared with spaces). With `--verbose` every step is a line of its own,
/// also when stderr is not a terminal, and `finish` says how long the command took. Every long command reports
/// through one of these.
final class ProgressReporter: @unchecked Sendable {
    /// How the amounts given to `update` are counted.
    enum Unit {
        /// Bytes: the rate is printed in MB/s or GB/s.
        case bytes
        /// Items with a name ("tokens"): the rate is printed in items per second.
        case items(String)
    }

    /// The command's name, printed before every line.
    let label: String
    /// Whether the bar and notes are drawn in place (stderr is a terminal, not quiet).
    let enabled: Bool
    /// Whether steps are printed as lines of their own (`--verbose`).
    let verbose: Bool
    private let unit: Unit
    private let plain: Bool
    private let started = monotonicSeconds()
    private var lastDraw = -1.0
    private var lastWidth = 0
    private var shown = false

    /// A reporter for the command `label`, following `options` (`--quiet`, `--verbose`).
    init(label: String, options: OutputOptions, unit: Unit = .bytes) {
        self.label = label
        self.unit = unit
        verbose = options.verbose && !options.quiet
        enabled = isatty(2) != 0 && !options.quiet
        let term = getenv("TERM").map { String(cString: $0) }
        plain = term == "dumb" || getenv("NO_COLOR") != nil
    }

    /// `done` of `total` units are finished.
    func update(_ done: UInt64, _ total: UInt64) {
        guard enabled, total > 0 else { return }
        let now = monotonicSeconds()
        guard now - lastDraw >= 0.1 || done >= total else { return }
        lastDraw = now
        let fraction = min(1, Double(done) / Double(total))
        let width = 20, filled = Int(fraction * Double(width))
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
        let elapsed = now - started
        var line = "\(bar) \(String(Int(fraction * 100)).leftPadded(3)) %"
        if elapsed > 0.2, done > 0 {
            let rate = Double(done) / elapsed
            line += "  " + Self.rate(rate, unit)
            if done < total { line += "  " + Self.duration(Double(total - done) / rate) + " left" }
        }
        draw(line)
    }

    /// What the command is doing now ("measuring with 2 threads").
    func note(_ text: String) {
        if verbose {
            clear()
            FileHandleOutput.standardError("\(label): \(text)\n")
        } else if enabled {
            draw(text)
        }
    }

    /// Ends the progress line; with `--verbose`, says how long the command took.
    func finish() {
        if shown { clear() }
        if verbose { FileHandleOutput.standardError("\(label): done in \(Self.duration(monotonicSeconds() - started))\n") }
    }

    private func draw(_ text: String) {
        let line = "\(label): \(text)"
        var out = "\r" + line
        if plain {
            if lastWidth > line.count { out += String(repeating: " ", count: lastWidth - line.count) }
        } else {
            out += "\u{1B}[K"
        }
        lastWidth = line.count
        shown = true
        FileHandleOutput.standardError(out)
    }

    private func clear() {
        guard shown else { return }
        FileHandleOutput.standardError(plain ? "\r" + String(repeating: " ", count: lastWidth) + "\r" : "\r\u{1B}[K")
        shown = false
        lastWidth = 0
    }

    /// A rate for people: `812 MB/s`, `1.4 GB/s`, `35 tokens/s`.
    static func rate(_ perSecond: Double, _ unit: Unit) -> String {
        switch unit {
        case .bytes: return TextNumber.bytes(perSecond) + "/s"
        case .items(let name): return TextNumber.short(perSecond) + " \(name)/s"
        }
    }

    /// A duration for people: `0.4 s`, `12 s`, `3 min 5 s`.
    static func duration(_ seconds: Double) -> String {
        if seconds < 10 { return fixed(seconds, 1) + " s" }
        if seconds < 120 { return "\(Int(seconds.rounded())) s" }
        let s = Int(seconds.rounded())
        return "\(s / 60) min \(s % 60) s"
    }
}

extension String {
    /// The string padded on the left with spaces to `n` characters.
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
