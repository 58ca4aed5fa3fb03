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
 * Everything but the explicit fmas is exact integer arithmetic, so every level gives the same bits.
 */

/* One pass of NT (1 ... 4) tokens through one tile: R[t] continued over the tile's groups. */
static inline AI void tile_pass(const tile_shape *sh, const uint8_t *p, const int NT, const int8_t *const *x, const float *const *d,
                                const int32_t *const *c, const float *const *S, VF *R) {
    const int kind = sh->kind;
    long e = 0, bi = 0;
    for (long g = 0; g < sh->ng; g++) {
        VF s = vf_load((const float *)p);
        VF o = kind == BFFN_INTDOT_Q4_ASYMMETRIC ? vf_load((const float *)(p + 64)) : vf_zero();
        p += sh->header;
        VF G[4];
        for (int t = 0; t < NT; t++) G[t] = vf_zero();
        long left = sh->group;
        for (long j = 0; j < sh->bpg; j++, bi++) {
            long len = left < sh->block ? left : sh->block;
            left -= len;
            VI A[4], B[4];
            for (int t = 0; t < NT; t++) A[t] = B[t] = vi_zero();
            if (kind == BFFN_INTDOT_Q8) {
                for (long u = 0; u < len; u += 8, p += 128) {
                    VW w0 = q8_load(p), w1 = q8_load(p + 64);
                    for (int t = 0; t < NT; t++) {
                        A[t] = dot8(A[t], w0, x[t] + e + u);
                        B[t] = dot8(B[t], w1, x[t] + e + u + 4);
                    }
                }
            } else {
                for (long u = 0; u < len; u += 8, p += 64) {
                    VB lo, hi;
                    q4_load(p, &lo, &hi);
                    for (int t = 0; t < NT; t++) {
                        A[t] = dot4(A[t], lo, x[t] + e + u);
                        B[t] = dot4(B[t], hi, x[t] + e + u + 4);
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

/* Tokens t ..< t + NT of tile i of matrix m: R read from out (after the first matrix), the pass, R written back
 * (only the matrix's rows). */
static inline AI void tile_tokens(const tile_shape *sh, const uint8_t *tile, long m, long r0, long valid, long t, const int NT,
                                  const bffn_int8_activations *a, float *out, long os) {
    const int8_t *x[4];
    const float *d[4], *S[4];
    const int32_t *c[4];
    VF R[4];
    float buf[16];
    for (int k = 0; k < NT; k++) {
        x[k] = a->codes + (t + k) * a->code_stride + m * sh->n;
        d[k] = a->scales + (t + k) * a->block_stride + m * sh->nb;
        c[k] = a->sums + (t + k) * a->block_stride + m * sh->nb;
        S[k] = a->group_sums ? a->group_sums + (t + k) * a->group_stride + m * sh->ng : NULL;
        float *o = out + r0 + (t + k) * os;
        if (m == 0) {
            R[k] = vf_zero();
        } else if (valid == 16) {
            R[k] = vf_load(o);
        } else {
            for (long r = 0; r < 16; r++) buf[r] = r < valid ? o[r] : 0.0f;
            R[k] = vf_load(buf);
        }
    }
    tile_pass(sh, tile, NT, x, d, c, S, R);
    for (int k = 0; k < NT; k++) {
        float *o = out + r0 + (t + k) * os;
        if (valid == 16) {
            vf_store(o, R[k]);
        } else {
            vf_store(buf, R[k]);
            for (long r = 0; r < valid; r++) o[r] = buf[r];
        }
    }
}

void KERNEL(const tile_shape *sh, const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows,
            const bffn_int8_activations *a, float *out, long os) {
    for (long m = 0; m < count; m++) {
        for (long i = tile_begin; i < tile_end; i++) {
            const uint8_t *tile = mats[m] + i * sh->tile_bytes;
            long r0 = i * 16, valid = rows - r0 < 16 ? rows - r0 : 16;
            long t = 0;
            for (; t + 4 <= a->tokens; t += 4) tile_tokens(sh, tile, m, r0, valid, t, 4, a, out, os);
            for (; t < a->tokens; t++) tile_tokens(sh, tile, m, r0, valid, t, 1, a, out, os);
        }
    }
}
