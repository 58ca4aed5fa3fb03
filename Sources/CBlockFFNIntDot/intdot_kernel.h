/*
 * The integer product kernels for one instruction set, included once per level by intdot.c with:
 *   LEVEL          the name suffix (portable, avx2, vnni512, vnni256)
 *   ATTR           the function attribute that enables the level's instructions
 *   WEIGHTS        the type of a full block's weights made ready for the products
 *   PREP_Q8(w)     the 32 int8 codes at w made ready;  DOT_Q8(wt, x)  the 8 quad sums with 32 activation codes
 *   PREP_Q4(w)     the 32 nibbles of the 16 bytes at w; DOT_Q4(wt, x)  the same for q4 (activations in nibble order)
 * and optionally (AVX-512 VNNI) the 512-bit paths, which perform the same operations on two blocks at a time:
 *   PAIRS1 / PAIRS4                 a chunk's full blocks in pairs, for one token / four tokens
 *   SEGMENT1_EVEN / SEGMENT4_EVEN   a whole segment of an even number of full blocks, accumulators joined once
 * The float steps are written once here, so every level performs the same operations in the same order.
 */
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

/* The quad sums of full block b of a row's codes w against activation codes x (q4 symmetric: minus K). */
#define FULL_P(kind, wt, xb, K, b)                                                                                     \
    ((kind) == BFFN_INTDOT_Q4_SYMMETRIC ? DOT_Q4(wt, xb) - load_v8i((K) + (b) * 8)                                     \
                                        : ((kind) == BFFN_INTDOT_Q8 ? DOT_Q8(wt, xb) : DOT_Q4(wt, xb)))
#define PREP(kind, w, b) ((kind) == BFFN_INTDOT_Q8 ? PREP_Q8((w) + (b) * 32) : PREP_Q4((w) + (b) * 16))

/* The blocks of a segment are taken eight at a time (c0 a multiple of 8, so block c0 + i adds to accumulator i mod 4):
 * their scale products as one vector, then the full blocks unrolled, then any short blocks. */

/* One token, one row segment: adds its blocks to acc[0...3] and, for q4 asymmetric, its groups to *O. */
#define STEP1(i, A)                                                                                                    \
    if (kf > (i)) A = fma8(to_float(FULL_P(kind, PREP(kind, w, c0 + (i)), x + (c0 + (i)) * 32, K, c0 + (i))), T[i], A)

static inline __attribute__((always_inline)) ATTR void CAT(segment_, LEVEL)(int kind, const uint8_t *row, const shape *sh,
                                                                          const int8_t *x, const float *d, const int32_t *K,
                                                                          const float *S, v8f *acc, v8f *O) {
    long n = sh->n, ng = sh->ng, nb = sh->nb, per_group = sh->per_group, block = sh->block, full = sh->full;
    const uint8_t *w = codes_of(kind, row, ng);
    v8f a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#ifdef SEGMENT1_EVEN
    if (full == nb && (nb & 1) == 0) {
        SEGMENT1_EVEN(kind, row, sh, x, d, K, &a0, &a1, &a2, &a3);
        nb = 0; /* done: skip the chunk loop */
    }
#endif
    for (long c0 = 0; c0 < nb; c0 += 8) {
        long k = nb - c0 < 8 ? nb - c0 : 8, kf = full - c0 < 0 ? 0 : (full - c0 < k ? full - c0 : k);
        float T[8];
        v8f tv = scale_products8(d, row, c0, k, ng, per_group);
        memcpy(T, &tv, 32);
#ifdef PAIRS1
        /* full blocks two at a time in 16-lane registers (the pair's accumulators side by side), then the odd one */
        PAIRS1(kind, w, c0, kf, x, K, tv, &a0, &a1, &a2, &a3);
        if (kf & 1) {
            if (((kf - 1) & 3) == 0) {
                STEP1(kf - 1, a0);
            } else {
                STEP1(kf - 1, a2);
            }
        }
#else
        STEP1(0, a0); STEP1(1, a1); STEP1(2, a2); STEP1(3, a3);
        STEP1(4, a0); STEP1(5, a1); STEP1(6, a2); STEP1(7, a3);
#endif
        for (long i = kf; i < k; i++) {
            long b = c0 + i;
            v8i P = short_p(kind, w, x, K, b * block, n - b * block < block ? n - b * block : block);
            if ((i & 3) == 0) a0 = fma8(to_float(P), T[i], a0);
            else if ((i & 3) == 1) a1 = fma8(to_float(P), T[i], a1);
            else if ((i & 3) == 2) a2 = fma8(to_float(P), T[i], a2);
            else a3 = fma8(to_float(P), T[i], a3);
        }
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
    if (kind == BFFN_INTDOT_Q4_ASYMMETRIC) *O = offset_terms(row + ng * 4, S, ng, *O);
}
#undef STEP1

/* Four tokens, one row segment: the same operations per token, each full block's weights made ready once. */
#define BLOCK4(i, A)                                                                                                   \
    do {                                                                                                               \
        WEIGHTS wt = PREP(kind, w, c0 + (i));                                                                          \
        for (int t = 0; t < 4; t++)                                                                                    \
            acc[t][A] = fma8(to_float(FULL_P(kind, wt, x + t * xs + (c0 + (i)) * 32, K + t * ks, c0 + (i))), T[t][i], acc[t][A]); \
    } while (0)
#define STEP4(i, A)                                                                                                    \
    if (kf > (i)) BLOCK4(i, A)

static inline __attribute__((always_inline)) ATTR void CAT(segment4_, LEVEL)(int kind, const uint8_t *row, const shape *sh,
                                                                           const int8_t *x, long xs, const float *d, long ds,
                                                                           const int32_t *K, long ks, const float *S, long ss,
                                                                           v8f accumulators[4][4], v8f O[4]) {
    v8f acc[4][4];
    for (int t = 0; t < 4; t++)
        for (int j = 0; j < 4; j++) acc[t][j] = accumulators[t][j];
    long n = sh->n, ng = sh->ng, nb = sh->nb, per_group = sh->per_group, block = sh->block, full = sh->full;
    const uint8_t *w = codes_of(kind, row, ng);
#ifdef SEGMENT4_EVEN
    if (full == nb && (nb & 1) == 0) {
        SEGMENT4_EVEN(kind, row, sh, x, xs, d, ds, K, ks, acc);
        nb = 0; /* done: skip the chunk loop */
    }
#endif
    for (long c0 = 0; c0 < nb; c0 += 8) {
        long k = nb - c0 < 8 ? nb - c0 : 8, kf = full - c0 < 0 ? 0 : (full - c0 < k ? full - c0 : k);
        float T[4][8];
        v8f tv[4];
        for (int t = 0; t < 4; t++) {
            tv[t] = scale_products8(d + t * ds, row, c0, k, ng, per_group);
            memcpy(T[t], &tv[t], 32);
        }
#ifdef PAIRS4
        PAIRS4(kind, w, c0, kf, x, xs, K, ks, tv, acc);
        if (kf & 1) {
            if (((kf - 1) & 3) == 0) BLOCK4(kf - 1, 0);
            else BLOCK4(kf - 1, 2);
        }
#else
        STEP4(0, 0); STEP4(1, 1); STEP4(2, 2); STEP4(3, 3);
        STEP4(4, 0); STEP4(5, 1); STEP4(6, 2); STEP4(7, 3);
#endif
        for (long i = kf; i < k; i++) {
            long b = c0 + i, len = n - b * block < block ? n - b * block : block;
            for (int t = 0; t < 4; t++) {
                v8f P = to_float(short_p(kind, w, x + t * xs, K + t * ks, b * block, len));
                if ((i & 3) == 0) acc[t][0] = fma8(P, T[t][i], acc[t][0]);
                else if ((i & 3) == 1) acc[t][1] = fma8(P, T[t][i], acc[t][1]);
                else if ((i & 3) == 2) acc[t][2] = fma8(P, T[t][i], acc[t][2]);
                else acc[t][3] = fma8(P, T[t][i], acc[t][3]);
            }
        }
    }
    for (int t = 0; t < 4; t++)
        for (int j = 0; j < 4; j++) accumulators[t][j] = acc[t][j];
    if (kind == BFFN_INTDOT_Q4_ASYMMETRIC)
        for (int t = 0; t < 4; t++) O[t] = offset_terms(row + ng * 4, S + t * ss, ng, O[t]);
}
#undef BLOCK4
#undef STEP4

/* Every token against `count` segments; out[t * os]. */
static inline __attribute__((always_inline)) ATTR void CAT(tokens_, LEVEL)(int kind, const uint8_t *const *segments, long count, long n,
                                                                         long group, const bffn_int8_activations *a, float *out, long os) {
    shape sh = make_shape(n, group, a->block);
    long nb = sh.nb, ng = sh.ng;
    long t = 0;
    for (; t + 4 <= a->tokens; t += 4) {
        v8f acc[4][4] = {{0}}, O[4] = {0};
        for (long r = 0; r < count; r++) {
            CAT(segment4_, LEVEL)(kind, segments[r], &sh, a->codes + t * a->code_stride + r * n, a->code_stride,
                                  a->scales + t * a->scale_stride + r * nb, a->scale_stride,
                                  a->quad_offsets + t * a->quad_stride + r * (n / 4), a->quad_stride,
                                  a->group_sums ? a->group_sums + t * a->sum_stride + r * ng : 0, a->sum_stride, acc, O);
        }
        for (int i = 0; i < 4; i++) out[(t + i) * os] = finish(acc[i], O[i], kind == BFFN_INTDOT_Q4_ASYMMETRIC);
    }
    for (; t < a->tokens; t++) {
        v8f acc[4] = {0}, O = 0;
        for (long r = 0; r < count; r++) {
            CAT(segment_, LEVEL)(kind, segments[r], &sh, a->codes + t * a->code_stride + r * n,
                                 a->scales + t * a->scale_stride + r * nb,
                                 a->quad_offsets + t * a->quad_stride + r * (n / 4),
                                 a->group_sums ? a->group_sums + t * a->sum_stride + r * ng : 0, acc, &O);
        }
        out[t * os] = finish(acc, O, kind == BFFN_INTDOT_Q4_ASYMMETRIC);
    }
}

/* The kinds as constants, so each gets its own compiled loop. */
#define BY_KIND(CALL)                                                                                                  \
    switch (kind) {                                                                                                    \
    case BFFN_INTDOT_Q8: CALL(BFFN_INTDOT_Q8); break;                                                                  \
    case BFFN_INTDOT_Q4_SYMMETRIC: CALL(BFFN_INTDOT_Q4_SYMMETRIC); break;                                              \
    default: CALL(BFFN_INTDOT_Q4_ASYMMETRIC); break;                                                                   \
    }

static ATTR void CAT(rows_, LEVEL)(int kind, const uint8_t *base, long stride, long rows, long n, long group,
                                   const bffn_int8_activations *a, float *out, long os) {
#define ROWS_CALL(K)                                                                                                   \
    for (long r = 0; r < rows; r++) {                                                                                  \
        const uint8_t *row = base + r * stride;                                                                        \
        CAT(tokens_, LEVEL)(K, &row, 1, n, group, a, out + r, os);                                                     \
    }
    BY_KIND(ROWS_CALL)
#undef ROWS_CALL
}

static ATTR void CAT(segments_, LEVEL)(int kind, const uint8_t *const *segments, long count, long n, long group,
                                       const bffn_int8_activations *a, float *out, long os) {
#define SEGMENTS_CALL(K) CAT(tokens_, LEVEL)(K, segments, count, n, group, a, out, os)
    BY_KIND(SEGMENTS_CALL)
#undef SEGMENTS_CALL
}
#undef BY_KIND
#undef FULL_P
#undef PREP
