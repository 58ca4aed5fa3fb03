import CBlockFFNSystem

/// Starting threads and telling them apart, through the C shim: `pthread_t` is an integer on Linux and a pointer
/// on Darwin, and `pthread_create`'s Swift signature differs between the two.
public enum Threads {
    /// Starts a detached thread that runs `body` once and then ends; nothing waits for it. Its stack is the
    /// platform's default on Linux (the stack limit, usually 8 MiB) and 8 MiB on Darwin (whose default for
    /// secondary threads is 512 KiB). Returns false when the thread could not be started (`body` then never runs).
    /// Throws nothing.
    @discardableResult
    public static func startDetached(_ body: @escaping () -> Void) -> Bool {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        let started = bffn_start_detached_thread({ context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, box) == 0
        if !started { Unmanaged<Body>.fromOpaque(box).release() }
        return started
    }

    /// The calling thread's identity as an integer (`pthread_self`), unique among the threads alive at once.
    public static var currentID: UInt { UInt(bffn_current_thread_id()) }

    /// A closure handed to a new thread through a C pointer.
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }
}
