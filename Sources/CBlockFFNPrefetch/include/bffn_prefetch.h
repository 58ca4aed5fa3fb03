#ifndef BFFN_PREFETCH_H
#define BFFN_PREFETCH_H
/* Software prefetch for the weight-streaming kernels (Swift has no prefetch intrinsic). */
static inline void bffn_prefetch(const void *p) { __builtin_prefetch(p, 0, 0); }

/* Prefetches `bytes` bytes starting at p, one request per 64-byte line. */
static inline void bffn_prefetch_range(const void *p, long bytes) {
    const char *c = (const char *)p;
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 0);
}
#endif
