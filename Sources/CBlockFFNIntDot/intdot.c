/*
 * Integer dot products (see bffn_intdot.h and formats/numerics.md). The int32 quad sums come from the best
 * instruction set this CPU has, chosen at run time; they are exact, so every level gives the same sums, and the
 * float steps that follow are the same operations at every level (intdot_kernel.h, included once per level),
 * compiled without contraction (the only fused multiply-adds are the explicit ones), so every level gives the
 * same bits.
 */
#include "bffn_intdot.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

typedef float v8f __attribute__((ext_vector_type(8)));
typedef int32_t v8i __attribute__((ext_vector_type(8)));

#define AI __attribute__((always_inline))

long bffn_activation_block(long n, long group) {
    if (group % 32 == 0 || group == n) return 32;
    return group % 16 == 0 ? 16 : 8;
}

/* The codes of one block (len elements) rounded as documented. */
static void quantize_block(const float *x, long len, float d, int8_t *q) {
    if (d > 0.0f) {
        for (long i = 0; i < len; i++) {
            /* round half away from zero: the truncation, plus one away from zero when the (exact) remainder is at
               least a half; written without branches so it vectorizes. */
            float v = x[i] / d;
            float t = truncf(v);
            float r = v - t;
            t = fabsf(r) >= 0.5f ? t + copysignf(1.0f, v) : t;
            t = t > 127.0f ? 127.0f : t;
            t = t < -127.0f ? -127.0f : t;
            q[i] = (int8_t)(t == t ? (int)t : 0);
        }
    } else {
        memset(q, 0, (size_t)len);
    }
}

void bffn_quantize_activations(int kind, const float *x, long n, long group, long block, int8_t *codes, float *scales,
                               int32_t *quad_offsets, float *group_sums) {
    long nb = (n + block - 1) / block, per_group = n / group == 1 ? nb : group / block;
    long bi = 0, gi = 0, in_group = 0;
    float sum = 0.0f;
    int8_t q[32];
    for (long b0 = 0; b0 < n; b0 += block, bi++) {
        long len = n - b0 < block ? n - b0 : block;
        float amax = 0.0f;
        for (long i = 0; i < len; i++) {
            float a = fabsf(x[b0 + i]);
            amax = a > amax ? a : amax;
        }
        float d = amax / 127.0f;
        quantize_block(x + b0, len, d, q);
        if (kind == BFFN_INTDOT_Q8) {
            memcpy(codes + b0, q, (size_t)len);
        } else {
            /* nibble order: the block's even elements, then its odd ones */
            for (long p = 0; p < len / 2; p++) {
                codes[b0 + p] = q[2 * p];
                codes[b0 + len / 2 + p] = q[2 * p + 1];
            }
        }
        scales[bi] = d;
        if (group_sums) {
            int32_t c = 0;
            for (long i = 0; i < len; i++) c += q[i];
            sum = sum + d * (float)c;
            if (++in_group == per_group) {
                group_sums[gi++] = sum;
                sum = 0.0f;
                in_group = 0;
            }
        }
    }
    if (quad_offsets) {
        for (long j = 0; j < n / 4; j++) quad_offsets[j] = 8 * (codes[4 * j] + codes[4 * j + 1] + codes[4 * j + 2] + codes[4 * j + 3]);
    }
}

/* ---- pieces shared by every level (plain C, inlined into each) ---- */

static inline AI float load_f32(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}
static inline AI v8i load_v8i(const int32_t *p) {
    v8i v;
    memcpy(&v, p, 32);
    return v;
}
static inline AI v8f to_float(v8i v) { return __builtin_convertvector(v, v8f); }
static inline AI v8f fma8(v8f p, float t, v8f acc) { return __builtin_elementwise_fma(p, (v8f)t, acc); }

/* A row segment's shape: n elements, ng weight groups, nb blocks (full of them: 32 elements), per_group blocks
 * per group. */
typedef struct {
    long n, ng, nb, per_group, block, full;
} shape;

static inline shape make_shape(long n, long group, long block) {
    shape s;
    s.n = n;
    s.ng = n / group;
    s.nb = (n + block - 1) / block;
    s.per_group = s.ng == 1 ? s.nb : group / block;
    s.block = block;
    s.full = block == 32 ? n / 32 : 0;
    return s;
}

/* Where a row's codes start: after its group scales (and offsets). */
static inline AI const uint8_t *codes_of(int kind, const uint8_t *row, long ng) {
    return row + ng * 4 * (kind == BFFN_INTDOT_Q4_ASYMMETRIC ? 2 : 1);
}

/* The first k (1 ... 8) floats at p, the other lanes 0. */
static inline AI v8f load_partial(const void *p, long k) {
    v8f v = 0;
    if (k >= 8) {
        memcpy(&v, p, 32);
        return v;
    }
#if defined(__x86_64__)
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 m = _mm256_maskload_ps((const float *)p, mask);
    memcpy(&v, &m, 32);
#else
    memcpy(&v, p, (size_t)(4 * k));
#endif
    return v;
}

/* The scale products d_b * s_g of blocks c0 ... c0 + k - 1 (k <= 8) in lanes 0 ... k - 1. */
static inline AI v8f scale_products8(const float *d, const uint8_t *row, long c0, long k, long ng, long per_group) {
    v8f dv = load_partial(d + c0, k);
    if (ng == 1) return dv * load_f32(row);
    if (per_group == 1) return dv * load_partial(row + 4 * c0, k);
    v8f s = 0;
    for (long i = 0; i < k; i++) s[i] = load_f32(row + 4 * ((c0 + i) / per_group));
    return dv * s;
}

/* The quad sums of a block of len elements (8, 16, or a row's short last block) from element k0, element by
 * element (the portable level uses it for every block). */
static inline AI v8i short_p(int kind, const uint8_t *w, const int8_t *x, const int32_t *K, long k0, long len) {
    v8i P = 0;
    if (kind == BFFN_INTDOT_Q8) {
        const int8_t *wc = (const int8_t *)w + k0;
        for (long i = 0; i < len; i++) P[i >> 2] += (int32_t)wc[i] * x[k0 + i];
    } else {
        const uint8_t *wb = w + k0 / 2;
        long h = len / 2;
        for (long p = 0; p < h; p++) {
            P[p >> 2] += (int32_t)(wb[p] & 15) * x[k0 + p];
            P[(h + p) >> 2] += (int32_t)(wb[p] >> 4) * x[k0 + h + p];
        }
        if (kind == BFFN_INTDOT_Q4_SYMMETRIC)
            for (long j = 0; j < len / 4; j++) P[j] -= K[k0 / 4 + j];
    }
    return P;
}

/* O + o_g * S_g over a segment's groups, lane g mod 8. */
static inline AI v8f offset_terms(const uint8_t *offsets, const float *S, long ng, v8f O) {
    for (long g = 0; g < ng; g += 8) {
        long k = ng - g < 8 ? ng - g : 8;
        O = __builtin_elementwise_fma(load_partial(offsets + 4 * g, k), load_partial(S + g, k), O);
    }
    return O;
}

/* The documented reduction of the accumulators. */
static inline AI float finish(const v8f *acc, v8f O, int with_offsets) {
    v8f a = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    if (with_offsets) a = a + O;
    float x0 = a[0] + a[4], x1 = a[1] + a[5], x2 = a[2] + a[6], x3 = a[3] + a[7];
    return (x0 + x2) + (x1 + x3);
}

/* ---- the levels ---- */

/* portable: every block element by element */
#define LEVEL portable
#define ATTR
#define WEIGHTS const uint8_t *
#define PREP_Q8(w) ((const uint8_t *)(w))
#define PREP_Q4(w) ((const uint8_t *)(w))
#define DOT_Q8(wt, xb) short_p(BFFN_INTDOT_Q8, (wt), (xb), 0, 0, 32)
#define DOT_Q4(wt, xb) short_p(BFFN_INTDOT_Q4_ASYMMETRIC, (wt), (xb), 0, 0, 32)
#include "intdot_kernel.h"
#undef LEVEL
#undef ATTR
#undef WEIGHTS
#undef PREP_Q8
#undef PREP_Q4
#undef DOT_Q8
#undef DOT_Q4

#if defined(__x86_64__)
#define ATTR_AVX2 __attribute__((target("avx2,fma")))
#define ATTR_VNNI512 __attribute__((target("avx2,fma,avx512f,avx512vl,avx512bw,avx512vnni")))
#define ATTR_VNNI256 __attribute__((target("avx2,fma,avxvnni")))

/* A q8 block made ready: the codes, and their absolute values (the unsigned operand). */
typedef struct {
    __m256i w, u;
} q8_ready;

static inline AI ATTR_AVX2 __m256i q4_unpack(const uint8_t *w) {
    __m128i b = _mm_loadu_si128((const __m128i *)w);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(15));
}
static inline AI ATTR_AVX2 q8_ready q8_prep(const uint8_t *w) {
    q8_ready r;
    r.w = _mm256_loadu_si256((const __m256i *)w);
    r.u = _mm256_sign_epi8(r.w, r.w);
    return r;
}
static inline AI ATTR_AVX2 q8_ready q4_prep(const uint8_t *w) {
    q8_ready r;
    r.w = r.u = q4_unpack(w);
    return r;
}
static inline AI ATTR_AVX2 v8i as_v8i(__m256i v) {
    v8i r;
    memcpy(&r, &v, 32);
    return r;
}
static inline AI ATTR_AVX2 __m256i load_x(const int8_t *x) { return _mm256_loadu_si256((const __m256i *)x); }
static inline AI ATTR_AVX2 __m256i dp_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
static inline AI ATTR_VNNI512 __m256i dp_vnni512(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }
static inline AI ATTR_VNNI256 __m256i dp_vnni256(__m256i u, __m256i s) { return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s); }

/* AVX2 */
#define LEVEL avx2
#define ATTR ATTR_AVX2
#define WEIGHTS q8_ready
#define PREP_Q8(w) q8_prep(w)
#define PREP_Q4(w) q4_prep(w)
#define DOT_Q8(wt, xb) as_v8i(dp_avx2((wt).u, _mm256_sign_epi8(load_x(xb), (wt).w)))
#define DOT_Q4(wt, xb) as_v8i(dp_avx2((wt).u, load_x(xb)))
#include "intdot_kernel.h"
#undef LEVEL
#undef ATTR
#undef DOT_Q8
#undef DOT_Q4
/* AVX-512 VNNI: single blocks on 256-bit registers; pairs of full blocks on 512-bit registers, whose halves are
 * the accumulators of blocks 4i and 4i + 1 (or 4i + 2 and 4i + 3): the same operations, half the instructions. */
static inline AI ATTR_VNNI512 __m512 join8(v8f lo, v8f hi) {
    __m256 l, h;
    memcpy(&l, &lo, 32);
    memcpy(&h, &hi, 32);
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(l)), _mm256_castps_pd(h), 1));
}
static inline AI ATTR_VNNI512 void split8(__m512 z, v8f *lo, v8f *hi) {
    __m256 l = _mm512_castps512_ps256(z), h = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(z), 1));
    memcpy(lo, &l, 32);
    memcpy(hi, &h, 32);
}
/* The 64 codes of full blocks b, b + 1 ready for vpdpbusd: q4 nibbles in the activations' nibble order. */
static inline AI ATTR_VNNI512 __m512i q4_unpack2(const uint8_t *w) {
    __m256i y = _mm256_loadu_si256((const __m256i *)w);
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(y), _mm256_srli_epi16(y, 4), 1); /* b, b+1, b>>4, b+1>>4 */
    z = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));                               /* b, b>>4, b+1, b+1>>4 */
    return _mm512_and_si512(z, _mm512_set1_epi8(15));
}
/* The quad sums of full blocks b, b + 1 against activation codes xb (the pair's 64 codes). */
static inline AI ATTR_VNNI512 __m512i pair_p(int kind, __m512i u, __m512i wsign, const int8_t *xb, const int32_t *K) {
    __m512i x = _mm512_loadu_si512((const void *)xb);
    if (kind == BFFN_INTDOT_Q8) x = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(wsign), _mm512_setzero_si512(), x);
    __m512i P = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, x);
    if (kind == BFFN_INTDOT_Q4_SYMMETRIC) P = _mm512_sub_epi32(P, _mm512_loadu_si512((const void *)K));
    return P;
}
/* Pair i's weights made ready: the unsigned operand, and (q8) the codes whose signs go to the activations. */
static inline AI ATTR_VNNI512 void pair_weights(int kind, const uint8_t *w, long b, __m512i *u, __m512i *wsign) {
    if (kind == BFFN_INTDOT_Q8) {
        *wsign = _mm512_loadu_si512((const void *)(w + b * 32));
        *u = _mm512_abs_epi8(*wsign);
    } else {
        *u = q4_unpack2(w + b * 16);
        *wsign = *u;
    }
}
/* Lanes 0-7 the scale product of block 2i of the chunk, lanes 8-15 that of block 2i + 1. */
static inline AI ATTR_VNNI512 __m512 pair_scale(__m512 tz, int i) {
    return _mm512_permutexvar_ps(_mm512_setr_epi32(2 * i, 2 * i, 2 * i, 2 * i, 2 * i, 2 * i, 2 * i, 2 * i, 2 * i + 1, 2 * i + 1,
                                                   2 * i + 1, 2 * i + 1, 2 * i + 1, 2 * i + 1, 2 * i + 1, 2 * i + 1),
                                 tz);
}
static inline AI ATTR_VNNI512 __m512 chunk_scales(v8f tv) {
    __m256 t;
    memcpy(&t, &tv, 32);
    return _mm512_castps256_ps512(t);
}

/* Pairs of full blocks of the chunk at c0 (the first kf & ~1 blocks, kf <= 8), one token, on 512-bit accumulators:
 * pair i (blocks c0 + 2i, c0 + 2i + 1) adds to z0 (i even: accumulators 0 and 1) or z1 (2 and 3); tz holds the
 * chunk's scale products in lanes 0-7. */
static inline AI ATTR_VNNI512 void pairs1_z(int kind, const uint8_t *w, long c0, long kf, const int8_t *x, const int32_t *K, __m512 tz,
                                           __m512 *z0, __m512 *z1) {
    __m512i u, ws;
#define PAIR1(i, Z)                                                                                                    \
    if (kf >= 2 * (i) + 2) {                                                                                           \
        pair_weights(kind, w, c0 + 2 * (i), &u, &ws);                                                                  \
        *Z = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pair_p(kind, u, ws, x + (c0 + 2 * (i)) * 32, K + (c0 + 2 * (i)) * 8)), \
                             pair_scale(tz, i), *Z);                                                                   \
    }
    PAIR1(0, z0)
    PAIR1(1, z1)
    PAIR1(2, z0)
    PAIR1(3, z1)
#undef PAIR1
}

/* The same for four tokens (token t's codes at x + t * xs, offsets at K + t * ks, accumulators z[t]), each pair's
 * weights made ready once. */
static inline AI ATTR_VNNI512 void pairs4_z(int kind, const uint8_t *w, long c0, long kf, const int8_t *x, long xs, const int32_t *K,
                                           long ks, const __m512 tz[4], __m512 z[4][2]) {
    __m512i u, ws;
#define PAIR4(i, Z)                                                                                                    \
    if (kf >= 2 * (i) + 2) {                                                                                           \
        pair_weights(kind, w, c0 + 2 * (i), &u, &ws);                                                                  \
        for (int t = 0; t < 4; t++)                                                                                    \
            z[t][Z] = _mm512_fmadd_ps(                                                                                 \
                _mm512_cvtepi32_ps(pair_p(kind, u, ws, x + t * xs + (c0 + 2 * (i)) * 32, K + t * ks + (c0 + 2 * (i)) * 8)), \
                pair_scale(tz[t], i), z[t][Z]);                                                                        \
    }
    PAIR4(0, 0)
    PAIR4(1, 1)
    PAIR4(2, 0)
    PAIR4(3, 1)
#undef PAIR4
}

static inline AI ATTR_VNNI512 void join4(v8f acc[4][4], __m512 z[4][2]) {
    for (int t = 0; t < 4; t++) {
        z[t][0] = join8(acc[t][0], acc[t][1]);
        z[t][1] = join8(acc[t][2], acc[t][3]);
    }
}
static inline AI ATTR_VNNI512 void split4(__m512 z[4][2], v8f acc[4][4]) {
    for (int t = 0; t < 4; t++) {
        split8(z[t][0], &acc[t][0], &acc[t][1]);
        split8(z[t][1], &acc[t][2], &acc[t][3]);
    }
}

/* The pairs of one chunk on the 256-bit accumulators (the PAIRS1 / PAIRS4 hooks). */
static inline AI ATTR_VNNI512 void pairs1_vnni512(int kind, const uint8_t *w, long c0, long kf, const int8_t *x, const int32_t *K, v8f tv,
                                                 v8f *a0, v8f *a1, v8f *a2, v8f *a3) {
    if (kf < 2) return;
    __m512 z0 = join8(*a0, *a1), z1 = join8(*a2, *a3);
    pairs1_z(kind, w, c0, kf, x, K, chunk_scales(tv), &z0, &z1);
    split8(z0, a0, a1);
    split8(z1, a2, a3);
}
static inline AI ATTR_VNNI512 void pairs4_vnni512(int kind, const uint8_t *w, long c0, long kf, const int8_t *x, long xs, const int32_t *K,
                                                 long ks, const v8f *tv, v8f acc[4][4]) {
    if (kf < 2) return;
    __m512 z[4][2], tz[4];
    join4(acc, z);
    for (int t = 0; t < 4; t++) tz[t] = chunk_scales(tv[t]);
    pairs4_z(kind, w, c0, kf, x, xs, K, ks, tz, z);
    split4(z, acc);
}

/* A whole segment whose blocks are all full and even in number (the SEGMENT1_EVEN / SEGMENT4_EVEN hooks): the
 * 512-bit accumulators are joined once at the start and split once at the end instead of at every chunk. */
static inline AI ATTR_VNNI512 void segment1_even_vnni512(int kind, const uint8_t *row, const shape *sh, const int8_t *x, const float *d,
                                                        const int32_t *K, v8f *a0, v8f *a1, v8f *a2, v8f *a3) {
    const uint8_t *w = codes_of(kind, row, sh->ng);
    __m512 z0 = join8(*a0, *a1), z1 = join8(*a2, *a3);
    for (long c0 = 0; c0 < sh->nb; c0 += 8) {
        long k = sh->nb - c0 < 8 ? sh->nb - c0 : 8;
        pairs1_z(kind, w, c0, k, x, K, chunk_scales(scale_products8(d, row, c0, k, sh->ng, sh->per_group)), &z0, &z1);
    }
    split8(z0, a0, a1);
    split8(z1, a2, a3);
}
static inline AI ATTR_VNNI512 void segment4_even_vnni512(int kind, const uint8_t *row, const shape *sh, const int8_t *x, long xs,
                                                        const float *d, long ds, const int32_t *K, long ks, v8f acc[4][4]) {
    const uint8_t *w = codes_of(kind, row, sh->ng);
    __m512 z[4][2];
    join4(acc, z);
    for (long c0 = 0; c0 < sh->nb; c0 += 8) {
        long k = sh->nb - c0 < 8 ? sh->nb - c0 : 8;
        __m512 tz[4];
        for (int t = 0; t < 4; t++) tz[t] = chunk_scales(scale_products8(d + t * ds, row, c0, k, sh->ng, sh->per_group));
        pairs4_z(kind, w, c0, k, x, xs, K, ks, tz, z);
    }
    split4(z, acc);
}

#define LEVEL vnni512
#define ATTR ATTR_VNNI512
#define SEGMENT1_EVEN(kind, row, sh, x, d, K, a0, a1, a2, a3) segment1_even_vnni512(kind, row, sh, x, d, K, a0, a1, a2, a3)
#define SEGMENT4_EVEN(kind, row, sh, x, xs, d, ds, K, ks, acc) segment4_even_vnni512(kind, row, sh, x, xs, d, ds, K, ks, acc)
#define PAIRS1(kind, w, c0, kf, x, K, tv, a0, a1, a2, a3) pairs1_vnni512(kind, w, c0, kf, x, K, tv, a0, a1, a2, a3)
#define PAIRS4(kind, w, c0, kf, x, xs, K, ks, tv, acc) pairs4_vnni512(kind, w, c0, kf, x, xs, K, ks, tv, acc)
#define DOT_Q8(wt, xb) as_v8i(dp_vnni512((wt).u, _mm256_sign_epi8(load_x(xb), (wt).w)))
#define DOT_Q4(wt, xb) as_v8i(dp_vnni512((wt).u, load_x(xb)))
#include "intdot_kernel.h"
#undef LEVEL
#undef ATTR
#undef DOT_Q8
#undef DOT_Q4
#undef PAIRS1
#undef PAIRS4
#undef SEGMENT4_EVEN
#undef SEGMENT1_EVEN

/* Union segments of 2, 4, 6 or 8 full blocks with one scale per block or per row (the experts of a down
 * projection): the same operations as segment_vnni512, with the accumulators kept in 512-bit registers across the
 * segments and the masks made once. */
static inline int union_fast(const shape *sh) {
    return sh->block == 32 && sh->full == sh->nb && sh->nb % 2 == 0 && sh->nb <= 8 && (sh->per_group == 1 || sh->ng == 1);
}

static inline AI ATTR_VNNI512 float union_finish(__m512 z01, __m512 z23, __m256 O, int with_offsets) {
    v8f acc[4], o;
    split8(z01, &acc[0], &acc[1]);
    split8(z23, &acc[2], &acc[3]);
    memcpy(&o, &O, 32);
    return finish(acc, o, with_offsets);
}

static ATTR_VNNI512 void union_vnni512(int kind, const uint8_t *const *segments, long count, const shape *sh,
                                       const bffn_int8_activations *a, float *out, long os) {
    long n = sh->n, nb = sh->nb, ng = sh->ng;
    __mmask8 mg = (__mmask8)((1u << ng) - 1);
    int asym = kind == BFFN_INTDOT_Q4_ASYMMETRIC;
    long t = 0;
    for (; t + 4 <= a->tokens; t += 4) {
        __m512 z[4][2];
        __m256 O[4];
        for (int i = 0; i < 4; i++) z[i][0] = z[i][1] = _mm512_setzero_ps(), O[i] = _mm256_setzero_ps();
        for (long r = 0; r < count; r++) {
            const uint8_t *row = segments[r];
            __m512 T[4];
            for (int i = 0; i < 4; i++)
                T[i] = chunk_scales(scale_products8(a->scales + (t + i) * a->scale_stride + r * nb, row, 0, nb, ng, sh->per_group));
            pairs4_z(kind, codes_of(kind, row, ng), 0, nb, a->codes + t * a->code_stride + r * n, a->code_stride,
                     a->quad_offsets + t * a->quad_stride + r * (n / 4), a->quad_stride, T, z);
            if (asym) {
                __m256 o = _mm256_maskz_loadu_ps(mg, row + ng * 4);
                for (int i = 0; i < 4; i++)
                    O[i] = _mm256_fmadd_ps(o, _mm256_maskz_loadu_ps(mg, a->group_sums + (t + i) * a->sum_stride + r * ng), O[i]);
            }
        }
        for (int i = 0; i < 4; i++) out[(t + i) * os] = union_finish(z[i][0], z[i][1], O[i], asym);
    }
    for (; t < a->tokens; t++) {
        __m512 z0 = _mm512_setzero_ps(), z1 = _mm512_setzero_ps();
        __m256 O = _mm256_setzero_ps();
        const int8_t *x = a->codes + t * a->code_stride;
        const int32_t *K = a->quad_offsets + t * a->quad_stride;
        for (long r = 0; r < count; r++) {
            const uint8_t *row = segments[r];
            __m512 T = chunk_scales(scale_products8(a->scales + t * a->scale_stride + r * nb, row, 0, nb, ng, sh->per_group));
            pairs1_z(kind, codes_of(kind, row, ng), 0, nb, x + r * n, K + r * (n / 4), T, &z0, &z1);
            if (asym)
                O = _mm256_fmadd_ps(_mm256_maskz_loadu_ps(mg, row + ng * 4),
                                    _mm256_maskz_loadu_ps(mg, a->group_sums + t * a->sum_stride + r * ng), O);
        }
        out[t * os] = union_finish(z0, z1, O, asym);
    }
}
/* AVX-VNNI */
#define LEVEL vnni256
#define ATTR ATTR_VNNI256
#define DOT_Q8(wt, xb) as_v8i(dp_vnni256((wt).u, _mm256_sign_epi8(load_x(xb), (wt).w)))
#define DOT_Q4(wt, xb) as_v8i(dp_vnni256((wt).u, load_x(xb)))
#include "intdot_kernel.h"
#undef LEVEL
#undef ATTR
#undef DOT_Q8
#undef DOT_Q4
#undef WEIGHTS
#undef PREP_Q8
#undef PREP_Q4
#endif

/* ---- dispatch ---- */

static int level_in_use = -1;

static int has_level(int level) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    switch (level) {
    case 1: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case 2: return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    case 3: return __builtin_cpu_supports("avxvnni");
    }
#endif
    return level == 0;
}

static int best_level(void) {
    if (has_level(2)) return 2;
    if (has_level(3)) return 3;
    if (has_level(1)) return 1;
    return 0;
}

int bffn_intdot_level(void) {
    int level = __atomic_load_n(&level_in_use, __ATOMIC_RELAXED);
    if (level < 0) {
        level = best_level();
        __atomic_store_n(&level_in_use, level, __ATOMIC_RELAXED);
    }
    return level;
}

const char *bffn_intdot_level_name(int level) {
    switch (level) {
    case 1: return "avx2";
    case 2: return "avx512-vnni";
    case 3: return "avx-vnni";
    default: return "portable";
    }
}

int bffn_intdot_use_level(int level) {
    int use = level >= 0 && level <= 3 && has_level(level) ? level : best_level();
    __atomic_store_n(&level_in_use, use, __ATOMIC_RELAXED);
    return use;
}

void bffn_intdot_rows(int kind, const uint8_t *base, long row_stride, long rows, long n, long group, const bffn_int8_activations *a,
                      float *out, long out_stride) {
    switch (bffn_intdot_level()) {
#if defined(__x86_64__)
    case 1: rows_avx2(kind, base, row_stride, rows, n, group, a, out, out_stride); return;
    case 2: rows_vnni512(kind, base, row_stride, rows, n, group, a, out, out_stride); return;
    case 3: rows_vnni256(kind, base, row_stride, rows, n, group, a, out, out_stride); return;
#endif
    default: rows_portable(kind, base, row_stride, rows, n, group, a, out, out_stride); return;
    }
}

/* One union's outputs with the level and the segment shape decided once by the caller. */
static void segments_at(int level, const shape *sh, int kind, const uint8_t *const *segments, long count, long group,
                        const bffn_int8_activations *a, float *out, long out_stride) {
    long n = sh->n;
    switch (level) {
#if defined(__x86_64__)
    case 1: segments_avx2(kind, segments, count, n, group, a, out, out_stride); return;
    case 2:
        if (union_fast(sh)) union_vnni512(kind, segments, count, sh, a, out, out_stride);
        else segments_vnni512(kind, segments, count, n, group, a, out, out_stride);
        return;
    case 3: segments_vnni256(kind, segments, count, n, group, a, out, out_stride); return;
#endif
    default: segments_portable(kind, segments, count, n, group, a, out, out_stride); return;
    }
}

void bffn_intdot_segments(int kind, const uint8_t *const *segments, long count, long n, long group, const bffn_int8_activations *a,
                          float *out, long out_stride) {
    shape sh = make_shape(n, group, a->block);
    segments_at(bffn_intdot_level(), &sh, kind, segments, count, group, a, out, out_stride);
}

void bffn_intdot_union(int kind, const uint8_t *const *bases, const long *strides, long count, long j0, long j1, long n, long group,
                       const bffn_int8_activations *a, const uint8_t **scratch, float *out, long out_stride) {
    int level = bffn_intdot_level();
    shape sh = make_shape(n, group, a->block);
    for (long j = j0; j < j1; j++) {
        for (long r = 0; r < count; r++) scratch[r] = bases[r] + j * strides[r];
        segments_at(level, &sh, kind, scratch, count, group, a, out + j, out_stride);
    }
}
