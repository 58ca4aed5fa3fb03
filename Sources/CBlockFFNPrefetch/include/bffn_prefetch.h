#ifndef BFFN_PREFETCH_H
#define BFFN_PREFETCH_H
/* Cache helpers for the kernels: software prefetch for scattered weight segments (Swift has no prefetch intrinsic),
 * and the cache-sized span the tile products walk several tokens over. */

/* Asks for `bytes` bytes starting at p to be brought into cache, one request per 64-byte line. */
static inline void bffn_prefetch_range(const void *p, long bytes) {
    const char *c = (const char *)p;
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 3);
}

/* Weight bytes a span of tiles holds when several tokens pass over it (the int8 and bf16 tile products): small
 * enough to stay in a core's level-2 cache (1-2 MiB on the CPUs this targets) beside the activations. */
#define BFFN_TILE_SPAN_BYTES (256L * 1024)

/* Tiles in one span for tiles of `bytes` each (every matrix of a union counted): at least one. */
static inline long bffn_tile_span(long bytes) { return bytes >= BFFN_TILE_SPAN_BYTES ? 1 : BFFN_TILE_SPAN_BYTES / bytes; }
#endif
