/* The tile product with plain ARMv8.0 NEON (every AArch64 CPU): per 4 rows, two widening multiplies (smull,
 * smull2: 16 exact int16 products), a pairwise add (addp: sums of two products, at most 2 x 128 x 127 = 32 512, still
 * exact in int16) and a pairwise add-long into the int32 accumulator (sadalp: each lane gains its row's four
 * products). */
#include "tiles_internal.h"
#if defined(BFFN_TILES_NEON)
#include "tiles_neon.h"

#pragma STDC FP_CONTRACT OFF

/* acc + per 32-bit lane the sum of the four byte products of w and q in that lane (w: a code of at most 128 in
   magnitude, q an activation code of at most 127). */
static inline AI int32x4_t dot_lanes(int32x4_t acc, int8x16_t w, int8x16_t q) {
    int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(q)), hi = vmull_high_s8(w, q);
    return vpadalq_s16(acc, vpaddq_s16(lo, hi));
}
static inline AI VI dot4(VI acc, VB w, const int8_t *x) {
    int8x16_t q = quad(x);
    for (int i = 0; i < 4; i++) acc.v[i] = dot_lanes(acc.v[i], w.v[i], q);
    return acc;
}
static inline AI VI dot8(VI acc, VW w, const int8_t *x) { return dot4(acc, w, x); }

#define KERNEL bffn_tiles_neon
#include "tile_kernel.h"
#endif
