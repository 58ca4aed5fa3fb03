/* The tile product with AVX-VNNI (256-bit vpdpbusd): 16 rows as two 256-bit halves. Compiled for AVX-VNNI and
 * called only where the CPU reports it. */
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avxvnni"))), apply_to = function)
#include "tiles_256.h"

#pragma STDC FP_CONTRACT OFF

typedef VB VW;

/* q8 codes enter vpdpbusd as unsigned bytes w + 128 (w xor 0x80): the sum gains 128 x the activations' sum. */
#define Q8_BIAS 128

static inline AI VI dot4(VI acc, VB w, const int8_t *x) {
    __m256i q = quad(x);
    return (VI){_mm256_dpbusd_avx_epi32(acc.a, w.a, q), _mm256_dpbusd_avx_epi32(acc.b, w.b, q)};
}
static inline AI VW q8_load(const uint8_t *p) {
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    return (VW){_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p), flip),
                _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 32)), flip)};
}
static inline AI VI dot8(VI acc, VW w, const int8_t *x) { return dot4(acc, w, x); }

#define KERNEL bffn_tiles_vnni256
#include "tile_kernel.h"
#pragma clang attribute pop
#endif
