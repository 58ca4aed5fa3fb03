/* Shared by the per-level kernel files (not part of the module's interface). */
#ifndef BFFN_TILES_INTERNAL_H
#define BFFN_TILES_INTERNAL_H
#include "bffn_intdot.h"
#include "bffn_prefetch.h"
#include <stddef.h>

#define AI __attribute__((always_inline))

/* The shape of one tile: n elements a row in ng groups of `group`, bpg blocks a group (the last of a whole-row
 * group may be shorter), nb blocks a segment, `header` bytes of scales (and offsets) before each group's codes. */
typedef struct {
    int kind;
    long n, group, ng, block, bpg, nb, header, group_bytes, tile_bytes;
} tile_shape;

static inline tile_shape bffn_make_tile_shape(int kind, long n, long group, long block) {
    tile_shape s;
    s.kind = kind;
    s.n = n;
    s.group = group;
    s.ng = n / group;
    s.block = block;
    s.bpg = (group + block - 1) / block;
    s.nb = s.ng * s.bpg;
    s.header = kind == BFFN_INTDOT_Q4_ASYMMETRIC ? 128 : 64;
    s.group_bytes = s.header + (kind == BFFN_INTDOT_Q8 ? 16 : 8) * group;
    s.tile_bytes = s.ng * s.group_bytes;
    return s;
}

typedef void bffn_tiles_kernel(const tile_shape *sh, const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows,
                               const bffn_int8_activations *a, float *out, long out_stride);

bffn_tiles_kernel bffn_tiles_portable;
#if defined(__x86_64__)
bffn_tiles_kernel bffn_tiles_avx2, bffn_tiles_vnni512, bffn_tiles_vnni256;
#endif

/* The NEON levels: AArch64, little-endian (their lanes are the tile's rows in memory order). */
#if defined(__aarch64__) && defined(__ARM_NEON) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BFFN_TILES_NEON 1
bffn_tiles_kernel bffn_tiles_neon, bffn_tiles_neon_dotprod, bffn_tiles_neon_i8mm;
#endif
#endif
