/* The tile product with the NEON int8 matrix multiply extension (ARMv8.6 I8MM, FEAT_I8MM, with DotProd): one token
 * as in tiles_neon_dotprod.c (sdot), passes of four tokens with smmla, which multiplies a 2 x 8 matrix of signed
 * bytes (two rows' eight codes of a block) by an 8 x 2 one (two tokens' eight activation codes) into the 2 x 2 int32
 * sums: per 8 elements of 16 rows and 4 tokens 16 smmla instead of 32 sdot. The sums are the same exact integers.
 * Compiled for dotprod and i8mm and called only where the CPU reports both. */
#include "tiles_internal.h"
#if defined(BFFN_TILES_NEON)
#include "tiles_neon.h"
#pragma clang attribute push(__attribute__((target("dotprod,i8mm"))), apply_to = function)

#pragma STDC FP_CONTRACT OFF

#include "tiles_neon_sdot.h"

/* One block (len elements, a multiple of 8) of the tile at p for NT (2 or 4) tokens; returns p past the block's
 * units. Per 8 elements: a (q8: two units of 4 elements; q4: one unit's low and high nibbles) of 4 rows each
 * interleaved by 32-bit lanes (zip1 / zip2) into 2 x 8 matrices of rows (4i, 4i + 1) and (4i + 2, 4i + 3); tokens
 * (2j, 2j + 1)'s 8 codes side by side. smmla lane 2a + b gains row a's 8 products with token b's codes. At the
 * end the rows of each token are gathered (uzp1: the first token of a pair, uzp2: the second). */
static inline AI const uint8_t *block_sums_multi(const uint8_t *p, long len, const int NT, const int kind, const int8_t *const *x, long e,
                                                 VI *A) {
    int32x4_t C[2][8];
    for (int j = 0; j < NT / 2; j++)
        for (int i = 0; i < 8; i++) C[j][i] = vdupq_n_s32(0);
    /* one 8-element step at a time: unrolled, the loads of later steps are hoisted and the 16 sums spill */
#pragma clang loop unroll(disable)
    for (long u = 0; u < len; u += 8) {
        VB a, b;
        if (kind == BFFN_INTDOT_Q8) {
            a = q8_load(p);
            b = q8_load(p + 64);
            p += 128;
        } else {
            q4_load(p, &a, &b);
            p += 64;
        }
        int8x16_t m[8];
        for (int i = 0; i < 4; i++) {
            m[2 * i] = vreinterpretq_s8_s32(vzip1q_s32(vreinterpretq_s32_s8(a.v[i]), vreinterpretq_s32_s8(b.v[i])));
            m[2 * i + 1] = vreinterpretq_s8_s32(vzip2q_s32(vreinterpretq_s32_s8(a.v[i]), vreinterpretq_s32_s8(b.v[i])));
        }
        for (int j = 0; j < NT / 2; j++) {
            int8x16_t q = vcombine_s8(vld1_s8(x[2 * j] + e + u), vld1_s8(x[2 * j + 1] + e + u));
            for (int i = 0; i < 8; i++) C[j][i] = vmmlaq_s32(C[j][i], m[i], q);
        }
    }
    for (int j = 0; j < NT / 2; j++)
        for (int i = 0; i < 4; i++) {
            A[2 * j].v[i] = vaddq_s32(A[2 * j].v[i], vuzp1q_s32(C[j][2 * i], C[j][2 * i + 1]));
            A[2 * j + 1].v[i] = vaddq_s32(A[2 * j + 1].v[i], vuzp2q_s32(C[j][2 * i], C[j][2 * i + 1]));
        }
    return p;
}
#define BLOCK_SUMS_MULTI 1

#define KERNEL bffn_tiles_neon_i8mm
#include "tile_kernel.h"
#pragma clang attribute pop
#endif
