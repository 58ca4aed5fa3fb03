#ifndef BFFN_SYSTEM_H
#define BFFN_SYSTEM_H
/*
 * The platform calls Swift cannot make directly: Linux calls that need _GNU_SOURCE (sync_file_range, O_DIRECT,
 * sched_getaffinity, environ), glibc's mallopt, Darwin calls in headers Swift's Darwin module leaves out
 * (_NSGetEnviron, _NSGetExecutablePath), and pthread_create, whose Swift signature differs between the two.
 * Each function has a Linux branch, a Darwin branch and a fallback for other systems. Swift reaches them only
 * through the types in Sources/BFFNCore/Platform.
 */
#include <stddef.h>
#include <stdint.h>

/*
 * Starts writeback of the dirty pages in [offset, offset + length) of fd without waiting for it
 * (Linux sync_file_range with SYNC_FILE_RANGE_WRITE), so a later fsync has less left to do. Returns 1 when
 * writeback was started, 0 where the platform has no such call (Darwin: nothing is done), -1 with errno set when
 * the call failed.
 */
int bffn_start_writeback(int fd, int64_t offset, int64_t length);

/*
 * Opens path read-only for reads that bypass the page cache: Linux O_DIRECT (offsets, lengths and buffers must
 * be aligned to the device's logical block), Darwin fcntl(F_NOCACHE) on an ordinary descriptor (no alignment
 * needed). Returns the descriptor (close-on-exec), or -1 with errno set where the file system refuses (tmpfs
 * refuses O_DIRECT) or the platform has neither.
 */
int bffn_open_uncached(const char *path);

/*
 * The CPUs this process may run on: Linux, those of its affinity mask (what `taskset` or a container's cpuset
 * leaves it); Darwin, sysctl hw.activecpu; else, or when those fail, the online CPUs. At least 1.
 */
int bffn_usable_cpus(void);

/*
 * glibc's allocator: blocks below mmap_threshold bytes come from the heap instead of a mapping of their own, and
 * up to trim_threshold bytes of free heap stay with the process, so buffers allocated and freed once a layer or
 * a call are reused instead of being faulted in (and zeroed) again each time. Leaves the allocator alone
 * (returns 0) where the user set MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_, or on other C libraries
 * (musl, Darwin); returns 0 too where another allocator (a sanitizer's) refuses the settings; 1 when both were set.
 */
int bffn_keep_freed_buffers(long mmap_threshold, long trim_threshold);

/*
 * The process environment ("NAME=value" strings, a null pointer last): Linux environ, Darwin *_NSGetEnviron().
 * Never NULL: an empty list where the environment was cleared (clearenv sets environ to NULL).
 */
char **bffn_environment(void);

/*
 * Writes the path of the running executable into buffer (at most size bytes, NUL-terminated) and returns its
 * length in bytes: Linux readlink of the kernel's exe link for this process, Darwin _NSGetExecutablePath.
 * Returns -1 when the path is unknown or does not fit.
 */
long bffn_executable_path(char *buffer, size_t size);

/*
 * Starts a detached thread that runs body(context) and ends when it returns (its result is ignored); its stack is
 * the platform's default (Linux: the stack limit, usually 8 MiB) except on Darwin, where it is 8 MiB instead of
 * 512 KiB. Returns 0, or the pthread error number (the thread was not started and body will not run).
 */
int bffn_start_detached_thread(void *(*body)(void *context), void *context);

/*
 * Files removed when the process is interrupted. bffn_remove_on_interrupt records path (copied; at most
 * BFFN_INTERRUPT_PATH_MAX - 1 bytes) in a fixed table of BFFN_INTERRUPT_SLOTS entries and, on its first call,
 * installs a sigaction handler for SIGINT, SIGTERM and SIGHUP (each one the process does not ignore: nohup's
 * ignored SIGHUP stays ignored), and unblocks the three in the calling thread (a blocked mask inherited from the
 * parent would leave them pending). The handler, async-signal-safe, unlinks every recorded path, restores the
 * default action and raises the signal again, so the process ends as killed by it (a shell shows 130, 143 or
 * 129); should the raise return, it calls _exit(128 + signal). Returns the entry's slot, or -1 when the table is
 * full or the path too long (the file is then not removed on a signal). bffn_keep_on_interrupt(slot) forgets an
 * entry (a slot of -1 is ignored); both are thread-safe.
 */
#define BFFN_INTERRUPT_SLOTS 64
#define BFFN_INTERRUPT_PATH_MAX 4096
int bffn_remove_on_interrupt(const char *path);
void bffn_keep_on_interrupt(int slot);
/* 1 when this process ignores signal sig (SIG_IGN, as nohup leaves SIGHUP), else 0. */
int bffn_signal_ignored(int sig);

/* The calling thread's pthread identity as an integer (pthread_t is an integer on Linux, a pointer on Darwin). */
uintptr_t bffn_current_thread_id(void);

/*
 * A spin-wait hint (x86 `pause`): tells the core a loop is waiting, so a spinning thread leaves execution resources
 * to its hyper-thread sibling and leaves the loop without a memory-order flush. Nothing elsewhere.
 */
static inline void bffn_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
#endif
