/* The tile product with AVX-512 VNNI (vpdpbusd on 512-bit registers: one lane a row of the tile). Compiled for
 * AVX-512 and called only where the CPU reports it. */
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni"))), apply_to = function)
#include "tiles_internal.h"
#include <immintrin.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

typedef __m512i VB;
typedef __m512i VW;
typedef __m512i VI;
typedef __m512 VF;

/* q8 codes enter vpdpbusd as unsigned bytes w + 128 (w xor 0x80): the sum gains 128 x the activations' sum. */
#define Q8_BIAS 128

static inline AI VI vi_zero(void) { return _mm512_setzero_si512(); }
static inline AI VF vf_zero(void) { return _mm512_setzero_ps(); }
static inline AI VF vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline AI void vf_store(float *p, VF v) { _mm512_storeu_ps(p, v); }
static inline AI void q4_load(const uint8_t *p, VB *lo, VB *hi) {
    const __m512i m = _mm512_set1_epi8(15);
    __m512i v = _mm512_loadu_si512(p);
    *lo = _mm512_and_si512(v, m);
    *hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
}
static inline AI __m512i quad(const int8_t *x) {
    int32_t q;
    memcpy(&q, x, 4);
    return _mm512_set1_epi32(q);
}
static inline AI VI dot4(VI acc, VB w, const int8_t *x) { return _mm512_dpbusd_epi32(acc, w, quad(x)); }
static inline AI VW q8_load(const uint8_t *p) { return _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_set1_epi8((char)0x80)); }
static inline AI VI dot8(VI acc, VW w, const int8_t *x) { return dot4(acc, w, x); }
static inline AI VF block_step(VI A, VI B, int32_t bias, float d, VF G) {
    __m512i i = _mm512_sub_epi32(_mm512_add_epi32(A, B), _mm512_set1_epi32(bias));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_set1_ps(d), G);
}
static inline AI VF vf_fma(VF a, VF b, VF c) { return _mm512_fmadd_ps(a, b, c); }
static inline AI VF vf_fma_s(VF a, float s, VF c) { return _mm512_fmadd_ps(a, _mm512_set1_ps(s), c); }

#define KERNEL bffn_tiles_vnni512
#include "tile_kernel.h"
#pragma clang attribute pop
#endif
