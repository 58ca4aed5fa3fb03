/* The 256-bit primitives shared by the AVX2 and AVX-VNNI tile products (tile_kernel.h): 16 rows as two halves of
 * 8 lanes. The includer defines VW, Q8_BIAS, dot4, q8_load and dot8. */
#ifndef BFFN_TILES_256_H
#define BFFN_TILES_256_H
#include "tiles_internal.h"
#include <immintrin.h>
#include <string.h>

typedef struct { __m256i a, b; } VB;
typedef struct { __m256i a, b; } VI;
typedef struct { __m256 a, b; } VF;

static inline AI VI vi_zero(void) { return (VI){_mm256_setzero_si256(), _mm256_setzero_si256()}; }
static inline AI VF vf_zero(void) { return (VF){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
static inline AI VF vf_load(const float *p) { return (VF){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
static inline AI void vf_store(float *p, VF v) {
    _mm256_storeu_ps(p, v.a);
    _mm256_storeu_ps(p + 8, v.b);
}
static inline AI void q4_load(const uint8_t *p, VB *lo, VB *hi) {
    const __m256i m = _mm256_set1_epi8(15);
    __m256i a = _mm256_loadu_si256((const __m256i *)p), b = _mm256_loadu_si256((const __m256i *)(p + 32));
    *lo = (VB){_mm256_and_si256(a, m), _mm256_and_si256(b, m)};
    *hi = (VB){_mm256_and_si256(_mm256_srli_epi16(a, 4), m), _mm256_and_si256(_mm256_srli_epi16(b, 4), m)};
}
/* Four activation codes broadcast to every lane. */
static inline AI __m256i quad(const int8_t *x) {
    int32_t q;
    memcpy(&q, x, 4);
    return _mm256_set1_epi32(q);
}
static inline AI VF block_step(VI A, VI B, int32_t bias, float d, VF G) {
    __m256i k = _mm256_set1_epi32(bias);
    __m256 dv = _mm256_set1_ps(d);
    return (VF){_mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_add_epi32(A.a, B.a), k)), dv, G.a),
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_add_epi32(A.b, B.b), k)), dv, G.b)};
}
static inline AI VF vf_fma(VF a, VF b, VF c) { return (VF){_mm256_fmadd_ps(a.a, b.a, c.a), _mm256_fmadd_ps(a.b, b.b, c.b)}; }
static inline AI VF vf_fma_s(VF a, float s, VF c) {
    __m256 v = _mm256_set1_ps(s);
    return (VF){_mm256_fmadd_ps(a.a, v, c.a), _mm256_fmadd_ps(a.b, v, c.b)};
}
#endif
