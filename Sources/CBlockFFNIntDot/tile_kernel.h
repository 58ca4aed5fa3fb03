/*
 * The tile product, written once over a level's primitives and included by each level's file (tiles_*.c), which
 * defines before including it:
 *   VB  16 rows x 4 weight bytes (one lane a row); VW  the same for q8, prepared for dot8; VI  16 int32 lanes;
 *   VF  16 float lanes;
 *   vi_zero(), vf_zero(), vf_load(const float *), vf_store(float *, VF): 16 lanes, unaligned;
 *   q4_load(p, &lo, &hi): the 64 bytes at p as two VB of nibbles 0 ... 15 (low nibbles, high nibbles);
 *   dot4(acc, VB w, x): acc + per lane the sum over i < 4 of w[lane][i] * x[i] (w unsigned 0 ... 15, x int8);
 *   q8_load(p) / dot8(acc, VW w, x): the same for signed q8 codes, giving that sum plus Q8_BIAS x (x's sum);
 *   block_step(A, B, bias, d, G): fma((float)(A + B - bias), d, G) lane-wise;
 *   vf_fma(a, b, c), vf_fma_s(a, s, c): fma lane-wise, the second with s broadcast;
 *   KERNEL: the function's name.
 * and may define:
 *   TILE_ONE_ACCUMULATOR(NT): nonzero where a pass of NT tokens keeps one integer accumulator a token instead of
 *     two (B's products go into A: fewer registers where 16 rows take four of them, as with NEON);
 *   BLOCK_SUMS_MULTI: a function block_sums_multi(p, len, NT, kind, x, e, A) that computes, for an even NT, every
 *     token's sums of one block straight from the block's weight units at p (A[t] = the sum plus Q8_BIAS x C for q8)
 *     and returns p past them; passes of several tokens then use it (the NEON i8mm level's 2 x 8 matrix products).
 * Everything but the explicit fmas is exact integer arithmetic, so every level gives the same bits.
 */

#ifndef TILE_ONE_ACCUMULATOR
#define TILE_ONE_ACCUMULATOR(NT) 0
#endif

/* One pass of NT (1 ... 4) tokens through one tile: R[t] continued over the tile's groups. NT, kind and FULL (1:
 * every block has 32 elements) are constants at each call, so the compiler unrolls and drops the other kinds. */
static inline AI void tile_pass(const tile_shape *sh, const uint8_t *p, const int NT, const int kind, const int FULL, const int8_t *const *x,
                                const float *const *d, const int32_t *const *c, const float *const *S, VF *R) {
    long e = 0, bi = 0;
    for (long g = 0; g < sh->ng; g++) {
        VF s = vf_load((const float *)p);
        VF o = kind == BFFN_INTDOT_Q4_ASYMMETRIC ? vf_load((const float *)(p + 64)) : vf_zero();
        p += sh->header;
        VF G[4];
        for (int t = 0; t < NT; t++) G[t] = vf_zero();
        long left = sh->group;
        const long bpg = FULL ? sh->group / 32 : sh->bpg;
        for (long j = 0; j < bpg; j++, bi++) {
            long len = FULL ? 32 : (left < sh->block ? left : sh->block);
            left -= len;
            VI A[4], B[4];
            for (int t = 0; t < NT; t++) A[t] = B[t] = vi_zero();
#ifdef BLOCK_SUMS_MULTI
            if (NT % 2 == 0) {
                p = block_sums_multi(p, len, NT, kind, x, e, A);
            } else
#endif
            if (kind == BFFN_INTDOT_Q8) {
                for (long u = 0; u < len; u += 8, p += 128) {
                    VW w0 = q8_load(p), w1 = q8_load(p + 64);
                    for (int t = 0; t < NT; t++) {
                        A[t] = dot8(A[t], w0, x[t] + e + u);
                        if (TILE_ONE_ACCUMULATOR(NT)) A[t] = dot8(A[t], w1, x[t] + e + u + 4);
                        else B[t] = dot8(B[t], w1, x[t] + e + u + 4);
                    }
                }
            } else {
                for (long u = 0; u < len; u += 8, p += 64) {
                    VB lo, hi;
                    q4_load(p, &lo, &hi);
                    for (int t = 0; t < NT; t++) {
                        A[t] = dot4(A[t], lo, x[t] + e + u);
                        if (TILE_ONE_ACCUMULATOR(NT)) A[t] = dot4(A[t], hi, x[t] + e + u + 4);
                        else B[t] = dot4(B[t], hi, x[t] + e + u + 4);
                    }
                }
            }
            for (int t = 0; t < NT; t++) {
                int32_t bias = kind == BFFN_INTDOT_Q4_SYMMETRIC ? 8 * c[t][bi] : kind == BFFN_INTDOT_Q8 ? Q8_BIAS * c[t][bi] : 0;
                G[t] = block_step(A[t], B[t], bias, d[t][bi], G[t]);
            }
            e += len;
        }
        for (int t = 0; t < NT; t++) R[t] = vf_fma(G[t], s, R[t]);
        if (kind == BFFN_INTDOT_Q4_ASYMMETRIC)
            for (int t = 0; t < NT; t++) R[t] = vf_fma_s(o, S[t][g], R[t]);
    }
}

/* Token t's activations for segment m (the matrix m of a union): codes, block scales, block code sums and group
 * sums (NULL unless the rows are q4 asymmetric), as tile_pass reads them at index k. */
static inline AI void token_at(const tile_shape *sh, const bffn_int8_activations *a, long m, long t, int k, const int8_t **x,
                               const float **d, const int32_t **c, const float **S) {
    x[k] = a->codes + t * a->code_stride + m * sh->n;
    d[k] = a->scales + t * a->block_stride + m * sh->nb;
    c[k] = a->sums + t * a->block_stride + m * sh->nb;
    S[k] = a->group_sums ? a->group_sums + t * a->group_stride + m * sh->ng : NULL;
}

/* A tile's 16 outputs at o, of which the first `valid` rows exist. */
static inline AI VF load_rows(const float *o, long valid) {
    if (valid == 16) return vf_load(o);
    float buf[16];
    for (long r = 0; r < 16; r++) buf[r] = r < valid ? o[r] : 0.0f;
    return vf_load(buf);
}

static inline AI void store_rows(float *o, VF v, long valid) {
    if (valid == 16) {
        vf_store(o, v);
        return;
    }
    float buf[16];
    vf_store(buf, v);
    for (long r = 0; r < valid; r++) o[r] = buf[r];
}

/* Tokens t ..< t + NT of tiles tile_begin ..< tile_end, tile by tile, R in registers across the matrices (a down
 * projection's experts, in order), then stored (only the matrix's rows). */
static inline AI void tiles_pass(const tile_shape *sh, const int NT, const int kind, const int FULL, const uint8_t *const *mats, long count,
                                 long tile_begin, long tile_end, long rows, long t, const bffn_int8_activations *a, float *out, long os) {
    for (long i = tile_begin; i < tile_end; i++) {
        long r0 = i * 16, valid = rows - r0 < 16 ? rows - r0 : 16;
        VF R[4];
        for (int k = 0; k < NT; k++) R[k] = vf_zero();
        for (long m = 0; m < count; m++) {
            const int8_t *x[4];
            const float *d[4], *S[4];
            const int32_t *c[4];
            for (int k = 0; k < NT; k++) token_at(sh, a, m, t + k, k, x, d, c, S);
            tile_pass(sh, mats[m] + i * sh->tile_bytes, NT, kind, FULL, x, d, c, S, R);
        }
        for (int k = 0; k < NT; k++) store_rows(out + r0 + (t + k) * os, R[k], valid);
    }
}

/* One token over tiles tile_begin ..< tile_end of every matrix, matrix by matrix (each expert's tiles one forward
 * stream; R kept in the output between matrices). Software prefetch ahead of the walk (96 KiB) measured slower:
 * 156-184 tok/s against 183-220 decoding synth Small q4 on two threads. */
static inline AI void single_token(const tile_shape *sh, const int kind, const int FULL, const uint8_t *const *mats, long count,
                                   long tile_begin, long tile_end, long rows, long t, const bffn_int8_activations *a, float *out,
                                   long os) {
    const long tb = sh->tile_bytes;
    for (long m = 0; m < count; m++) {
        for (long i = tile_begin; i < tile_end; i++) {
            long r0 = i * 16, valid = rows - r0 < 16 ? rows - r0 : 16;
            const int8_t *x[1];
            const float *d[1], *S[1];
            const int32_t *c[1];
            token_at(sh, a, m, t, 0, x, d, c, S);
            float *o = out + r0 + t * os;
            VF R[1] = {m == 0 ? vf_zero() : load_rows(o, valid)};
            tile_pass(sh, mats[m] + i * tb, 1, kind, FULL, x, d, c, S, R);
            store_rows(o, R[0], valid);
        }
    }
}

/* Every tile of the range for one kind and block shape (constants after inlining): four tokens a pass (tile by
 * tile, R in registers across a union's experts: each expert's tile is small and read again from cache), the two or
 * three left over in one more such pass, a single token (or a call of one) matrix by matrix. Several tokens walk
 * the range in spans of BFFN_TILE_SPAN_BYTES of weights (every matrix's tiles counted), each span passed by all the
 * tokens while it is still in the core's cache, instead of every pass streaming the whole range from memory. Per
 * output the operations and their order are the same either way: R continues through the same fmas whether it
 * stays in a register or goes through the output between matrices. A verification call of 2 or 3 tokens (a
 * speculative step with a short draft) used to take them one pass each: three token passes over the weights
 * instead of one (synth XLarge bf16, 2 threads: a 3-token call 2.1x a one-token call). */
static inline AI void tiles_of(const tile_shape *sh, const int kind, const int FULL, const uint8_t *const *mats, long count, long tile_begin,
                               long tile_end, long rows, const bffn_int8_activations *a, float *out, long os) {
    long span = a->tokens > 1 ? bffn_tile_span(sh->tile_bytes * count) : tile_end - tile_begin;
    for (long s0 = tile_begin; s0 < tile_end; s0 += span) {
        long s1 = tile_end - s0 < span ? tile_end : s0 + span;
        long t = 0;
        for (; t + 4 <= a->tokens; t += 4) tiles_pass(sh, 4, kind, FULL, mats, count, s0, s1, rows, t, a, out, os);
        if (a->tokens - t == 3) tiles_pass(sh, 3, kind, FULL, mats, count, s0, s1, rows, t, a, out, os);
        else if (a->tokens - t == 2) tiles_pass(sh, 2, kind, FULL, mats, count, s0, s1, rows, t, a, out, os);
        else if (a->tokens - t == 1) single_token(sh, kind, FULL, mats, count, s0, s1, rows, t, a, out, os);
    }
}

void KERNEL(const tile_shape *sh, const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows,
            const bffn_int8_activations *a, float *out, long os) {
    /* FULL: blocks of 32 that fill every group exactly (the common case: groups of 32, 64, 128, or whole rows of a
       multiple of 32). */
    int full = sh->block == 32 && sh->group % 32 == 0;
#define TILES_OF(K)                                                                  \
    do {                                                                             \
        if (full) tiles_of(sh, K, 1, mats, count, tile_begin, tile_end, rows, a, out, os); \
        else tiles_of(sh, K, 0, mats, count, tile_begin, tile_end, rows, a, out, os);      \
    } while (0)
    switch (sh->kind) {
    case BFFN_INTDOT_Q8: TILES_OF(BFFN_INTDOT_Q8); break;
    case BFFN_INTDOT_Q4_SYMMETRIC: TILES_OF(BFFN_INTDOT_Q4_SYMMETRIC); break;
    default: TILES_OF(BFFN_INTDOT_Q4_ASYMMETRIC); break;
    }
#undef TILES_OF
}
