import BFFNCore

/// What bffn says when it has no command line to parse (`ProcessArguments.read()` found none).
enum CommandLineArguments {
    /// What bffn says, and why, when it has no command line to parse.
    static func unavailableMessage(procMounted: Bool) -> String {
        if procMounted {
            return "bffn: cannot read the command line: the Swift runtime returned no arguments, not even the program name, "
                + "and none were found on the process's initial stack"
        }
        return "bffn: cannot read the command line: /proc is not mounted (the Swift runtime finds the arguments through "
            + "/proc/self/maps), and they were not found on the process's initial stack either; mount it "
            + "(mount -t proc proc /proc) and run again"
    }

    /// Whether /proc/self/maps, which the Swift runtime reads to find the arguments, can be read.
    static var procMounted: Bool { !ProcFileSystem.isMissing }
}
