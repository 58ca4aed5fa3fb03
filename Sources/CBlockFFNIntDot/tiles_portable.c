/* The tile product in portable C (any CPU): the reference the vector levels must match bit for bit. */
#include "tiles_internal.h"
#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

typedef struct { uint8_t b[64]; } VB;
typedef VB VW;
typedef struct { int32_t v[16]; } VI;
typedef struct { float v[16]; } VF;

#define Q8_BIAS 0

static inline AI VI vi_zero(void) { VI z; memset(&z, 0, sizeof z); return z; }
static inline AI VF vf_zero(void) { VF z; for (int r = 0; r < 16; r++) z.v[r] = 0.0f; return z; }
static inline AI VF vf_load(const float *p) { VF v; memcpy(v.v, p, 64); return v; }
static inline AI void vf_store(float *p, VF v) { memcpy(p, v.v, 64); }
static inline AI void q4_load(const uint8_t *p, VB *lo, VB *hi) {
    for (int k = 0; k < 64; k++) {
        lo->b[k] = p[k] & 15;
        hi->b[k] = p[k] >> 4;
    }
}
static inline AI VI dot4(VI acc, VB w, const int8_t *x) {
    for (int r = 0; r < 16; r++)
        for (int i = 0; i < 4; i++) acc.v[r] += (int32_t)w.b[4 * r + i] * x[i];
    return acc;
}
static inline AI VW q8_load(const uint8_t *p) { VW w; memcpy(w.b, p, 64); return w; }
static inline AI VI dot8(VI acc, VW w, const int8_t *x) {
    for (int r = 0; r < 16; r++)
        for (int i = 0; i < 4; i++) acc.v[r] += (int32_t)(int8_t)w.b[4 * r + i] * x[i];
    return acc;
}
static inline AI VF block_step(VI A, VI B, int32_t bias, float d, VF G) {
    for (int r = 0; r < 16; r++) G.v[r] = fmaf((float)(A.v[r] + B.v[r] - bias), d, G.v[r]);
    return G;
}
static inline AI VF vf_fma(VF a, VF b, VF c) {
    for (int r = 0; r < 16; r++) c.v[r] = fmaf(a.v[r], b.v[r], c.v[r]);
    return c;
}
static inline AI VF vf_fma_s(VF a, float s, VF c) {
    for (int r = 0; r < 16; r++) c.v[r] = fmaf(a.v[r], s, c.v[r]);
    return c;
}

#define KERNEL bffn_tiles_portable
#include "tile_kernel.h"
