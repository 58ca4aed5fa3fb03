import BFFNCore
import Testing
/// The allocator tuning `bffn` applies at start: glibc accepts both settings unless the user chose them; other C
/// libraries have none.
@Suite("process memory")
struct ProcessMemoryTests {
    @Test func keepFreedBuffersTunesGlibcUnlessTheUserDid() {
        let userChose = getenv("MALLOC_MMAP_THRESHOLD_") != nil || getenv("MALLOC_TRIM_THRESHOLD_") != nil
        // A sanitizer's allocator replaces glibc's and refuses mallopt.
        let sanitized = ["__asan_init", "__tsan_init"].contains { (name: String) in dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) != nil }
        #expect(ProcessMemory.keepFreedBuffers() == (AllocatorTuning.isAvailable && !(userChose || sanitized)))
        // Blocks keep working either way: a 48 MiB buffer (under the new mapping threshold) written, freed, reused.
        for _ in 0..<3 {
            let n = 48 << 20
            let p = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
            p.initializeMemory(as: UInt8.self, repeating: 7, count: n)
            #expect(p.load(fromByteOffset: n - 1, as: UInt8.self) == 7)
            p.deallocate()
        }
    }
}
