/* The arithmetic peak of one core for the instructions the products use: a loop of independent multiply-adds
 * in registers (twelve accumulators, more than any of these instructions' latency x throughput), nothing read
 * from memory. `bffn bench` reports prefill against it. Each function runs `iterations` rounds and returns the
 * operations done (a multiply-add counts two); the caller times it. */
#include "include/bffn_intdot.h"
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

/* Read through a volatile, so the compiler cannot fold the loops into constants. */
static volatile int32_t seed_word = 0x01020304;
static volatile float seed_float = 1.0e-3f;
static volatile int64_t sink;

#define TWELVE(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

/* Claims to change a register operand, so the compiler cannot hoist work on it out of the loop, nor (before each
 * step of the AVX2 and NEON int8 loops, which multiply w by x before accumulating) share one product among the
 * twelve accumulators. */
#if defined(__x86_64__)
#define OPAQUE(v) __asm__ volatile("" : "+v"(v))
#elif defined(__aarch64__)
#define OPAQUE(v) __asm__ volatile("" : "+w"(v))
#else
#define OPAQUE(v) ((void)0)
#endif

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) static double int8_vnni512(long iterations) {
    __m512i w = _mm512_set1_epi32(seed_word), x = _mm512_set1_epi32(seed_word + 1);
#define DECL(i) __m512i a##i = _mm512_setzero_si512();
    TWELVE(DECL)
#undef DECL
    for (long r = 0; r < iterations; r++) {
        OPAQUE(w);
#define STEP(i) a##i = _mm512_dpbusd_epi32(a##i, w, x);
        TWELVE(STEP)
#undef STEP
    }
#define SUM(i) +_mm512_reduce_add_epi32(a##i)
    sink = 0 TWELVE(SUM);
#undef SUM
    return (double)iterations * 12 * 64 * 2;
}

__attribute__((target("avx2,fma,avxvnni"))) static double int8_vnni256(long iterations) {
    __m256i w = _mm256_set1_epi32(seed_word), x = _mm256_set1_epi32(seed_word + 1);
#define DECL(i) __m256i a##i = _mm256_setzero_si256();
    TWELVE(DECL)
#undef DECL
    for (long r = 0; r < iterations; r++) {
        OPAQUE(w);
#define STEP(i) a##i = _mm256_dpbusd_avx_epi32(a##i, w, x);
        TWELVE(STEP)
#undef STEP
    }
    int32_t lanes[8];
    __m256i s = _mm256_setzero_si256();
#define SUM(i) s = _mm256_add_epi32(s, a##i);
    TWELVE(SUM)
#undef SUM
    memcpy(lanes, &s, sizeof lanes);
    sink = lanes[0];
    return (double)iterations * 12 * 32 * 2;
}

/* AVX2 without VNNI: what its tile product does for four bytes a lane, vpmaddubsw then vpmaddwd by ones, added. */
__attribute__((target("avx2,fma"))) static double int8_avx2(long iterations) {
    __m256i w = _mm256_set1_epi32(seed_word), x = _mm256_set1_epi32(seed_word + 1), ones = _mm256_set1_epi16(1);
#define DECL(i) __m256i a##i = _mm256_setzero_si256();
    TWELVE(DECL)
#undef DECL
    for (long r = 0; r < iterations; r++) {
        OPAQUE(w);
#define STEP(i) OPAQUE(w); a##i = _mm256_add_epi32(a##i, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), ones));
        TWELVE(STEP)
#undef STEP
    }
    int32_t lanes[8];
    __m256i s = _mm256_setzero_si256();
#define SUM(i) s = _mm256_add_epi32(s, a##i);
    TWELVE(SUM)
#undef SUM
    memcpy(lanes, &s, sizeof lanes);
    sink = lanes[0];
    return (double)iterations * 12 * 32 * 2;
}

__attribute__((target("avx512f"))) static double fma512(long iterations) {
    __m512 w = _mm512_set1_ps(seed_float), x = _mm512_set1_ps(1.0f - seed_float);
#define DECL(i) __m512 a##i = _mm512_setzero_ps();
    TWELVE(DECL)
#undef DECL
    for (long r = 0; r < iterations; r++) {
        OPAQUE(w);
#define STEP(i) a##i = _mm512_fmadd_ps(w, x, a##i);
        TWELVE(STEP)
#undef STEP
    }
#define SUM(i) +_mm512_reduce_add_ps(a##i)
    sink = (int64_t)(0 TWELVE(SUM));
#undef SUM
    return (double)iterations * 12 * 16 * 2;
}

__attribute__((target("avx2,fma"))) static double fma256(long iterations) {
    __m256 w = _mm256_set1_ps(seed_float), x = _mm256_set1_ps(1.0f - seed_float);
#define DECL(i) __m256 a##i = _mm256_setzero_ps();
    TWELVE(DECL)
#undef DECL
    for (long r = 0; r < iterations; r++) {
        OPAQUE(w);
#define STEP(i) a##i = _mm256_fmadd_ps(w, x, a##i);
        TWELVE(STEP)
#undef STEP
    }
    float lanes[8];
    __m256 s = _mm256_setzero_ps();
#define SUM(i) s = _mm256_add_ps(s, a##i);
    TWELVE(SUM)
#undef SUM
    _mm256_storeu_ps(lanes, s);
    sink = (int64_t)lanes[0];
    return (double)iterations * 12 * 8 * 2;
}

__attribute__((target("avx512f,avx512bf16,avx512vl,avx512bw"))) static double bf16_512(long iterations) {
    __m512bh w = (__m512bh)_mm512_set1_epi32(seed_word), x = (__m512bh)_mm512_set1_epi32(seed_word + 1);
#define DECL(i) __m512 a##i = _mm512_setzero_ps();
    TWELVE(DECL)
#undef DECL
    for (long r = 0; r < iterations; r++) {
        OPAQUE(w);
#define STEP(i) a##i = _mm512_dpbf16_ps(a##i, w, x);
        TWELVE(STEP)
#undef STEP
    }
#define SUM(i) +_mm512_reduce_add_ps(a##i)
    sink = (int64_t)(0 TWELVE(SUM));
#undef SUM
    return (double)iterations * 12 * 32 * 2;
}
#endif

#if defined(__aarch64__)
static double fma_neon(long iterations) {
    float32x4_t w = vdupq_n_f32(seed_float), x = vdupq_n_f32(1.0f - seed_float);
#define DECL(i) float32x4_t a##i = vdupq_n_f32(0);
    TWELVE(DECL)
#undef DECL
    for (long r = 0; r < iterations; r++) {
        OPAQUE(w);
#define STEP(i) a##i = vfmaq_f32(a##i, w, x);
        TWELVE(STEP)
#undef STEP
    }
#define SUM(i) +vaddvq_f32(a##i)
    sink = (int64_t)(0 TWELVE(SUM));
#undef SUM
    return (double)iterations * 12 * 4 * 2;
}

/* Plain NEON int8: what its tile product does (widening multiplies into 16-bit lanes, pairwise added into 32). */
static double int8_neon(long iterations) {
    int8x16_t w = vreinterpretq_s8_s32(vdupq_n_s32(seed_word)), x = vreinterpretq_s8_s32(vdupq_n_s32(seed_word + 1));
#define DECL(i) int32x4_t a##i = vdupq_n_s32(0);
    TWELVE(DECL)
#undef DECL
    for (long r = 0; r < iterations; r++) {
        OPAQUE(w);
#define STEP(i) OPAQUE(w); a##i = vpadalq_s16(a##i, vmlal_high_s8(vmull_s8(vget_low_s8(w), vget_low_s8(x)), w, x));
        TWELVE(STEP)
#undef STEP
    }
#define SUM(i) +vaddvq_s32(a##i)
    sink = 0 TWELVE(SUM);
#undef SUM
    return (double)iterations * 12 * 16 * 2;
}

__attribute__((target("dotprod"))) static double int8_sdot(long iterations) {
    int8x16_t w = vreinterpretq_s8_s32(vdupq_n_s32(seed_word)), x = vreinterpretq_s8_s32(vdupq_n_s32(seed_word + 1));
#define DECL(i) int32x4_t a##i = vdupq_n_s32(0);
    TWELVE(DECL)
#undef DECL
    for (long r = 0; r < iterations; r++) {
        OPAQUE(w);
#define STEP(i) a##i = vdotq_s32(a##i, w, x);
        TWELVE(STEP)
#undef STEP
    }
#define SUM(i) +vaddvq_s32(a##i)
    sink = 0 TWELVE(SUM);
#undef SUM
    return (double)iterations * 12 * 16 * 2;
}
#endif

static double int8_scalar(long iterations) {
    int32_t a[12] = {0};
    int8_t x = (int8_t)(seed_word + 1);
    for (long r = 0; r < iterations; r++) {
        int8_t w = (int8_t)seed_word; /* a volatile read each round: the products cannot be hoisted */
        for (int i = 0; i < 12; i++) a[i] += w * x;
    }
    int64_t s = 0;
    for (int i = 0; i < 12; i++) s += a[i];
    sink = s;
    return (double)iterations * 12 * 2;
}

static double fma_scalar(long iterations) {
    float a[12] = {0}, x = 1.0f - seed_float;
    for (long r = 0; r < iterations; r++) {
        float w = seed_float;
        for (int i = 0; i < 12; i++) a[i] = __builtin_fmaf(w, x, a[i]);
    }
    float s = 0;
    for (int i = 0; i < 12; i++) s += a[i];
    sink = (int64_t)s;
    return (double)iterations * 12 * 2;
}

double bffn_peak_operations(int kind, long iterations) {
    switch (kind) {
    case BFFN_PEAK_INT8:
        switch (bffn_intdot_level()) {
#if defined(__x86_64__)
        case 1: return int8_avx2(iterations);
        case 2: return int8_vnni512(iterations);
        case 3: return int8_vnni256(iterations);
#endif
#if defined(__aarch64__)
        case 4: return int8_neon(iterations);
        case 5:
        case 6: return int8_sdot(iterations);
#endif
        default: return int8_scalar(iterations);
        }
    case BFFN_PEAK_BF16:
#if defined(__x86_64__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
            return bf16_512(iterations);
#endif
        return 0;
    default:
#if defined(__x86_64__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) return fma512(iterations);
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return fma256(iterations);
#endif
#if defined(__aarch64__)
        return fma_neon(iterations);
#endif
        return fma_scalar(iterations);
    }
}
