/*
 * bf16 dot products (see bffn_bf16dot.h): vdpbf16ps where the CPU has AVX512_BF16, else a portable emulation of
 * the same operations.
 */
#include "bffn_bf16dot.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

typedef float v8f __attribute__((ext_vector_type(8)));

void bffn_round_bf16(const float *x, long n, uint16_t *out) {
    for (long i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            out[i] = (uint16_t)((u >> 16) | 0x40);     /* NaN stays a (quiet) NaN */
        } else {
            out[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
        }
    }
}

static inline float widen(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    if ((u & 0x7f800000u) == 0) u &= 0x80000000u;      /* denormal input read as zero */
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float flush(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0) u &= 0x80000000u;      /* denormal result written as zero */
    memcpy(&f, &u, 4);
    return f;
}

/* One chunk of 16 elements (zero-padded past len) into the eight lanes of acc, emulated. */
static inline void chunk_portable(float *acc, const uint16_t *w, const uint16_t *x, long len) {
    for (int i = 0; i < 8; i++) {
        float w1 = 2 * i + 1 < len ? widen(w[2 * i + 1]) : 0.0f, x1 = 2 * i + 1 < len ? widen(x[2 * i + 1]) : 0.0f;
        float w0 = 2 * i < len ? widen(w[2 * i]) : 0.0f, x0 = 2 * i < len ? widen(x[2 * i]) : 0.0f;
        float p1 = x1 * w1, p0 = x0 * w0;
        acc[i] = flush(acc[i] + p1);
        acc[i] = flush(acc[i] + p0);
    }
}

static inline float reduce(const float *a0, const float *a1, const float *a2, const float *a3) {
    float a[8];
    for (int i = 0; i < 8; i++) a[i] = (a0[i] + a1[i]) + (a2[i] + a3[i]);
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

static void dot_portable(const uint16_t *const *rows, long count, long n, const uint16_t *x, long x_stride, long tokens, float *out,
                         long out_stride) {
    for (long t = 0; t < tokens; t++) {
        float acc[4][8];
        memset(acc, 0, sizeof acc);
        for (long r = 0; r < count; r++) {
            const uint16_t *w = rows[r], *xs = x + t * x_stride + r * n;
            for (long c = 0; c * 16 < n; c++) {
                long len = n - c * 16 < 16 ? n - c * 16 : 16;
                chunk_portable(acc[c & 3], w + c * 16, xs + c * 16, len);
            }
        }
        out[t * out_stride] = reduce(acc[0], acc[1], acc[2], acc[3]);
    }
}

#if defined(__x86_64__)
#define ATTR_BF16 __attribute__((target("avx2,avx512f,avx512vl,avx512bf16")))

static inline ATTR_BF16 __m256bh load16(const uint16_t *p, long len) {
    __m256i v;
    if (len == 16) {
        v = _mm256_loadu_si256((const __m256i *)p);
    } else {
        uint16_t tmp[16] = {0};
        memcpy(tmp, p, (size_t)len * 2);
        v = _mm256_loadu_si256((const __m256i *)tmp);
    }
    return (__m256bh)v;
}

static inline ATTR_BF16 float reduce_v(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    float x0[8], x1[8], x2[8], x3[8];
    _mm256_storeu_ps(x0, a0);
    _mm256_storeu_ps(x1, a1);
    _mm256_storeu_ps(x2, a2);
    _mm256_storeu_ps(x3, a3);
    return reduce(x0, x1, x2, x3);
}

/* One token: four accumulators in registers. */
static ATTR_BF16 float dot_hw1(const uint16_t *const *rows, long count, long n, const uint16_t *x) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    long full = n / 16;
    for (long r = 0; r < count; r++) {
        const uint16_t *w = rows[r], *xs = x + r * n;
        long c = 0;
        for (; c + 4 <= full; c += 4) {
            a0 = _mm256_dpbf16_ps(a0, load16(xs + c * 16, 16), load16(w + c * 16, 16));
            a1 = _mm256_dpbf16_ps(a1, load16(xs + c * 16 + 16, 16), load16(w + c * 16 + 16, 16));
            a2 = _mm256_dpbf16_ps(a2, load16(xs + c * 16 + 32, 16), load16(w + c * 16 + 32, 16));
            a3 = _mm256_dpbf16_ps(a3, load16(xs + c * 16 + 48, 16), load16(w + c * 16 + 48, 16));
        }
        for (; c * 16 < n; c++) {
            long len = n - c * 16 < 16 ? n - c * 16 : 16;
            switch (c & 3) {
            case 0: a0 = _mm256_dpbf16_ps(a0, load16(xs + c * 16, len), load16(w + c * 16, len)); break;
            case 1: a1 = _mm256_dpbf16_ps(a1, load16(xs + c * 16, len), load16(w + c * 16, len)); break;
            case 2: a2 = _mm256_dpbf16_ps(a2, load16(xs + c * 16, len), load16(w + c * 16, len)); break;
            default: a3 = _mm256_dpbf16_ps(a3, load16(xs + c * 16, len), load16(w + c * 16, len));
            }
        }
    }
    return reduce_v(a0, a1, a2, a3);
}

#define DP4(T, K, OFF)                                                                                                     \
    T##K = _mm256_dpbf16_ps(T##K, load16(x##T + c * 16 + OFF, 16), w##K)

/* Four tokens: each full chunk's weights loaded once; sixteen accumulators in registers (AVX-512 has 32). */
static ATTR_BF16 void dot_hw4(const uint16_t *const *rows, long count, long n, const uint16_t *x, long x_stride, float *out,
                              long out_stride) {
    __m256 p0 = _mm256_setzero_ps(), p1 = p0, p2 = p0, p3 = p0, q0 = p0, q1 = p0, q2 = p0, q3 = p0;
    __m256 r0 = p0, r1 = p0, r2 = p0, r3 = p0, s0 = p0, s1 = p0, s2 = p0, s3 = p0;
    long full = n / 16;
    for (long r = 0; r < count; r++) {
        const uint16_t *w = rows[r];
        const uint16_t *xp = x + r * n, *xq = x + x_stride + r * n, *xr = x + 2 * x_stride + r * n, *xs = x + 3 * x_stride + r * n;
        long c = 0;
        for (; c + 4 <= full; c += 4) {
            __m256bh w0 = load16(w + c * 16, 16), w1 = load16(w + c * 16 + 16, 16);
            __m256bh w2 = load16(w + c * 16 + 32, 16), w3 = load16(w + c * 16 + 48, 16);
            DP4(p, 0, 0); DP4(p, 1, 16); DP4(p, 2, 32); DP4(p, 3, 48);
            DP4(q, 0, 0); DP4(q, 1, 16); DP4(q, 2, 32); DP4(q, 3, 48);
            DP4(r, 0, 0); DP4(r, 1, 16); DP4(r, 2, 32); DP4(r, 3, 48);
            DP4(s, 0, 0); DP4(s, 1, 16); DP4(s, 2, 32); DP4(s, 3, 48);
        }
        for (; c * 16 < n; c++) {
            long len = n - c * 16 < 16 ? n - c * 16 : 16;
            __m256bh wv = load16(w + c * 16, len);
            __m256bh vp = load16(xp + c * 16, len), vq = load16(xq + c * 16, len), vr = load16(xr + c * 16, len), vs = load16(xs + c * 16, len);
            switch (c & 3) {
            case 0: p0 = _mm256_dpbf16_ps(p0, vp, wv); q0 = _mm256_dpbf16_ps(q0, vq, wv); r0 = _mm256_dpbf16_ps(r0, vr, wv); s0 = _mm256_dpbf16_ps(s0, vs, wv); break;
            case 1: p1 = _mm256_dpbf16_ps(p1, vp, wv); q1 = _mm256_dpbf16_ps(q1, vq, wv); r1 = _mm256_dpbf16_ps(r1, vr, wv); s1 = _mm256_dpbf16_ps(s1, vs, wv); break;
            case 2: p2 = _mm256_dpbf16_ps(p2, vp, wv); q2 = _mm256_dpbf16_ps(q2, vq, wv); r2 = _mm256_dpbf16_ps(r2, vr, wv); s2 = _mm256_dpbf16_ps(s2, vs, wv); break;
            default: p3 = _mm256_dpbf16_ps(p3, vp, wv); q3 = _mm256_dpbf16_ps(q3, vq, wv); r3 = _mm256_dpbf16_ps(r3, vr, wv); s3 = _mm256_dpbf16_ps(s3, vs, wv);
            }
        }
    }
    out[0] = reduce_v(p0, p1, p2, p3);
    out[out_stride] = reduce_v(q0, q1, q2, q3);
    out[2 * out_stride] = reduce_v(r0, r1, r2, r3);
    out[3 * out_stride] = reduce_v(s0, s1, s2, s3);
}

static ATTR_BF16 void dot_hw(const uint16_t *const *rows, long count, long n, const uint16_t *x, long x_stride, long tokens, float *out,
                             long out_stride) {
    if (tokens == 4) {
        dot_hw4(rows, count, n, x, x_stride, out, out_stride);
        return;
    }
    for (long t = 0; t < tokens; t++) out[t * out_stride] = dot_hw1(rows, count, n, x + t * x_stride);
}
#endif

static int hardware = -1;

static int has_hardware(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

int bffn_bf16dot_hardware(void) {
    int h = __atomic_load_n(&hardware, __ATOMIC_RELAXED);
    if (h < 0) {
        h = has_hardware();
        __atomic_store_n(&hardware, h, __ATOMIC_RELAXED);
    }
    return h;
}

int bffn_bf16dot_use_hardware(int on) {
    int h = on && has_hardware();
    __atomic_store_n(&hardware, h, __ATOMIC_RELAXED);
    return h;
}

void bffn_dot_bf16(const uint16_t *const *rows, long count, long n, const uint16_t *x, long x_stride, long tokens, float *out,
                   long out_stride) {
#if defined(__x86_64__)
    if (bffn_bf16dot_hardware()) {
        dot_hw(rows, count, n, x, x_stride, tokens, out, out_stride);
        return;
    }
#endif
    dot_portable(rows, count, n, x, x_stride, tokens, out, out_stride);
}
