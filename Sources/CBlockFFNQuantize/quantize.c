/*
 * Row encoders (see bffn_quantize.h). Written with clang vector extensions: eight float lanes, each lane
 * computed with the same IEEE operations the scalar definition uses (division, not a reciprocal; fma for the
 * asymmetric q4 decode; round half away from zero), so the bytes do not depend on the instruction set. The
 * error sums are accumulated in eight float lanes per row and added to double in lane order, so they do not
 * depend on it either.
 */
#include "bffn_quantize.h"
#include <stdlib.h>
#include <string.h>
/* The eight-lane vectors are passed between static functions of this file only, so the ABI clang warns about
 * (vectors wider than the build's registers, e.g. x86-64 without AVX) never crosses a module boundary. */
#pragma clang diagnostic ignored "-Wpsabi"
#if defined(__AVX2__)
#include <immintrin.h>
#endif

typedef float v8f __attribute__((ext_vector_type(8)));
typedef int32_t v8i __attribute__((ext_vector_type(8)));
typedef uint32_t v8u __attribute__((ext_vector_type(8)));
typedef int32_t v4i __attribute__((ext_vector_type(4)));
typedef int8_t v8c __attribute__((ext_vector_type(8)));
typedef uint8_t v4b __attribute__((ext_vector_type(4)));
typedef uint16_t v8h __attribute__((ext_vector_type(8)));
typedef _Float16 v8f16 __attribute__((ext_vector_type(8)));

/* A source row: its first element and how its elements are stored. */
typedef struct { const uint8_t *base; int type; } source_row;

/* Eight source values from element i, widened to float exactly. */
static inline v8f load8(source_row x, long i) {
    v8f v;
    if (x.type == BFFN_SOURCE_BF16) {
        v8h h;
        memcpy(&h, x.base + 2 * i, sizeof h);
        v8u u = __builtin_convertvector(h, v8u) << 16;
        memcpy(&v, &u, sizeof v);
    } else if (x.type == BFFN_SOURCE_F16) {
        v8f16 h;
        memcpy(&h, x.base + 2 * i, sizeof h);
        v = __builtin_convertvector(h, v8f);
    } else {
        memcpy(&v, x.base + 4 * i, sizeof v);
    }
    return v;
}

/* One source value. */
static inline float load1(source_row x, long i) {
    if (x.type == BFFN_SOURCE_BF16) {
        uint16_t h;
        memcpy(&h, x.base + 2 * i, 2);
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    if (x.type == BFFN_SOURCE_F16) {
        _Float16 h;
        memcpy(&h, x.base + 2 * i, 2);
        return (float)h;
    }
    float f;
    memcpy(&f, x.base + 4 * i, 4);
    return f;
}
/* The row from element i on. */
static inline source_row at(source_row x, long i) {
    source_row r = { x.base + i * (x.type == BFFN_SOURCE_F32 ? 4 : 2), x.type };
    return r;
}

static inline v8f splat(float x) { return (v8f)x; }

/* Lane-order reductions (max/min are exact in any order; the sums are not, hence the fixed order). */
static inline float lanes_max(v8f v) { float m = v[0]; for (int i = 1; i < 8; i++) m = v[i] > m ? v[i] : m; return m; }
static inline float lanes_min(v8f v) { float m = v[0]; for (int i = 1; i < 8; i++) m = v[i] < m ? v[i] : m; return m; }
static inline double lanes_sum(v8f v) { double s = 0; for (int i = 0; i < 8; i++) s += (double)v[i]; return s; }

/* Running error sums for one block of values. */
typedef struct { v8f signal, noise, worst; } block_error;

static inline block_error block_start(void) { block_error b = { splat(0), splat(0), splat(0) }; return b; }
static inline void block_add(block_error *b, v8f x, v8f stored) {
    v8f e = stored - x;
    b->signal = __builtin_elementwise_fma(x, x, b->signal);
    b->noise = __builtin_elementwise_fma(e, e, b->noise);
    b->worst = __builtin_elementwise_max(__builtin_elementwise_abs(e), b->worst);
}
static inline void block_finish(const block_error *b, bffn_error_sums *err) {
    err->signal += lanes_sum(b->signal);
    err->noise += lanes_sum(b->noise);
    float w = lanes_max(b->worst);
    if (w > err->max_abs) err->max_abs = w;
}
static inline void scalar_add(bffn_error_sums *err, float x, float stored) {
    float e = stored - x;
    err->signal += (double)x * x;
    err->noise += (double)e * e;
    float a = e < 0 ? -e : e;
    if (a > err->max_abs) err->max_abs = a;
}

static inline void store_float(float *decoded, long i, v8f v) { if (decoded) memcpy(decoded + i, &v, sizeof v); }

/* The q8 scale of round to nearest: max|x| / 127 (1 for an all-zero group). */
static float q8_nearest_scale(source_row x, long g) {
    v8f m = splat(0);
    for (long i = 0; i < g; i += 8) m = __builtin_elementwise_max(__builtin_elementwise_abs(load8(x, i)), m);
    float mx = lanes_max(m);
    return mx > 0 ? mx / 127.0f : 1.0f;
}

/* One group of q8 with the given scale: the scale, then the codes q = round(x / scale) in -127...127. */
static void q8_group(source_row x, long g, float scale, uint8_t *scale_out, int8_t *codes, float *decoded, block_error *b) {
    memcpy(scale_out, &scale, 4);
    for (long i = 0; i < g; i += 8) {
        v8f v = load8(x, i);
        v8f q = __builtin_elementwise_round(v / splat(scale));
        q = __builtin_elementwise_max(__builtin_elementwise_min(q, splat(127)), splat(-127));
        v8c c = __builtin_convertvector(__builtin_convertvector(q, v8i), v8c);
        memcpy(codes + i, &c, 8);
        v8f d = (q + splat(0)) * splat(scale);   /* + 0 turns a -0 code into +0, as the loaders read it */
        store_float(decoded, i, d);
        block_add(b, v, d);
    }
}

/* Eight codes 0...15 as four bytes, the even element in the low nibble. */
static inline void put_nibbles(uint8_t *out, v8i c) {
    v4i even = __builtin_shufflevector(c, c, 0, 2, 4, 6);
    v4i odd = __builtin_shufflevector(c, c, 1, 3, 5, 7);
    v4b b = __builtin_convertvector(even | (odd << 4), v4b);
    memcpy(out, &b, 4);
}

/* Thirty-two codes 0...15 as sixteen bytes (what put_nibbles does four times). */
static inline void put_nibbles32(uint8_t *out, const v8i c[4]) {
#if defined(__AVX2__)
    __m256i a = _mm256_packus_epi32((__m256i)c[0], (__m256i)c[1]);     /* 16-bit, lane-interleaved */
    __m256i b = _mm256_packus_epi32((__m256i)c[2], (__m256i)c[3]);
    __m256i bytes = _mm256_packus_epi16(a, b);                          /* per lane: c0 c1 c2 c3, 4 each */
    bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));   /* element order */
    __m256i pairs = _mm256_and_si256(_mm256_or_si256(bytes, _mm256_srli_epi16(bytes, 4)), _mm256_set1_epi16(0xFF));
    __m128i packed = _mm_packus_epi16(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
    _mm_storeu_si128((__m128i *)out, packed);
#else
    for (int k = 0; k < 4; k++) put_nibbles(out + 4 * k, c[k]);
#endif
}

/* Eight asymmetric q4 codes from element i, with their decoded values and error. */
static inline v8i q4_asymmetric8(source_row x, long i, float l, float scale, float *decoded, block_error *b) {
    v8f v = load8(x, i);
    v8f q = __builtin_elementwise_round((v - splat(l)) / splat(scale));
    q = __builtin_elementwise_max(__builtin_elementwise_min(q, splat(15)), splat(0));
    v8f d = __builtin_elementwise_fma(q, splat(scale), splat(l));
    store_float(decoded, i, d);
    block_add(b, v, d);
    return __builtin_convertvector(q, v8i);
}

/* Eight symmetric q4 codes (stored + 8) from element i, with their decoded values and error. */
static inline v8i q4_symmetric8(source_row x, long i, float scale, float *decoded, block_error *b) {
    v8f v = load8(x, i);
    v8f q = __builtin_elementwise_round(v / splat(scale));
    q = __builtin_elementwise_max(__builtin_elementwise_min(q, splat(7)), splat(-8));
    v8f d = (q + splat(0)) * splat(scale);   /* + 0 turns a -0 code into +0, as the loaders read it */
    store_float(decoded, i, d);
    block_add(b, v, d);
    return __builtin_convertvector(q, v8i) + 8;
}

/* The asymmetric q4 scale and offset of round to nearest: (max - min) / 15 (1 when max == min) and min. */
static void q4_nearest_asymmetric(source_row x, long g, float *scale, float *offset) {
    v8f lo = load8(x, 0), hi = lo;
    for (long i = 8; i < g; i += 8) {
        v8f v = load8(x, i);
        lo = __builtin_elementwise_min(v, lo);
        hi = __builtin_elementwise_max(v, hi);
    }
    float l = lanes_min(lo), h = lanes_max(hi);
    *scale = h > l ? (h - l) / 15.0f : 1.0f;
    *offset = l;
}

/* One group of asymmetric q4 with the given scale and offset l: q = round((x - l) / scale) in 0...15. */
static void q4_group_asymmetric(source_row x, long g, float scale, float l, uint8_t *scale_out, uint8_t *offset_out,
                                uint8_t *codes, float *decoded, block_error *b) {
    memcpy(scale_out, &scale, 4);
    memcpy(offset_out, &l, 4);
    long i = 0;
    for (; i + 32 <= g; i += 32) {
        v8i c[4];
        for (int k = 0; k < 4; k++) c[k] = q4_asymmetric8(x, i + 8 * k, l, scale, decoded, b);
        put_nibbles32(codes + i / 2, c);
    }
    for (; i < g; i += 8) put_nibbles(codes + i / 2, q4_asymmetric8(x, i, l, scale, decoded, b));
}

/* The symmetric q4 scale of round to nearest: max|x| / 7 (1 for an all-zero group). */
static float q4_nearest_symmetric(source_row x, long g) {
    v8f m = splat(0);
    for (long i = 0; i < g; i += 8) m = __builtin_elementwise_max(__builtin_elementwise_abs(load8(x, i)), m);
    float mx = lanes_max(m);
    return mx > 0 ? mx / 7.0f : 1.0f;
}

/* One group of symmetric q4 with the given scale: q = round(x / scale) in -8...7, stored + 8. */
static void q4_group_symmetric(source_row x, long g, float scale, uint8_t *scale_out, uint8_t *codes, float *decoded,
                               block_error *b) {
    memcpy(scale_out, &scale, 4);
    long i = 0;
    for (; i + 32 <= g; i += 32) {
        v8i c[4];
        for (int k = 0; k < 4; k++) c[k] = q4_symmetric8(x, i + 8 * k, scale, decoded, b);
        put_nibbles32(codes + i / 2, c);
    }
    for (; i < g; i += 8) put_nibbles(codes + i / 2, q4_symmetric8(x, i, scale, decoded, b));
}

/* float -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
static inline uint16_t bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if (x != x) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
static inline float bf16_value(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }

/* The float casts: eight values at a time, blocks of 64 for the error sums, a scalar tail. */
static void cast_row(source_row x, long n, int type, uint8_t *out, float *decoded, bffn_error_sums *err) {
    long i = 0;
    block_error b = block_start();
    {
        long end = n - n % 8;
        for (; i < end; i += 8) {
            v8f v = load8(x, i), d;
            if (type == BFFN_ENCODE_F16) {
                v8f16 h = __builtin_convertvector(v, v8f16);
                memcpy(out + 2 * i, &h, 16);
                d = __builtin_convertvector(h, v8f);
            } else if (type == BFFN_ENCODE_BF16) {
                v8u u;
                memcpy(&u, &v, 32);
                v8u rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
                v8u quiet = (u >> 16) | 0x40u;
                v8u nan = (v8u)(v != v);
                v8u bits = (quiet & nan) | (rounded & ~nan);
                v8h h = __builtin_convertvector(bits, v8h);
                memcpy(out + 2 * i, &h, 16);
                v8u back = bits << 16;
                memcpy(&d, &back, 32);
            } else {
                memcpy(out + 4 * i, &v, 32);
                d = v;
            }
            store_float(decoded, i, d);
            block_add(&b, v, d);
        }
        block_finish(&b, err);
    }
    for (; i < n; i++) {
        float d;
        if (type == BFFN_ENCODE_F16) {
            _Float16 h = (_Float16)load1(x, i);
            memcpy(out + 2 * i, &h, 2);
            d = (float)h;
        } else if (type == BFFN_ENCODE_BF16) {
            uint16_t h = bf16_bits(load1(x, i));
            memcpy(out + 2 * i, &h, 2);
            d = bf16_value(h);
        } else {
            d = load1(x, i);
            memcpy(out + 4 * i, &d, 4);
        }
        if (decoded) decoded[i] = d;
        scalar_add(err, load1(x, i), d);
    }
}

int bffn_encode_row(const void *values, int source_type, long n, int type, long group, int asymmetric,
                    uint8_t *out, float *decoded, bffn_error_sums *err) {
    return bffn_encode_row_weighted(values, source_type, n, type, group, asymmetric, BFFN_SEARCH_NONE, 0, out, decoded, err);
}

int bffn_encode_row_weighted(const void *values, int source_type, long n, int type, long group, int asymmetric,
                             int search, const float *importance, uint8_t *out, float *decoded, bffn_error_sums *err) {
    if (source_type != BFFN_SOURCE_F32 && source_type != BFFN_SOURCE_F16 && source_type != BFFN_SOURCE_BF16) return -1;
    if (search != BFFN_SEARCH_NONE && search != BFFN_SEARCH_SQUARES && search != BFFN_SEARCH_COLUMNS) return -1;
    if (search == BFFN_SEARCH_COLUMNS && !importance) return -1;
    source_row x = { (const uint8_t *)values, source_type };
    if (type == BFFN_ENCODE_F32 || type == BFFN_ENCODE_F16 || type == BFFN_ENCODE_BF16) {
        cast_row(x, n, type, out, decoded, err);
        return 0;
    }
    if (type == BFFN_ENCODE_Q4K || type == BFFN_ENCODE_Q5K || type == BFFN_ENCODE_Q6K || type == BFFN_ENCODE_Q3K) {
        if (n <= 0 || n % (type == BFFN_ENCODE_Q3K ? 16 : 32) != 0) return -1;
        float *xs = malloc(sizeof(float) * (size_t)n);
        if (!xs) return -1;
        for (long i = 0; i < n; i++) xs[i] = load1(x, i);
        int status = type == BFFN_ENCODE_Q4K   ? bffn_encode_q4k_row(xs, n, search, importance, out, decoded, err)
                     : type == BFFN_ENCODE_Q5K ? bffn_encode_q5k_row(xs, n, search, importance, out, decoded, err)
                     : type == BFFN_ENCODE_Q6K ? bffn_encode_q6k_row(xs, n, search, importance, out, decoded, err)
                                               : bffn_encode_q3k_row(xs, n, search, importance, out, decoded, err);
        free(xs);
        return status;
    }
    if (group <= 0 || group % 8 != 0 || n % group != 0) return -1;
    long groups = n / group;
    /* The search works on one group's values widened to float and its weights (columns, or x^2). */
    int searching = search != BFFN_SEARCH_NONE;
    float stack[2 * 256], *xs = stack, *ws = stack + 256;
    if (searching && group > 256) {
        xs = malloc(2 * sizeof(float) * (size_t)group);
        if (!xs) return -1;
        ws = xs + group;
    }
#define GROUP_INPUTS(k) \
    if (searching) \
        for (long i = 0; i < group; i++) { \
            xs[i] = load1(x, (k) * group + i); \
            ws[i] = search == BFFN_SEARCH_COLUMNS ? importance[(k) * group + i] : xs[i] * xs[i]; \
        }
    if (type == BFFN_ENCODE_Q8) {
        int8_t *codes = (int8_t *)(out + 4 * groups);
        block_error b = block_start();
        for (long k = 0; k < groups; k++) {
            source_row gx = at(x, k * group);
            float scale = q8_nearest_scale(gx, group);
            GROUP_INPUTS(k)
            if (searching) scale = bffn_search_symmetric(xs, ws, group, 127, -127, scale);
            q8_group(gx, group, scale, out + 4 * k, codes + k * group, decoded ? decoded + k * group : 0, &b);
        }
        block_finish(&b, err);
        if (xs != stack) free(xs);
        return 0;
    }
    if (type == BFFN_ENCODE_Q4) {
        uint8_t *codes = out + 4 * groups * (asymmetric ? 2 : 1);
        block_error b = block_start();
        for (long k = 0; k < groups; k++) {
            float *d = decoded ? decoded + k * group : 0;
            source_row gx = at(x, k * group);
            GROUP_INPUTS(k)
            if (asymmetric) {
                float scale, offset;
                q4_nearest_asymmetric(gx, group, &scale, &offset);
                if (searching) bffn_search_asymmetric(xs, ws, group, &scale, &offset);
                q4_group_asymmetric(gx, group, scale, offset, out + 4 * k, out + 4 * (groups + k), codes + k * group / 2, d, &b);
            } else {
                float scale = q4_nearest_symmetric(gx, group);
                if (searching) scale = bffn_search_symmetric(xs, ws, group, 7, -8, scale);
                q4_group_symmetric(gx, group, scale, out + 4 * k, codes + k * group / 2, d, &b);
            }
        }
        block_finish(&b, err);
        if (xs != stack) free(xs);
        return 0;
    }
#undef GROUP_INPUTS
    if (xs != stack) free(xs);
    return -1;
}
