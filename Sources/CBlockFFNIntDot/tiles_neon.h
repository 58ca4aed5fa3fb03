/* The NEON primitives shared by the AArch64 tile products (tile_kernel.h): 16 rows as four 128-bit vectors of 4
 * lanes, row r in lane r % 4 of vector r / 4 (the tile's memory order). The includer defines dot4, q8_load, dot8
 * (and may define TILE_ONE_ACCUMULATOR, BLOCK_SUMS_MULTI). Little-endian AArch64 only (BFFN_TILES_NEON). */
#ifndef BFFN_TILES_NEON_H
#define BFFN_TILES_NEON_H
#include "tiles_internal.h"
#include <arm_neon.h>
#include <string.h>

/* 16 rows x 4 codes (q4 nibbles 0 ... 15, or q8 codes), as signed bytes: lane r of the tile is bytes 4r ... 4r + 3. */
typedef struct { int8x16_t v[4]; } VB;
typedef VB VW;
typedef struct { int32x4_t v[4]; } VI;
typedef struct { float32x4_t v[4]; } VF;

/* q8 codes are used as they are (signed x signed products): no bias. */
#define Q8_BIAS 0

/* 16 rows take four registers a token: passes of several tokens keep one integer accumulator a token, else the
   accumulators, G and R of four tokens would need 64 of the 32 registers. */
#define TILE_ONE_ACCUMULATOR(NT) ((NT) > 1)

static inline AI VI vi_zero(void) {
    VI z;
    for (int i = 0; i < 4; i++) z.v[i] = vdupq_n_s32(0);
    return z;
}
static inline AI VF vf_zero(void) {
    VF z;
    for (int i = 0; i < 4; i++) z.v[i] = vdupq_n_f32(0.0f);
    return z;
}
static inline AI VF vf_load(const float *p) {
    VF v;
    for (int i = 0; i < 4; i++) v.v[i] = vld1q_f32(p + 4 * i);
    return v;
}
static inline AI void vf_store(float *p, VF v) {
    for (int i = 0; i < 4; i++) vst1q_f32(p + 4 * i, v.v[i]);
}
/* 64 bytes of q4 codes: the low nibbles (and) and the high nibbles (shift right), each 0 ... 15. */
static inline AI void q4_load(const uint8_t *p, VB *lo, VB *hi) {
    const uint8x16_t m = vdupq_n_u8(15);
    for (int i = 0; i < 4; i++) {
        uint8x16_t v = vld1q_u8(p + 16 * i);
        lo->v[i] = vreinterpretq_s8_u8(vandq_u8(v, m));
        hi->v[i] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
    }
}
static inline AI VW q8_load(const uint8_t *p) {
    VW w;
    for (int i = 0; i < 4; i++) w.v[i] = vld1q_s8((const int8_t *)p + 16 * i);
    return w;
}
/* Four activation codes in every 32-bit lane. */
static inline AI int8x16_t quad(const int8_t *x) {
    int32_t q;
    memcpy(&q, x, 4);
    return vreinterpretq_s8_s32(vdupq_n_s32(q));
}
/* fma((float)(A + B - bias), d, G): the integer exact, its conversion exact (|sum| < 2^24), one fused fmla. */
static inline AI VF block_step(VI A, VI B, int32_t bias, float d, VF G) {
    const int32x4_t k = vdupq_n_s32(bias);
    const float32x4_t dv = vdupq_n_f32(d);
    for (int i = 0; i < 4; i++) G.v[i] = vfmaq_f32(G.v[i], vcvtq_f32_s32(vsubq_s32(vaddq_s32(A.v[i], B.v[i]), k)), dv);
    return G;
}
static inline AI VF vf_fma(VF a, VF b, VF c) {
    for (int i = 0; i < 4; i++) c.v[i] = vfmaq_f32(c.v[i], a.v[i], b.v[i]);
    return c;
}
static inline AI VF vf_fma_s(VF a, float s, VF c) {
    const float32x4_t v = vdupq_n_f32(s);
    for (int i = 0; i < 4; i++) c.v[i] = vfmaq_f32(c.v[i], a.v[i], v);
    return c;
}
#endif
