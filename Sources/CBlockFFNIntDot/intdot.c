/*
 * Activation quantization, weight tiling and the choice of instruction set for the tile products (see
 * bffn_intdot.h and formats/numerics.md). The products themselves are in tile_kernel.h, compiled once per level
 * (tiles_portable.c; x86-64: tiles_avx2.c, tiles_vnni512.c, tiles_vnni256.c; AArch64: tiles_neon.c,
 * tiles_neon_dotprod.c, tiles_neon_i8mm.c).
 */
#include "tiles_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

long bffn_activation_block(long n, long group) {
    if (group % 32 == 0 || group == n) return 32;
    return group % 16 == 0 ? 16 : 8;
}

/* The codes of one block (len elements) rounded as documented: x times the block's inverse scale 127 / max|x|,
 * to nearest with ties away from zero, clamped to -127 ... 127 (0 for NaN). */
static void quantize_block(const float *x, long len, float amax, int8_t *q) {
    if (amax > 0.0f) {
        float inverse = 127.0f / amax;
        for (long i = 0; i < len; i++) {
            /* round half away from zero: the truncation, plus one away from zero when the (exact) remainder is at
               least a half; written without branches so it vectorizes. */
            float v = x[i] * inverse;
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

void bffn_quantize_activations(const float *x, long n, long group, long block, int8_t *codes, float *scales, int32_t *sums,
                               float *group_sums) {
    long ng = n / group, bpg = (group + block - 1) / block;
    long bi = 0;
    for (long g = 0; g < ng; g++) {
        float sum = 0.0f;
        long left = group, b0 = g * group;
        for (long j = 0; j < bpg; j++, bi++) {
            long len = left < block ? left : block;
            left -= len;
            float amax = 0.0f;
            for (long i = 0; i < len; i++) {
                float a = fabsf(x[b0 + i]);
                amax = a > amax ? a : amax;
            }
            float d = amax / 127.0f;
            quantize_block(x + b0, len, amax, codes + b0);
            int32_t c = 0;
            for (long i = 0; i < len; i++) c += codes[b0 + i];
            scales[bi] = d;
            sums[bi] = c;
            sum = sum + d * (float)c;
            b0 += len;
        }
        if (group_sums) group_sums[g] = sum;
    }
}


/* A q4k row (formats/bfpk.md) as the q4 asymmetric row in groups of 32 it computes as: the 32-element groups'
 * scales s_j = d * sc_j, offsets o_j = 0 - dmin * m_j (float32, exact), then the same n / 2 code bytes. */
static void q4k_as_q4(const uint8_t *row, long n, uint8_t *out) {
    long subs = n / 32, supers = (n + 255) / 256;
    const uint8_t *table = row + 4 * supers;
    for (long j = 0; j < subs; j++) {
        uint16_t dh, mh;
        memcpy(&dh, row + 4 * (j / 8), 2);
        memcpy(&mh, row + 4 * (j / 8) + 2, 2);
        _Float16 d, dmin;
        memcpy(&d, &dh, 2);
        memcpy(&dmin, &mh, 2);
        unsigned field = ((unsigned)table[3 * j / 2] | (unsigned)table[3 * j / 2 + 1] << 8) >> (4 * (j & 1));
        float sc = (float)(field & 63u), m = (float)(field >> 6 & 63u);
        float scale = (float)d * sc, offset = 0.0f - (float)dmin * m;
        memcpy(out + 4 * j, &scale, 4);
        memcpy(out + 4 * (subs + j), &offset, 4);
    }
    memcpy(out + 8 * subs, table + (3 * subs + 1) / 2, (size_t)(n / 2));
}

/* A q5k row as the q8 row in groups of 32 it computes as: scales d * sc_j (exact), codes q - 16. */
static void q5k_as_q8(const uint8_t *row, long n, uint8_t *out) {
    long subs = n / 32, supers = (n + 255) / 256;
    const uint8_t *table = row + 2 * supers, *low = table + (6 * subs + 7) / 8, *high = low + n / 2;
    for (long j = 0; j < subs; j++) {
        uint16_t dh;
        memcpy(&dh, row + 2 * (j / 8), 2);
        _Float16 d;
        memcpy(&d, &dh, 2);
        unsigned field = ((unsigned)table[6 * j / 8] | (unsigned)table[6 * j / 8 + 1] << 8) >> (6 * j % 8);
        float scale = (float)d * (float)(field & 63u);
        memcpy(out + 4 * j, &scale, 4);
    }
    for (long i = 0; i < n; i++) {
        int q = (low[i / 2] >> (4 * (i % 2)) & 15) | (high[i / 8] >> (i % 8) & 1) << 4;
        out[4 * subs + i] = (uint8_t)(int8_t)(q - 16);
    }
}

/* A q6k row as the q8 row in groups of 32 it computes as: scales d * sc_j (exact), codes u - 32. */
static void q6k_as_q8(const uint8_t *row, long n, uint8_t *out) {
    long subs = n / 32, supers = (n + 255) / 256;
    const uint8_t *table = row + 2 * supers, *low = table + subs, *high = low + n / 2;
    for (long j = 0; j < subs; j++) {
        uint16_t dh;
        memcpy(&dh, row + 2 * (j / 8), 2);
        _Float16 d;
        memcpy(&d, &dh, 2);
        float scale = (float)d * (float)table[j];
        memcpy(out + 4 * j, &scale, 4);
    }
    for (long i = 0; i < n; i++) {
        int u = (low[i / 2] >> (4 * (i % 2)) & 15) | (high[i / 4] >> (2 * (i % 4)) & 3) << 4;
        out[4 * subs + i] = (uint8_t)(int8_t)(u - 32);
    }
}

/* A q3k row as the q4 symmetric row in groups of 16 it computes as: scales d * sc_j (exact), nibbles c + 8 with
 * c = u - 4, or 4 - u in a mirrored sub-block. */
static void q3k_as_q4(const uint8_t *row, long n, uint8_t *out) {
    long subs = n / 16, supers = (n + 255) / 256;
    const uint8_t *table = row + 2 * supers, *low = table + (6 * subs + 7) / 8, *high = low + n / 4;
    uint8_t *codes = out + 4 * subs;
    memset(codes, 0, (size_t)(n / 2));
    for (long j = 0; j < subs; j++) {
        uint16_t dh;
        memcpy(&dh, row + 2 * (j / 16), 2);
        _Float16 d;
        memcpy(&d, &dh, 2);
        unsigned field = ((unsigned)table[6 * j / 8] | (unsigned)table[6 * j / 8 + 1] << 8) >> (6 * j % 8);
        float scale = (float)d * (float)(field & 31u);
        memcpy(out + 4 * j, &scale, 4);
        int mirror = (int)(field >> 5 & 1u);
        for (long i = 16 * j; i < 16 * j + 16; i++) {
            int u = (low[i / 4] >> (2 * (i % 4)) & 3) | (high[i / 8] >> (i % 8) & 1) << 2;
            int nibble = mirror ? 12 - u : u + 4;
            codes[i / 2] |= (uint8_t)(nibble << (4 * (i % 2)));
        }
    }
}

/* What rows of `kind` compute as (formats/numerics.md): q8 and q4 rows as themselves; a super-block row as the q8 or
 * q4 row in groups of 32 or 16 it equals exactly, through `convert`. The one place the kernels map a k-quant kind. */
typedef struct {
    int kind;
    long group;
    void (*convert)(const uint8_t *row, long n, uint8_t *out);
} computed_form;

static computed_form computed_as(int kind, long group) {
    switch (kind) {
    case BFFN_INTDOT_Q4K: return (computed_form){BFFN_INTDOT_Q4_ASYMMETRIC, 32, q4k_as_q4};
    case BFFN_INTDOT_Q5K: return (computed_form){BFFN_INTDOT_Q8, 32, q5k_as_q8};
    case BFFN_INTDOT_Q6K: return (computed_form){BFFN_INTDOT_Q8, 32, q6k_as_q8};
    case BFFN_INTDOT_Q3K: return (computed_form){BFFN_INTDOT_Q4_SYMMETRIC, 16, q3k_as_q4};
    default: return (computed_form){kind, group, NULL};
    }
}

/* Bytes of one q8 / q4 row of n elements in groups of `group` (float32 scales, and offsets when asymmetric). */
static long plain_row_bytes(int kind, long n, long group) {
    long scales = 4 * (n / group) * (kind == BFFN_INTDOT_Q4_ASYMMETRIC ? 2 : 1);
    return scales + (kind == BFFN_INTDOT_Q8 ? n : n / 2);
}

long bffn_tile_bytes(int kind, long n, long group) {
    computed_form f = computed_as(kind, group);
    tile_shape s = bffn_make_tile_shape(f.kind, n, f.group, bffn_activation_block(n, f.group));
    return s.tile_bytes;
}

/* Writes rows 0 ..< rows (q8 / q4 layout) into the zeroed tiles at dst as rows first_row, first_row + 1, ... */
static void pack_rows(int kind, const uint8_t *src, long row_stride, long rows, long n, long group, uint8_t *dst, long first_row) {
    tile_shape s = bffn_make_tile_shape(kind, n, group, bffn_activation_block(n, group));
    long ng = s.ng;
    int asym = kind == BFFN_INTDOT_Q4_ASYMMETRIC;
    long codes_at = ng * 4 * (asym ? 2 : 1);
    for (long r = 0; r < rows; r++) {
        const uint8_t *row = src + r * row_stride;
        const uint8_t *codes = row + codes_at;
        uint8_t *tile = dst + ((first_row + r) / 16) * s.tile_bytes;
        long lane = (first_row + r) % 16;
        for (long g = 0; g < ng; g++) {
            uint8_t *gp = tile + g * s.group_bytes;
            memcpy(gp + 4 * lane, row + 4 * g, 4);
            if (asym) memcpy(gp + 64 + 4 * lane, row + 4 * (ng + g), 4);
            uint8_t *unit = gp + s.header;
            long e0 = g * group;
            if (kind == BFFN_INTDOT_Q8) {
                /* unit k: elements 4k ... 4k + 3 of the group, 4 bytes a row */
                for (long k = 0; k < group / 4; k++) memcpy(unit + 64 * k + 4 * lane, codes + e0 + 4 * k, 4);
            } else {
                /* unit k: elements 8k + i in the low nibbles, 8k + 4 + i in the high ones (i < 4) */
                for (long k = 0; k < group / 8; k++) {
                    for (long i = 0; i < 4; i++) {
                        long a = e0 + 8 * k + i, b = a + 4;
                        uint8_t lo = (uint8_t)((codes[a / 2] >> (4 * (a % 2))) & 15), hi = (uint8_t)((codes[b / 2] >> (4 * (b % 2))) & 15);
                        unit[64 * k + 4 * lane + i] = (uint8_t)(lo | hi << 4);
                    }
                }
            }
        }
    }
}

void bffn_tiles_pack(int kind, const uint8_t *src, long row_stride, long rows, long n, long group, uint8_t *dst) {
    computed_form f = computed_as(kind, group);
    long tiles = (rows + 15) / 16;
    memset(dst, 0, (size_t)(tiles * bffn_tile_bytes(f.kind, n, f.group)));
    if (!f.convert) {
        pack_rows(kind, src, row_stride, rows, n, group, dst, 0);
        return;
    }
    /* a super-block row: each row converted exactly to the row it computes as, then packed as that row */
    long row_bytes = plain_row_bytes(f.kind, n, f.group);
    uint8_t *row = malloc((size_t)row_bytes);
    if (!row) abort();
    for (long r = 0; r < rows; r++) {
        f.convert(src + r * row_stride, n, row);
        pack_rows(f.kind, row, row_bytes, 1, n, f.group, dst, r);
    }
    free(row);
}

/* ---- dispatch ---- */

#if defined(BFFN_TILES_NEON) && defined(__linux__)
#include <sys/auxv.h>
/* The kernel's feature bits (asm/hwcap.h), spelled here for C libraries whose headers lack them. */
#define BFFN_HWCAP_ASIMDDP (1ul << 20)
#define BFFN_HWCAP2_I8MM (1ul << 13)
#elif defined(BFFN_TILES_NEON) && defined(__APPLE__)
#include <sys/sysctl.h>
/* Whether the sysctl `name` (hw.optional.arm.FEAT_*) exists and is nonzero. */
static int apple_feature(const char *name) {
    int value = 0;
    size_t size = sizeof value;
    return sysctlbyname(name, &value, &size, NULL, 0) == 0 && value != 0;
}
#endif

static int level_in_use = -1;

static int has_level(int level) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    switch (level) {
    case 1: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case 2: return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    case 3: return __builtin_cpu_supports("avxvnni") && __builtin_cpu_supports("fma");
    }
#elif defined(BFFN_TILES_NEON)
    /* NEON (Advanced SIMD) is part of every AArch64 CPU the ABIs allow; the extensions are asked of the system. */
    int dotprod = 0, i8mm = 0;
#if defined(__linux__)
    unsigned long hwcap = getauxval(AT_HWCAP);
#if defined(AT_HWCAP2)
    unsigned long hwcap2 = getauxval(AT_HWCAP2);
#else
    unsigned long hwcap2 = 0;
#endif
    dotprod = (hwcap & BFFN_HWCAP_ASIMDDP) != 0;
    i8mm = (hwcap2 & BFFN_HWCAP2_I8MM) != 0;
#elif defined(__APPLE__)
    dotprod = apple_feature("hw.optional.arm.FEAT_DotProd");
    i8mm = apple_feature("hw.optional.arm.FEAT_I8MM");
#endif
    switch (level) {
    case 4: return 1;
    case 5: return dotprod;
    case 6: return dotprod && i8mm;
    }
#endif
    return level == 0;
}

static int best_level(void) {
    /* BFFN_INT8_LEVEL names another level this CPU has (measuring what a CPU without AVX-512 VNNI runs). */
    const char *asked = getenv("BFFN_INT8_LEVEL");
    for (int l = 0; asked && l <= 6; l++)
        if (strcmp(asked, bffn_intdot_level_name(l)) == 0 && has_level(l)) return l;
    static const int order[] = {2, 3, 1, 6, 5, 4};
    for (int i = 0; i < (int)(sizeof order / sizeof order[0]); i++)
        if (has_level(order[i])) return order[i];
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
    case 4: return "neon";
    case 5: return "neon-dotprod";
    case 6: return "neon-i8mm";
    default: return "portable";
    }
}

int bffn_intdot_use_level(int level) {
    int use = level >= 0 && level <= 6 && has_level(level) ? level : best_level();
    __atomic_store_n(&level_in_use, use, __ATOMIC_RELAXED);
    return use;
}

void bffn_tiles_product(int kind, const uint8_t *const *mats, long count, long tile_begin, long tile_end, long rows, long n,
                        long group, const bffn_int8_activations *a, float *out, long out_stride) {
    if (tile_end <= tile_begin || count <= 0 || a->tokens <= 0) return;
    computed_form f = computed_as(kind, group);
    tile_shape s = bffn_make_tile_shape(f.kind, n, f.group, a->block);
    switch (bffn_intdot_level()) {
#if defined(__x86_64__)
    case 1: bffn_tiles_avx2(&s, mats, count, tile_begin, tile_end, rows, a, out, out_stride); return;
    case 2: bffn_tiles_vnni512(&s, mats, count, tile_begin, tile_end, rows, a, out, out_stride); return;
    case 3: bffn_tiles_vnni256(&s, mats, count, tile_begin, tile_end, rows, a, out, out_stride); return;
#endif
#if defined(BFFN_TILES_NEON)
    case 4: bffn_tiles_neon(&s, mats, count, tile_begin, tile_end, rows, a, out, out_stride); return;
    case 5: bffn_tiles_neon_dotprod(&s, mats, count, tile_begin, tile_end, rows, a, out, out_stride); return;
    case 6: bffn_tiles_neon_i8mm(&s, mats, count, tile_begin, tile_end, rows, a, out, out_stride); return;
#endif
    default: bffn_tiles_portable(&s, mats, count, tile_begin, tile_end, rows, a, out, out_stride); return;
    }
}
