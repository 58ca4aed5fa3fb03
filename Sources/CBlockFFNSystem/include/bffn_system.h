#ifndef BFFN_SYSTEM_H
#define BFFN_SYSTEM_H
/* System calls Swift's Glibc module does not export (they need _GNU_SOURCE). */
#include <stdint.h>

/*
 * Starts writeback of the dirty pages in [offset, offset + length) of fd without waiting for it
 * (Linux sync_file_range with SYNC_FILE_RANGE_WRITE), so a later fsync has less left to do. Returns 0, or -1
 * with errno set; where the call does not exist it does nothing and returns 0.
 */
int bffn_start_writeback(int fd, int64_t offset, int64_t length);

/*
 * Opens path read-only with O_DIRECT (reads bypass the page cache; offsets, lengths and buffers must be aligned
 * to the device's logical block). Returns the descriptor, or -1 with errno set where the file system refuses
 * (tmpfs) or the platform has no O_DIRECT.
 */
int bffn_open_direct(const char *path);

/*
 * The CPUs this process may run on: those of its affinity mask (what `taskset` or a container's cpuset leaves it),
 * else the online CPUs; at least 1.
 */
int bffn_usable_cpus(void);

/*
 * glibc's allocator: blocks below mmap_threshold bytes come from the heap instead of a mapping of their own, and
 * up to trim_threshold bytes of free heap stay with the process instead of going back to the kernel, so buffers
 * allocated and freed once a layer or a call are reused instead of being faulted in (and zeroed) again each time.
 * Leaves the allocator alone (returns 0) where the user set MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_, or
 * on other C libraries; returns 0 too where another allocator (a sanitizer's) refuses the settings; 1 when both
 * were set.
 */
int bffn_keep_freed_buffers(long mmap_threshold, long trim_threshold);

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
