/* The arithmetic peak of one core for the instructions the products use: a loop of independent multiply-adds
 * in registers (twelve accumulators, more than any of these instructions' latency x throughput), nothing read
 * from memory. `bffn bench` reports prefill against it. Each function runs `iterations` rounds and returns the
 * operations done (a multiply-add counts two); the caller times it. */
#include "include/bffn_intdot.h"
#include <stdint.h>

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

/* Claims to change a register operand, so the compiler can neither hoist work on it out of the loop nor (before
 * each step: the AVX2 and NEON int8 steps multiply w by x before they accumulate) share one product among the
 * accumulators. */
#if defined(__x86_64__)
#define OPAQUE(v) __asm__ volatile("" : "+v"(v))
#elif defined(__aarch64__)
#define OPAQUE(v) __asm__ volatile("" : "+w"(v))
#endif

/* Defines `static double NAME(long iterations)`: SETUP declares w and x; twelve accumulators of type ACC start at
 * ZERO and take `a = STEP(a)` each round; SINK(s) stores their sum (ADD), so nothing is dead; it returns the
 * operations done, OPS a step. */
#define PEAK_LOOP(ATTRIBUTES, NAME, ACC, ZERO, SETUP, STEP, ADD, SINK, OPS)                                   \
    ATTRIBUTES static double NAME(long iterations) {                                                           \
        SETUP;                                                                                                 \
        ACC a[12];                                                                                             \
        for (int i = 0; i < 12; i++) a[i] = ZERO;                                                              \
        for (long r = 0; r < iterations; r++)                                                                  \
            for (int i = 0; i < 12; i++) {                                                                     \
                OPAQUE(w);                                                                                     \
                a[i] = STEP(a[i]);                                                                             \
            }                                                                                                  \
        ACC s = a[0];                                                                                          \
        for (int i = 1; i < 12; i++) s = ADD(s, a[i]);                                                         \
        SINK(s);                                                                                               \
        return (double)iterations * 12 * (OPS);                                                                \
    }

#if defined(__x86_64__)
#define X86_INT_SETUP(V, SET1) V w = SET1(seed_word), x = SET1(seed_word + 1)
#define X86_FLOAT_SETUP(V, SET1) V w = SET1(seed_float), x = SET1(1.0f - seed_float)
#define SINK_512I(s) (sink = _mm512_reduce_add_epi32(s))
#define SINK_512(s) (sink = (int64_t)_mm512_reduce_add_ps(s))
#define SINK_256I(s) (sink = _mm256_extract_epi32(s, 0))
#define SINK_256(s) (sink = (int64_t)_mm256_cvtss_f32(s))

#define VNNI512_STEP(a) _mm512_dpbusd_epi32(a, w, x)
PEAK_LOOP(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))), int8_vnni512, __m512i, _mm512_setzero_si512(),
          X86_INT_SETUP(__m512i, _mm512_set1_epi32), VNNI512_STEP, _mm512_add_epi32, SINK_512I, 64 * 2)
#define VNNI256_STEP(a) _mm256_dpbusd_avx_epi32(a, w, x)
PEAK_LOOP(__attribute__((target("avx2,fma,avxvnni"))), int8_vnni256, __m256i, _mm256_setzero_si256(),
          X86_INT_SETUP(__m256i, _mm256_set1_epi32), VNNI256_STEP, _mm256_add_epi32, SINK_256I, 32 * 2)
/* AVX2 without VNNI: what its tile product does for four bytes a lane, vpmaddubsw then vpmaddwd by ones, added. */
#define AVX2_STEP(a) _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)))
PEAK_LOOP(__attribute__((target("avx2,fma"))), int8_avx2, __m256i, _mm256_setzero_si256(), X86_INT_SETUP(__m256i, _mm256_set1_epi32),
          AVX2_STEP, _mm256_add_epi32, SINK_256I, 32 * 2)
#define FMA512_STEP(a) _mm512_fmadd_ps(w, x, a)
PEAK_LOOP(__attribute__((target("avx512f"))), fma512, __m512, _mm512_setzero_ps(), X86_FLOAT_SETUP(__m512, _mm512_set1_ps), FMA512_STEP,
          _mm512_add_ps, SINK_512, 16 * 2)
#define FMA256_STEP(a) _mm256_fmadd_ps(w, x, a)
PEAK_LOOP(__attribute__((target("avx2,fma"))), fma256, __m256, _mm256_setzero_ps(), X86_FLOAT_SETUP(__m256, _mm256_set1_ps), FMA256_STEP,
          _mm256_add_ps, SINK_256, 8 * 2)
#define BF16_SETUP __m512bh w = (__m512bh)_mm512_set1_epi32(seed_word), x = (__m512bh)_mm512_set1_epi32(seed_word + 1)
#define BF16_STEP(a) _mm512_dpbf16_ps(a, w, x)
PEAK_LOOP(__attribute__((target("avx512f,avx512bf16,avx512vl,avx512bw"))), bf16_512, __m512, _mm512_setzero_ps(), BF16_SETUP, BF16_STEP,
          _mm512_add_ps, SINK_512, 32 * 2)
#endif

#if defined(__aarch64__)
#define NEON_INT_SETUP int8x16_t w = vreinterpretq_s8_s32(vdupq_n_s32(seed_word)), x = vreinterpretq_s8_s32(vdupq_n_s32(seed_word + 1))
#define SINK_S32(s) (sink = vaddvq_s32(s))
#define SINK_F32(s) (sink = (int64_t)vaddvq_f32(s))
#define NEON_FMA_SETUP float32x4_t w = vdupq_n_f32(seed_float), x = vdupq_n_f32(1.0f - seed_float)
#define NEON_FMA_STEP(a) vfmaq_f32(a, w, x)
PEAK_LOOP(, fma_neon, float32x4_t, vdupq_n_f32(0), NEON_FMA_SETUP, NEON_FMA_STEP, vaddq_f32, SINK_F32, 4 * 2)
/* Plain NEON int8: what its tile product does (widening multiplies into 16-bit lanes, pairwise added into 32). */
#define NEON_INT8_STEP(a) vpadalq_s16(a, vmlal_high_s8(vmull_s8(vget_low_s8(w), vget_low_s8(x)), w, x))
PEAK_LOOP(, int8_neon, int32x4_t, vdupq_n_s32(0), NEON_INT_SETUP, NEON_INT8_STEP, vaddq_s32, SINK_S32, 16 * 2)
#define SDOT_STEP(a) vdotq_s32(a, w, x)
PEAK_LOOP(__attribute__((target("dotprod"))), int8_sdot, int32x4_t, vdupq_n_s32(0), NEON_INT_SETUP, SDOT_STEP, vaddq_s32, SINK_S32, 16 * 2)
#endif

/* Other CPUs' float32 fma, one lane (the multiply-add reads its accumulator, so nothing can be shared or hoisted). */
static double fma_scalar(long iterations) {
    float a[12] = {0}, w = seed_float, x = 1.0f - seed_float;
    for (long r = 0; r < iterations; r++)
        for (int i = 0; i < 12; i++) a[i] = __builtin_fmaf(w, x, a[i]);
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
        default: return 0; /* the portable kernels are C the compiler vectorizes as it can: no one instruction */
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
