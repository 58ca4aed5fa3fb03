/*
 * The C kernels' bits on this CPU against a golden file (fixtures/kernels/golden.txt, made on x86-64 with the
 * portable kernels): every product kind (int8 activations with q8, q4 symmetric, q4 asymmetric, q3k ... q6k rows in groups of
 * 8, 16, 32, 64, 128 and whole rows; bf16), 1 ... 7 tokens, a single matrix and a union of three, row counts that
 * leave a partial tile, odd bf16 widths, ranges that cross several spans, at every instruction set this CPU has
 * (bffn_intdot_use_level, bffn_bf16dot_use_path), and the activation roundings themselves
 * (bffn_quantize_activations, bffn_round_bf16). Built straight from the kernel sources by build.sh, for x86-64 and
 * for aarch64 (scripts/check-aarch64.sh runs it under qemu).
 *
 *   kernel_check print [LEVEL]        one line a case: its name and a 64-bit hash of its output bits (int8 cases at
 *                                     the named level, default portable; bf16 cases with the portable emulation
 *                                     unless LEVEL is "vector")
 *   kernel_check check GOLDEN [--expect-int8 NAME] [--expect-bf16 NAME] [-v]
 *                                     every level against GOLDEN; prints the levels chosen by default and one line a
 *                                     level; exit status 1 on any difference (each named), 2 on a usage error
 *
 * Inputs come from a fixed PRNG with IEEE basic operations only (no libm), so they are the same bits on every
 * machine. Output hashes are FNV-1a over the float32 bits with every NaN written as 0x7fc00000: x86-64 and AArch64
 * make different default NaNs (negative against positive) and propagate payloads differently, and the documented
 * arithmetic fixes numbers, not NaN payloads (formats/numerics.md, "aarch64").
 */
#include "bffn_bf16dot.h"
#include "bffn_intdot.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

/* ---- inputs ---- */

static uint64_t rng;

static uint64_t next64(void) {
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void seed(uint64_t s) { rng = s * 0x2545f4914f6cdd1dull + 1; }

/* Uniform in [0, 1): 24 random bits, exact. */
static float uniform(void) { return (float)(next64() >> 40) * (1.0f / 16777216.0f); }

/* About N(0, 1) (a sum of four uniforms, centred and scaled). */
static float gauss(void) { return ((uniform() + uniform()) + (uniform() + uniform()) - 2.0f) * 1.7320508f; }

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* 2^e for -149 <= e <= 127, exact. */
static float pow2(int e) {
    if (e < -126) return from_bits(1u << (e + 149));
    return from_bits((uint32_t)(e + 127) << 23);
}

/* n activations in blocks of 8 of varied size: mostly about N(0, 1), some blocks zero, huge (1e4), tiny (2^-60),
 * denormal (so the block's inverse scale overflows), of exact ties (halves, with 127 as the block's largest: codes
 * round half away from zero), and with `nan` one NaN element (ignored by the quantization). */
static void activations(float *x, long n, int nan) {
    for (long b = 0; b < n; b += 8) {
        uint64_t c = next64() % 16;
        float scale = c == 0 ? 0.0f : c == 1 ? 1e4f : c == 2 ? pow2(-60) : c == 3 ? pow2(-140) : c == 4 ? 1e-3f : 1.0f;
        for (long i = b; i < b + 8 && i < n; i++) {
            if (c == 5) x[i] = i == b ? 127.0f : (float)(int)(next64() % 253) - 126.5f;
            else x[i] = gauss() * scale;
        }
    }
    if (nan && n > 3) x[next64() % (uint64_t)n] = from_bits(0x7fc00000u);
}

/* `rows` stored q8 / q4 rows of n elements in groups of `group` (formats/bfpk.md: scales, offsets when asymmetric,
 * codes), random codes (q8: every byte, -128 included) and scales / offsets of varied size. Returns the row bytes. */
static long make_rows(int kind, long rows, long n, long group, uint8_t **out) {
    if (kind == BFFN_INTDOT_Q4K) {
        /* q4k rows (formats/bfpk.md, "Q4K rows"): float16 d and dmin of varied size, random 6-bit fields and codes */
        long supers = (n + 255) / 256, bytes = 4 * supers + (3 * (n / 32) + 1) / 2 + n / 2;
        uint8_t *m = malloc((size_t)(rows * bytes));
        for (long r = 0; r < rows; r++) {
            uint8_t *row = m + r * bytes;
            for (long b = 0; b < supers; b++) {
                _Float16 d = (_Float16)((uniform() + 0.01f) * (next64() % 8 == 0 ? 1e-5f : 4e-4f));
                _Float16 dmin = (_Float16)(uniform() * 2e-3f);
                memcpy(row + 4 * b, &d, 2);
                memcpy(row + 4 * b + 2, &dmin, 2);
            }
            for (long i = 4 * supers; i < bytes; i++) row[i] = (uint8_t)next64();
        }
        *out = m;
        return bytes;
    }
    if (kind == BFFN_INTDOT_Q5K) {
        /* q5k rows (formats/bfpk.md, "Q5K rows"): float16 d of varied size, random 6-bit scales, nibbles and bits */
        long supers = (n + 255) / 256, bytes = 2 * supers + (6 * (n / 32) + 7) / 8 + n / 2 + n / 8;
        uint8_t *m = malloc((size_t)(rows * bytes));
        for (long r = 0; r < rows; r++) {
            uint8_t *row = m + r * bytes;
            for (long b = 0; b < supers; b++) {
                _Float16 d = (_Float16)((uniform() + 0.01f) * (next64() % 8 == 0 ? 1e-5f : 2e-4f));
                memcpy(row + 2 * b, &d, 2);
            }
            for (long i = 2 * supers; i < bytes; i++) row[i] = (uint8_t)next64();
        }
        *out = m;
        return bytes;
    }
    if (kind == BFFN_INTDOT_Q6K || kind == BFFN_INTDOT_Q3K) {
        /* q6k rows ("Q6K rows"): float16 d, random 8-bit scales, nibbles and bit pairs; q3k rows ("Q3K rows"): float16
         * d, random 6-bit fields (5-bit scales, mirror bits), bit pairs and bits */
        long supers = (n + 255) / 256;
        long bytes = kind == BFFN_INTDOT_Q6K ? 2 * supers + n / 32 + n / 2 + n / 4 : 2 * supers + (6 * (n / 16) + 7) / 8 + n / 4 + n / 8;
        uint8_t *m = malloc((size_t)(rows * bytes));
        for (long r = 0; r < rows; r++) {
            uint8_t *row = m + r * bytes;
            for (long b = 0; b < supers; b++) {
                _Float16 d = (_Float16)((uniform() + 0.01f) * (next64() % 8 == 0 ? 1e-5f : kind == BFFN_INTDOT_Q6K ? 5e-5f : 5e-4f));
                memcpy(row + 2 * b, &d, 2);
            }
            for (long i = 2 * supers; i < bytes; i++) row[i] = (uint8_t)next64();
        }
        *out = m;
        return bytes;
    }
    long ng = n / group, header = ng * 4 * (kind == BFFN_INTDOT_Q4_ASYMMETRIC ? 2 : 1);
    long bytes = header + (kind == BFFN_INTDOT_Q8 ? n : n / 2);
    uint8_t *m = malloc((size_t)(rows * bytes));
    for (long r = 0; r < rows; r++) {
        uint8_t *row = m + r * bytes;
        for (long g = 0; g < ng; g++) {
            float s = (uniform() + 0.01f) * (next64() % 8 == 0 ? 1e-3f : 0.02f);
            memcpy(row + 4 * g, &s, 4);
            if (kind == BFFN_INTDOT_Q4_ASYMMETRIC) {
                float o = gauss() * 0.1f;
                memcpy(row + 4 * (ng + g), &o, 4);
            }
        }
        for (long i = header; i < bytes; i++) row[i] = (uint8_t)next64();
    }
    *out = m;
    return bytes;
}

/* ---- hashing ---- */

typedef struct { uint64_t h; } hash;

static void hash_bytes(hash *s, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) s->h = (s->h ^ b[i]) * 0x100000001b3ull;
}

static void hash_floats(hash *s, const float *f, long n) {
    for (long i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) u = 0x7fc00000u;
        hash_bytes(s, &u, 4);
    }
}

static hash hash_new(void) { return (hash){0xcbf29ce484222325ull}; }

/* ---- cases ---- */

#define MAX_CASES 2048
typedef struct {
    char name[96];
    uint64_t h;
} result;

typedef struct {
    result r[MAX_CASES];
    int n;
} results;

static void add(results *rs, const char *name, uint64_t h) {
    if (rs->n == MAX_CASES) {
        fprintf(stderr, "too many cases\n");
        exit(2);
    }
    snprintf(rs->r[rs->n].name, sizeof rs->r[rs->n].name, "%s", name);
    rs->r[rs->n++].h = h;
}

static const char *kind_name(int kind) {
    return kind == BFFN_INTDOT_Q8 ? "q8" : kind == BFFN_INTDOT_Q4_SYMMETRIC ? "q4s" : kind == BFFN_INTDOT_Q4K ? "q4k" : kind == BFFN_INTDOT_Q5K ? "q5k"
         : kind == BFFN_INTDOT_Q6K ? "q6k" : kind == BFFN_INTDOT_Q3K ? "q3k" : "q4a";
}

/* A sentinel in the outputs the products must not touch (strides, rows past the matrix, tiles out of the range). */
#define SENTINEL (-1234.5f)

/* One int8 product: `count` matrices of rows x n (groups of `group`), `tokens` tokens, tiles [t0, t1) (t1 < 0: all),
 * with the level in use. With `quant`, the hash of the quantized activations instead (the same for every level). */
static uint64_t int8_case(int kind, long rows, long n, long group, long count, long tokens, long t0, long t1, uint64_t s, int quant) {
    seed(s);
    long block = bffn_activation_block(n, group), ng = n / group, bpg = (group + block - 1) / block, nb = ng * bpg;
    long tiles = (rows + 15) / 16, tb = bffn_tile_bytes(kind, n, group);
    if (t1 < 0) t1 = tiles;
    uint8_t **mats = malloc(sizeof(uint8_t *) * (size_t)count);
    for (long m = 0; m < count; m++) {
        uint8_t *src;
        long bytes = make_rows(kind, rows, n, group, &src);
        mats[m] = aligned_alloc(64, (size_t)(tiles * tb));
        bffn_tiles_pack(kind, src, bytes, rows, n, group, mats[m]);
        free(src);
    }
    long width = count * n;
    float *x = malloc(sizeof(float) * (size_t)(tokens * width));
    activations(x, tokens * width, 1);
    int8_t *codes = malloc((size_t)(tokens * width));
    float *scales = malloc(sizeof(float) * (size_t)(tokens * count * nb));
    int32_t *sums = malloc(sizeof(int32_t) * (size_t)(tokens * count * nb));
    float *gsums = malloc(sizeof(float) * (size_t)(tokens * count * ng));
    for (long t = 0; t < tokens; t++)
        for (long m = 0; m < count; m++)
            bffn_quantize_activations(x + t * width + m * n, n, group, block, codes + t * width + m * n, scales + (t * count + m) * nb,
                                      sums + (t * count + m) * nb, (kind == BFFN_INTDOT_Q4_ASYMMETRIC || kind == BFFN_INTDOT_Q4K) ? gsums + (t * count + m) * ng : NULL);
    hash h = hash_new();
    if (quant) {
        hash_bytes(&h, codes, (size_t)(tokens * width));
        hash_floats(&h, scales, tokens * count * nb);
        hash_bytes(&h, sums, sizeof(int32_t) * (size_t)(tokens * count * nb));
        if (kind == BFFN_INTDOT_Q4_ASYMMETRIC || kind == BFFN_INTDOT_Q4K) hash_floats(&h, gsums, tokens * count * ng);
    } else {
        bffn_int8_activations a = {codes, scales, sums, (kind == BFFN_INTDOT_Q4_ASYMMETRIC || kind == BFFN_INTDOT_Q4K) ? gsums : NULL, width, count * nb, count * ng, tokens,
                                   block};
        long os = rows + 3;
        float *out = malloc(sizeof(float) * (size_t)(os * tokens));
        for (long i = 0; i < os * tokens; i++) out[i] = SENTINEL;
        bffn_tiles_product(kind, (const uint8_t *const *)mats, count, t0, t1, rows, n, group, &a, out, os);
        hash_floats(&h, out, os * tokens);
        free(out);
    }
    for (long m = 0; m < count; m++) free(mats[m]);
    free(mats);
    free(x);
    free(codes);
    free(scales);
    free(sums);
    free(gsums);
    return h.h;
}

/* bf16 rows: most about N(0, 1) (rows of class 1 scaled by 2^-64, so products with tiny activations are denormal and
 * sums flush), some elements zero of either sign, denormal, huge (products overflow), and rarely infinite or NaN.
 * Truncated to bf16 (their high halves). */
static uint16_t bf16_value(int tiny) {
    uint64_t c = next64() % 64;
    float f = gauss() * (tiny ? pow2(-64) : 1.0f);
    uint32_t u;
    memcpy(&u, &f, 4);
    if (c == 0) u = 0;
    else if (c == 1) u = 0x80000000u;
    else if (c == 2 || c == 3) u = (u & 0x80000000u) | (uint32_t)(next64() & 0x007f0000u);   /* denormal (or zero) */
    else if (c == 4) u = (u & 0x807fffffu) | 0x7e800000u;                                   /* about 2^126 */
    else if (c == 5 && next64() % 8 == 0) u = next64() % 2 ? 0x7f800000u : 0xff800000u;       /* rare infinities */
    else if (c == 6 && next64() % 16 == 0) u = 0x7fc10000u;                                   /* rare NaN */
    return (uint16_t)(u >> 16);
}

/* Activation floats for the bf16 products (rounded by bffn_round_bf16): as bf16_value's, and float bits that round
 * to ties, to infinity and to denormals. */
static void bf16_activations(float *x, long n, int tiny) {
    for (long i = 0; i < n; i++) {
        uint32_t u = (uint32_t)bf16_value(tiny) << 16;
        uint64_t c = next64() % 8;
        if (c == 0) u |= 0x8000u;                      /* a tie */
        else if (c == 1) u |= (uint32_t)(next64() & 0xffffu);
        x[i] = from_bits(u);
    }
}

/* One bf16 product (the path in use) or, with `round`, the hash of the rounded activations. */
static uint64_t bf16_case(long rows, long n, long count, long tokens, long t0, long t1, uint64_t s, int round) {
    seed(s);
    long tiles = (rows + 15) / 16, tb = bffn_bf16_tile_bytes(n);
    if (t1 < 0) t1 = tiles;
    uint8_t **mats = malloc(sizeof(uint8_t *) * (size_t)count);
    for (long m = 0; m < count; m++) {
        uint16_t *src = malloc(sizeof(uint16_t) * (size_t)(rows * n));
        for (long r = 0; r < rows; r++) {
            int tiny = next64() % 4 == 0;
            for (long i = 0; i < n; i++) src[r * n + i] = bf16_value(tiny);
        }
        mats[m] = aligned_alloc(64, (size_t)(tiles * tb));
        bffn_bf16_tiles_pack((const uint8_t *)src, 2 * n, rows, n, mats[m]);
        free(src);
    }
    long width = count * n;
    float *xf = malloc(sizeof(float) * (size_t)(tokens * width));
    for (long t = 0; t < tokens; t++) bf16_activations(xf + t * width, width, t % 3 == 1);
    uint16_t *x = malloc(sizeof(uint16_t) * (size_t)(tokens * width));
    bffn_round_bf16(xf, tokens * width, x);
    hash h = hash_new();
    if (round) {
        hash_bytes(&h, x, sizeof(uint16_t) * (size_t)(tokens * width));
    } else {
        long os = rows + 3;
        float *out = malloc(sizeof(float) * (size_t)(os * tokens));
        for (long i = 0; i < os * tokens; i++) out[i] = SENTINEL;
        bffn_bf16_tiles_product((const uint8_t *const *)mats, count, t0, t1, rows, n, x, width, tokens, out, os);
        hash_floats(&h, out, os * tokens);
        free(out);
    }
    for (long m = 0; m < count; m++) free(mats[m]);
    free(mats);
    free(xf);
    free(x);
    return h.h;
}

/* Special floats through bffn_round_bf16: ties both ways, the largest finite (to infinity), denormals, NaNs (quiet
 * and signalling), zeros, infinities. */
static uint64_t round_specials(void) {
    static const uint32_t u[] = {0x3f808000u, 0x3f818000u, 0xbf808000u, 0x3f807fffu, 0x3f808001u, 0x7f7fffffu, 0xff7fffffu, 0x7f7f7fffu,
                                 0x00000001u, 0x80008000u, 0x00018000u, 0x007fffffu, 0x7f800001u, 0xff800001u, 0x7fc00000u, 0xffffffffu,
                                 0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u};
    enum { N = sizeof u / sizeof u[0] };
    float x[N];
    uint16_t out[N];
    for (int i = 0; i < N; i++) x[i] = from_bits(u[i]);
    bffn_round_bf16(x, N, out);
    hash h = hash_new();
    hash_bytes(&h, out, sizeof out);
    return h.h;
}

/* The int8 cases (with `quant`: their activations' quantization instead). */
static void int8_cases(results *rs, int quant) {
    static const long groups[] = {8, 16, 32, 64, 128, 0, -1};   /* 0: whole rows of 200 (a short last block), -1: of 96 */
    char name[96];
    for (int kind = 0; kind < 3; kind++) {
        for (int gi = 0; gi < 7; gi++) {
            long g = groups[gi];
            long n = g > 0 ? 256 : g == 0 ? 200 : 96, group = g > 0 ? g : n;
            long ne = g > 0 ? (g > 64 ? g : 64) : g == 0 ? 40 : 32, ge = g > 0 ? g : ne;   /* an expert's width and group */
            for (long tokens = 1; tokens <= 7; tokens++) {
                uint64_t s = (uint64_t)(kind * 1000 + gi * 100 + tokens);
                snprintf(name, sizeof name, "%s/%s/%s%ld/n%ld/rows37/x1/t%ld", quant ? "quant" : "int8", kind_name(kind), g > 0 ? "g" : "row",
                         g > 0 ? g : n, n, tokens);
                add(rs, name, int8_case(kind, 37, n, group, 1, tokens, 0, -1, s, quant));
                snprintf(name, sizeof name, "%s/%s/%s%ld/n%ld/rows21/x3/t%ld", quant ? "quant" : "int8", kind_name(kind), g > 0 ? "g" : "row",
                         g > 0 ? g : ne, ne, tokens);
                add(rs, name, int8_case(kind, 21, ne, ge, 3, tokens, 0, -1, s + 50, quant));
            }
        }
        if (quant) continue;
        /* ranges of several spans (256 KiB of tiles): one wide matrix, and a union of wide experts; a sub-range */
        snprintf(name, sizeof name, "int8/%s/g32/n4096/rows100/x1/t5/spans", kind_name(kind));
        add(rs, name, int8_case(kind, 100, 4096, 32, 1, 5, 0, -1, 7000 + kind, 0));
        snprintf(name, sizeof name, "int8/%s/g64/n2048/rows40/x3/t6/spans", kind_name(kind));
        add(rs, name, int8_case(kind, 40, 2048, 64, 3, 6, 0, -1, 7100 + kind, 0));
        snprintf(name, sizeof name, "int8/%s/g32/n256/rows53/x1/t5/tiles1-3", kind_name(kind));
        add(rs, name, int8_case(kind, 53, 256, 32, 1, 5, 1, 3, 7200 + kind, 0));
    }
    /* q4k rows (tiled as q4 asymmetric in groups of 32), q5k and q6k rows (tiled as q8 in groups of 32) and q3k rows
     * (tiled as q4 symmetric in groups of 16): whole super-blocks, a shorter last one (320, 96), experts of 64 (one
     * short super-block), spans */
    static const long k_widths[] = {256, 320, 96};
    static const int k_kinds[] = {BFFN_INTDOT_Q4K, BFFN_INTDOT_Q5K, BFFN_INTDOT_Q6K, BFFN_INTDOT_Q3K};
    for (int ki = 0; ki < 4; ki++) {
        int kind = k_kinds[ki];
        uint64_t base = 8000 + 1000 * (uint64_t)ki;
        long kg = kind == BFFN_INTDOT_Q3K ? 16 : 32;
        for (int wi = 0; wi < 3; wi++) {
            long n = k_widths[wi];
            for (long tokens = 1; tokens <= 7; tokens++) {
                uint64_t s = base + (uint64_t)(wi * 100 + tokens);
                snprintf(name, sizeof name, "%s/%s/n%ld/rows37/x1/t%ld", quant ? "quant" : "int8", kind_name(kind), n, tokens);
                add(rs, name, int8_case(kind, 37, n, kg, 1, tokens, 0, -1, s, quant));
                snprintf(name, sizeof name, "%s/%s/n64/rows21/x3/t%ld/%ld", quant ? "quant" : "int8", kind_name(kind), tokens, n);
                add(rs, name, int8_case(kind, 21, 64, kg, 3, tokens, 0, -1, s + 50, quant));
            }
        }
        if (quant) continue;
        snprintf(name, sizeof name, "int8/%s/n4096/rows100/x1/t5/spans", kind_name(kind));
        add(rs, name, int8_case(kind, 100, 4096, kg, 1, 5, 0, -1, base + 900, 0));
        snprintf(name, sizeof name, "int8/%s/n2048/rows40/x3/t6/spans", kind_name(kind));
        add(rs, name, int8_case(kind, 40, 2048, kg, 3, 6, 0, -1, base + 910, 0));
        snprintf(name, sizeof name, "int8/%s/n256/rows53/x1/t5/tiles1-3", kind_name(kind));
        add(rs, name, int8_case(kind, 53, 256, kg, 1, 5, 1, 3, base + 920, 0));
    }
}

static void bf16_cases(results *rs, int round) {
    static const long widths[] = {1, 2, 7, 8, 37, 64, 130};
    char name[96];
    for (int wi = 0; wi < 7; wi++) {
        long n = widths[wi];
        for (long tokens = 1; tokens <= 7; tokens++) {
            uint64_t s = (uint64_t)(20000 + wi * 100 + tokens);
            snprintf(name, sizeof name, "%s/n%ld/rows37/x1/t%ld", round ? "round" : "bf16", n, tokens);
            add(rs, name, bf16_case(37, n, 1, tokens, 0, -1, s, round));
            snprintf(name, sizeof name, "%s/n%ld/rows21/x3/t%ld", round ? "round" : "bf16", n, tokens);
            add(rs, name, bf16_case(21, n, 3, tokens, 0, -1, s + 50, round));
        }
    }
    if (round) {
        add(rs, "round/specials", round_specials());
        return;
    }
    add(rs, "bf16/n4097/rows100/x1/t5/spans", bf16_case(100, 4097, 1, 5, 0, -1, 29000, 0));
    add(rs, "bf16/n1030/rows40/x3/t6/spans", bf16_case(40, 1030, 3, 6, 0, -1, 29100, 0));
    add(rs, "bf16/n64/rows53/x1/t5/tiles1-3", bf16_case(53, 64, 1, 5, 1, 3, 29200, 0));
}

/* Every case: the activation roundings, the int8 products at the level in use, the bf16 products on the path in use. */
static void all_cases(results *rs, int what) {
    if (what & 1) {
        int8_cases(rs, 1);
        bf16_cases(rs, 1);
    }
    if (what & 2) int8_cases(rs, 0);
    if (what & 4) bf16_cases(rs, 0);
}

/* ---- golden ---- */

static results golden;

static int load_golden(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char name[96];
        unsigned long long h;
        if (line[0] == '#' || sscanf(line, "%95s %16llx", name, &h) != 2) continue;
        add(&golden, name, h);
    }
    fclose(f);
    return 1;
}

static const result *golden_of(const char *name) {
    for (int i = 0; i < golden.n; i++)
        if (!strcmp(golden.r[i].name, name)) return &golden.r[i];
    return NULL;
}

/* Compares rs with the golden file: prints each difference; returns how many differ (missing ones included). */
static int compare(const results *rs, const char *what, int verbose) {
    int bad = 0;
    for (int i = 0; i < rs->n; i++) {
        const result *g = golden_of(rs->r[i].name);
        int ok = g && g->h == rs->r[i].h;
        if (!ok) {
            bad++;
            if (g) printf("DIFFERS  %-16s %-40s %016llx, golden %016llx\n", what, rs->r[i].name, (unsigned long long)rs->r[i].h,
                          (unsigned long long)g->h);
            else printf("MISSING  %-16s %-40s not in the golden file\n", what, rs->r[i].name);
        } else if (verbose) {
            printf("ok       %-16s %-40s %016llx\n", what, rs->r[i].name, (unsigned long long)rs->r[i].h);
        }
    }
    return bad;
}

static results rs;

static int usage(void) {
    fprintf(stderr, "usage: kernel_check print [LEVEL|vector]\n"
                    "       kernel_check check GOLDEN [--expect-int8 NAME] [--expect-bf16 NAME] [-v]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    /* The choices made before any use_level call: what the dispatchers pick on this CPU. */
    const char *int8_default = bffn_intdot_level_name(bffn_intdot_level());
    const char *bf16_default = bffn_bf16dot_path_name();
    if (!strcmp(argv[1], "print")) {
        int level = 0, vector = 0;
        if (argc > 2) {
            vector = !strcmp(argv[2], "vector");
            for (int l = 0; l <= 6; l++)
                if (!strcmp(argv[2], bffn_intdot_level_name(l))) level = l;
        }
        if (bffn_intdot_use_level(level) != level) {
            fprintf(stderr, "this CPU has no level %s\n", argv[2]);
            return 2;
        }
        bffn_bf16dot_use_path(vector ? -1 : BFFN_BF16_PATH_PORTABLE);
        printf("# bffn kernel check: one case a line, the FNV-1a hash of its output bits (NaN as 0x7fc00000).\n"
               "# int8 level %s, bf16 path %s (scripts/kernel-check/kernel_check.c; regenerate with scripts/check-aarch64.sh "
               "--regenerate).\n",
               bffn_intdot_level_name(level), bffn_bf16dot_path_name());
        all_cases(&rs, 7);
        for (int i = 0; i < rs.n; i++) printf("%s %016llx\n", rs.r[i].name, (unsigned long long)rs.r[i].h);
        return 0;
    }
    if (strcmp(argv[1], "check") || argc < 3) return usage();
    const char *expect_int8 = NULL, *expect_bf16 = NULL;
    int verbose = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--expect-int8") && i + 1 < argc) expect_int8 = argv[++i];
        else if (!strcmp(argv[i], "--expect-bf16") && i + 1 < argc) expect_bf16 = argv[++i];
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else return usage();
    }
    if (!load_golden(argv[2]) || golden.n == 0) {
        fprintf(stderr, "cannot read the golden file %s\n", argv[2]);
        return 2;
    }
    int failed = 0;
    printf("default: int8 %s, bf16 %s\n", int8_default, bf16_default);
    if (expect_int8 && strcmp(expect_int8, int8_default)) {
        printf("FAIL     the int8 products chose %s by default, expected %s\n", int8_default, expect_int8);
        failed = 1;
    }
    if (expect_bf16 && strcmp(expect_bf16, bf16_default)) {
        printf("FAIL     the bf16 products chose %s by default, expected %s\n", bf16_default, expect_bf16);
        failed = 1;
    }
    int total = 0;
    /* the activation roundings (no level) */
    rs.n = 0;
    all_cases(&rs, 1);
    int bad = compare(&rs, "roundings", verbose);
    printf("%-22s %3d cases, %s\n", "roundings", rs.n, bad ? "DIFFER" : "match");
    failed |= bad != 0;
    total += rs.n;
    /* the int8 products at every level this CPU has */
    for (int l = 0; l <= 6; l++) {
        if (bffn_intdot_use_level(l) != l) continue;
        char what[32];
        snprintf(what, sizeof what, "int8 %s", bffn_intdot_level_name(l));
        rs.n = 0;
        all_cases(&rs, 2);
        bad = compare(&rs, what, verbose);
        printf("%-22s %3d cases, %s\n", what, rs.n, bad ? "DIFFER" : "match");
        failed |= bad != 0;
        total += rs.n;
    }
    /* the bf16 products on every path this CPU has: the portable emulation, and vdpbf16ps, the AVX2 emulation or
       the NEON one */
    for (int p = BFFN_BF16_PATH_PORTABLE; p <= BFFN_BF16_PATH_NEON; p++) {
        if (bffn_bf16dot_use_path(p) != p) continue;
        char what[32];
        snprintf(what, sizeof what, "bf16 %s", bffn_bf16dot_path_name());
        rs.n = 0;
        all_cases(&rs, 4);
        bad = compare(&rs, what, verbose);
        printf("%-22s %3d cases, %s\n", what, rs.n, bad ? "DIFFER" : "match");
        failed |= bad != 0;
        total += rs.n;
    }
    bffn_intdot_use_level(99);
    bffn_bf16dot_use_path(-1);
    printf("%s: %d cases, golden %s\n", failed ? "FAILED" : "passed", total, argv[2]);
    return failed;
}
