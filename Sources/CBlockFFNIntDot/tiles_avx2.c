/* The tile product with AVX2 (vpmaddubsw / vpmaddwd): 16 rows as two 256-bit halves. Compiled for AVX2 and FMA
 * and called only where the CPU reports them. */
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#include "tiles_256.h"

#pragma STDC FP_CONTRACT OFF

/* q8 codes as magnitudes and signs: |w| x (x with w's sign) is w x, and stays within vpmaddubsw's int16 pairs. */
typedef struct { __m256i ua, ub, sa, sb; } VW;

#define Q8_BIAS 0

static inline AI __m256i sum_pairs(__m256i u, __m256i s) { return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)); }
static inline AI VI dot4(VI acc, VB w, const int8_t *x) {
    __m256i q = quad(x);
    return (VI){_mm256_add_epi32(acc.a, sum_pairs(w.a, q)), _mm256_add_epi32(acc.b, sum_pairs(w.b, q))};
}
static inline AI VW q8_load(const uint8_t *p) {
    __m256i a = _mm256_loadu_si256((const __m256i *)p), b = _mm256_loadu_si256((const __m256i *)(p + 32));
    return (VW){_mm256_abs_epi8(a), _mm256_abs_epi8(b), a, b};
}
static inline AI VI dot8(VI acc, VW w, const int8_t *x) {
    __m256i q = quad(x);
    return (VI){_mm256_add_epi32(acc.a, sum_pairs(w.ua, _mm256_sign_epi8(q, w.sa))),
                _mm256_add_epi32(acc.b, sum_pairs(w.ub, _mm256_sign_epi8(q, w.sb)))};
}

#define KERNEL bffn_tiles_avx2
#include "tile_kernel.h"
#pragma clang attribute pop
#endif
