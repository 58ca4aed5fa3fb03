// The platform layer (see CLibrary.swift): the argument vector as the Linux kernel lays it out on the initial stack.

/// The command line, read also where /proc is not mounted.
///
/// On Linux the Swift runtime does not keep the argc and argv that `main` receives: as the program loads, it reads
/// /proc/self/maps to find the process's stack and walks down from `environ` to the argument vector the kernel
/// placed just below the environment. Without /proc (a fresh chroot or container that has not mounted it) the
/// runtime finds nothing and `CommandLine.arguments` is empty (`bffn inspect MODEL` saw no arguments, printed
/// the top-level help and exited 0). `read()` makes the same walk without /proc, and checks what it finds against
/// glibc's `program_invocation_name` (the address of argv[0] as the kernel placed it).
public enum ProcessArguments {
    /// The command line, program name first: the runtime's, or where that is empty the one found on the initial
    /// stack. Nil when neither has it.
    public static func read() -> [String]? {
        let fromRuntime = CommandLine.arguments
        if !fromRuntime.isEmpty { return fromRuntime }
        return fromInitialStack()
    }

    /// The command line found below `environ` on the process's initial stack, without /proc. Nil when `environ`
    /// no longer points at the kernel's environment block (a `setenv` of a new name before `main` moves it to the
    /// heap) or anything found there does not match.
    public static func fromInitialStack() -> [String]? {
        #if os(Linux) && canImport(Glibc)
        // Both variables read through their addresses: either may be NULL (clearenv), which Swift's import of
        // `environ` as a non-optional pointer would not allow.
        guard let environSymbol = dlsym(nil, "environ"), let nameSymbol = dlsym(nil, "program_invocation_name"),
              let envp = environSymbol.load(as: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?.self),
              let programName = nameSymbol.load(as: UnsafePointer<CChar>?.self),
              let found = argumentVector(below: UnsafePointer(envp), programName: programName)
        else { return nil }
        return (0..<found.argc).map { String(cString: found.argv[$0]!) }
        #else
        return nil
        #endif
    }

    /// The argument vector that the kernel lays out below the environment pointers `envp`:
    /// `argc, argv[0], ..., argv[argc-1], NULL, envp[0], ...`, the strings themselves above these arrays and in
    /// order. Walks down from the NULL before `envp`: every word is an argument's address, lower than the one
    /// above it and not below `programName`, until the word that equals the number of words walked (argc). The
    /// result counts only if argv[0] is `programName`; nil otherwise, or when a word breaks those rules.
    static func argumentVector(below envp: UnsafePointer<UnsafeMutablePointer<CChar>?>, programName: UnsafePointer<CChar>)
        -> (argc: Int, argv: UnsafePointer<UnsafeMutablePointer<CChar>?>)?
    {
        let words = UnsafeRawPointer(envp).assumingMemoryBound(to: UInt.self)
        let anchor = UInt(bitPattern: programName)
        // The strings lie above the pointer arrays, and a NULL ends argv.
        guard anchor > UInt(bitPattern: envp), words[-1] == 0 else { return nil }
        var count = 0, above = UInt.max
        while true {
            let word = words[-2 - count]
            if word == UInt(count) {
                guard count >= 1, words[-1 - count] == anchor else { return nil }
                return (count, envp - (count + 1))
            }
            // Another argument's address: below the one above it, at or above argv[0]'s. Strictly decreasing
            // addresses bounded below end the walk within (above - anchor) words.
            guard word >= anchor, word < above else { return nil }
            above = word
            count += 1
        }
    }
}
