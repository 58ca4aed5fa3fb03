#define _GNU_SOURCE
#include "bffn_system.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <malloc.h>
#include <sched.h>
#elif defined(__APPLE__)
#include <crt_externs.h>
#include <mach-o/dyld.h>
#include <sys/sysctl.h>
#endif

int bffn_start_writeback(int fd, int64_t offset, int64_t length) {
#if defined(__linux__)
    return sync_file_range(fd, (off_t)offset, (off_t)length, SYNC_FILE_RANGE_WRITE) == 0 ? 1 : -1;
#else
    (void)fd; (void)offset; (void)length;
    return 0;
#endif
}

int bffn_open_uncached(const char *path) {
#if defined(__linux__) && defined(O_DIRECT)
    return open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
#elif defined(__APPLE__)
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (fcntl(fd, F_NOCACHE, 1) == -1) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
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
#elif defined(__APPLE__)
    int active = 0;
    size_t size = sizeof active;
    if (sysctlbyname("hw.activecpu", &active, &size, NULL, 0) == 0 && active > 0) return active;
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

#if !defined(__APPLE__) && !defined(__linux__)
extern char **environ;
#endif

char **bffn_environment(void) {
    static char *empty[] = { NULL };
#if defined(__APPLE__)
    char **variables = *_NSGetEnviron();
#else
    char **variables = environ;
#endif
    return variables != NULL ? variables : empty;   /* NULL after clearenv() */
}

long bffn_executable_path(char *buffer, size_t size) {
    if (buffer == NULL || size < 2) return -1;
#if defined(__linux__)
    ssize_t n = readlink("/proc/self/exe", buffer, size - 1);
    if (n <= 0 || (size_t)n >= size - 1) return -1;   /* unknown, or possibly cut short */
    buffer[n] = 0;
    return (long)n;
#elif defined(__APPLE__)
    uint32_t capacity = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
    if (_NSGetExecutablePath(buffer, &capacity) != 0) return -1;
    return (long)strlen(buffer);
#else
    return -1;
#endif
}

int bffn_start_detached_thread(void *(*body)(void *context), void *context) {
    pthread_attr_t attributes;
    int error = pthread_attr_init(&attributes);
    if (error != 0) return error;
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
#if defined(__APPLE__)
    /* Darwin gives secondary threads 512 KiB; Linux gives the stack limit (8 MiB by default). */
    pthread_attr_setstacksize(&attributes, (size_t)8 << 20);
#endif
    pthread_t thread;
    error = pthread_create(&thread, &attributes, body, context);
    pthread_attr_destroy(&attributes);
    return error;
}

uintptr_t bffn_current_thread_id(void) {
    return (uintptr_t)pthread_self();
}

/* The interrupt cleanup table: a slot's path is written while its flag is 0, then the flag set (release); the
 * handler reads a path only under a set flag (acquire). */
static char interrupt_paths[BFFN_INTERRUPT_SLOTS][BFFN_INTERRUPT_PATH_MAX];
static volatile sig_atomic_t interrupt_used[BFFN_INTERRUPT_SLOTS];
static pthread_mutex_t interrupt_lock = PTHREAD_MUTEX_INITIALIZER;
static int interrupt_installed;

static void interrupt_handler(int sig) {
    int saved = errno;
    for (int i = 0; i < BFFN_INTERRUPT_SLOTS; i++) {
        if (__atomic_load_n(&interrupt_used[i], __ATOMIC_ACQUIRE)) unlink(interrupt_paths[i]);
    }
    errno = saved;
    /* SA_RESETHAND restored the default action and SA_NODEFER leaves the signal unblocked: this raise ends the
     * process as killed by sig. */
    raise(sig);
    _exit(128 + sig);
}

static void install_interrupt_handlers(void) {
    const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t k = 0; k < sizeof signals / sizeof signals[0]; k++) {
        struct sigaction old;
        if (sigaction(signals[k], NULL, &old) != 0 || old.sa_handler == SIG_IGN) continue;
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = interrupt_handler;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESETHAND | SA_NODEFER;
        sigaction(signals[k], &action, NULL);
    }
}

int bffn_remove_on_interrupt(const char *path) {
    size_t length = strlen(path);
    if (length >= BFFN_INTERRUPT_PATH_MAX) return -1;
    /* A mask inherited blocked (a parent that blocks them in the thread that started this process) would leave the
     * signals pending and the handler idle: unblock them in this thread, which can then take them. */
    sigset_t wanted;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGINT);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &wanted, NULL);
    int slot = -1;
    pthread_mutex_lock(&interrupt_lock);
    if (!interrupt_installed) {
        install_interrupt_handlers();
        interrupt_installed = 1;
    }
    for (int i = 0; i < BFFN_INTERRUPT_SLOTS; i++) {
        if (!__atomic_load_n(&interrupt_used[i], __ATOMIC_ACQUIRE)) {
            memcpy(interrupt_paths[i], path, length + 1);
            __atomic_store_n(&interrupt_used[i], 1, __ATOMIC_RELEASE);
            slot = i;
            break;
        }
    }
    pthread_mutex_unlock(&interrupt_lock);
    return slot;
}

void bffn_keep_on_interrupt(int slot) {
    if (slot < 0 || slot >= BFFN_INTERRUPT_SLOTS) return;
    pthread_mutex_lock(&interrupt_lock);
    __atomic_store_n(&interrupt_used[slot], 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&interrupt_lock);
}

int bffn_signal_ignored(int sig) {
    struct sigaction old;
    return sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN;
}
