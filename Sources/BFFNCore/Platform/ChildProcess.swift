/// Starting other programs and waiting for them (the command-line tests run the `bffn` binary this way):
/// `posix_spawn`, whose file-actions type is a struct on Linux and a pointer on Darwin, and a replacement for
/// `system`, which Swift marks unavailable on macOS.
public enum ChildProcess {
    /// Runs `command` with `/bin/sh -c` in this process's environment and waits for it to end. Returns the wait
    /// status as `system(3)` does (the exit code in bits 8-15, or the signal that ended it in bits 0-6), or -1
    /// when the shell could not be started. Throws nothing.
    public static func runShell(_ command: String) -> Int32 {
        guard let pid = start("/bin/sh", arguments: ["-c", command]) else { return -1 }
        return wait(for: pid)
    }

    /// Starts the program at the path `executable` with `arguments` (after argv[0], which is `executable`) in
    /// this process's environment, without waiting; with `discardingOutput` its stdout and stderr go to
    /// /dev/null. Returns its process id, or nil when it could not be started. Throws nothing.
    public static func start(_ executable: String, arguments: [String], discardingOutput: Bool = false) -> pid_t? {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if discardingOutput {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        var pid = pid_t()
        guard posix_spawn(&pid, executable, &actions, nil, argv, ProcessEnvironment.cArray) == 0 else { return nil }
        return pid
    }

    /// Waits for the child process `pid` to end (again after a signal interrupts the wait). Returns its wait
    /// status (as `runShell` describes), or -1 when `pid` is not a child of this process. Throws nothing.
    public static func wait(for pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return status
    }
}
