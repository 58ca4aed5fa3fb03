#define _GNU_SOURCE
#include "bffn_system.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

int bffn_start_writeback(int fd, int64_t offset, int64_t length) {
#if defined(__linux__)
    return sync_file_range(fd, (off_t)offset, (off_t)length, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)length;
    return 0;
#endif
}

int bffn_open_direct(const char *path) {
#if defined(O_DIRECT)
    return open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
#else
    (void)path;
    errno = EINVAL;
    return -1;
#endif
}

int bffn_usable_cpus(void) {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int bffn_keep_freed_buffers(long mmap_threshold, long trim_threshold) {
#if defined(__GLIBC__)
    if (getenv("MALLOC_MMAP_THRESHOLD_") || getenv("MALLOC_TRIM_THRESHOLD_")) return 0;
    int a = mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold);
    int b = mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
    return a == 1 && b == 1;
#else
    (void)mmap_threshold; (void)trim_threshold;
    return 0;
#endif
}
