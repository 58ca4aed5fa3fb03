import CBlockFFNSystem

/// Files removed when the process is interrupted (SIGINT, SIGTERM, SIGHUP): a writer records its temporary file
/// before writing and forgets it once the file is renamed or removed, so Ctrl-C or a `kill` leaves no hidden
/// temporary behind. Swift cannot run in a signal handler; the handler is C (`bffn_remove_on_interrupt` in
/// CBlockFFNSystem): it unlinks the recorded paths (a fixed table of 64, copied when recorded) and ends the
/// process as killed by the signal, so a shell reports 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP). A signal the
/// process ignores (nohup's SIGHUP) stays ignored. POSIX `sigaction`, the same on Linux and Darwin.
public enum InterruptCleanup {
    /// Records `path` for removal on an interrupt and returns the entry, or nil when the table is full or the
    /// path is 4096 bytes or longer (the file then stays on an interrupt, as before, and the next writer of the
    /// same name removes it). Installs the handlers on first use.
    public static func removeOnInterrupt(_ path: String) -> Int32? {
        let slot = bffn_remove_on_interrupt(path)
        return slot >= 0 ? slot : nil
    }

    /// Forgets an entry from `removeOnInterrupt` (nil does nothing).
    public static func keep(_ entry: Int32?) {
        if let entry { bffn_keep_on_interrupt(entry) }
    }

    /// Whether this process ignores `signal` (as nohup leaves SIGHUP, or a shell leaves SIGINT for a background
    /// job): such a signal removes nothing, and a child started from here inherits the ignoring. Throws nothing.
    public static func isIgnored(_ signal: Int32) -> Bool { bffn_signal_ignored(signal) == 1 }
}
