#ifndef BFFN_PREFETCH_H
#define BFFN_PREFETCH_H
/* Software prefetch for kernels that read scattered weight segments (Swift has no prefetch intrinsic). */

/* Asks for `bytes` bytes starting at p to be brought into cache, one request per 64-byte line. */
static inline void bffn_prefetch_range(const void *p, long bytes) {
    const char *c = (const char *)p;
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 3);
}
#endif
