/* The tile product with the NEON dot product extension (ARMv8.2 DotProd, FEAT_DotProd): one sdot a 4 rows, each
 * lane gaining its row's four byte products (signed x signed, exact in int32). Compiled for dotprod and called
 * only where the CPU reports it. */
#include "tiles_internal.h"
#if defined(BFFN_TILES_NEON)
#include "tiles_neon.h"
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)

#pragma STDC FP_CONTRACT OFF

static inline AI VI dot4(VI acc, VB w, const int8_t *x) {
    int8x16_t q = quad(x);
    for (int i = 0; i < 4; i++) acc.v[i] = vdotq_s32(acc.v[i], w.v[i], q);
    return acc;
}
static inline AI VI dot8(VI acc, VW w, const int8_t *x) { return dot4(acc, w, x); }

#define KERNEL bffn_tiles_neon_dotprod
#include "tile_kernel.h"
#pragma clang attribute pop
#endif
