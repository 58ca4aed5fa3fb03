/*
 * The super-block row encoders (formats/bfpk.md, "Q4K rows" ... "Q3K rows"). q4k: super-blocks of up to 256 elements,
 * each with a float16 scale d and min dmin, per sub-block of 32 a 6-bit scale sc and min m, 4-bit codes; value =
 * fma(q, d*sc, 0 - dmin*m). q5k, q6k and q3k: symmetric, below.
 * Plain scalar C with every operation written out (no contraction), so the bytes are the same on every machine and
 * equal the plain-Swift transcription in the tests.
 */
#include "bffn_quantize.h"
#include <math.h>
#include <string.h>
#pragma clang fp contract(off)

enum { SUB = 32, SUPER = 256 };

/* Adds one element's signal and error (v its decoded value) to the row's sums, without contraction. */
static inline void add_error(bffn_error_sums *err, float x, float v) {
    float diff = v - x;
    err->signal += (double)x * x;
    err->noise += (double)diff * diff;
    float a = diff < 0 ? -diff : diff;
    if (a > err->max_abs) err->max_abs = a;
}

static inline float clampf(float q, float lo, float hi) { return q > hi ? hi : (q < lo ? lo : q); }

long bffn_q4k_row_bytes(long n) { return 4 * ((n + SUPER - 1) / SUPER) + (3 * (n / SUB) + 1) / 2 + n / 2; }

/* float -> float16, round to nearest even, at most the largest finite float16 (65504). */
static inline uint16_t half_bits(float x) {
    _Float16 h = (_Float16)(x < 65504.0f ? x : 65504.0f);
    uint16_t u;
    memcpy(&u, &h, 2);
    return u;
}
static inline float half_value(uint16_t u) { _Float16 h; memcpy(&h, &u, 2); return (float)h; }

/* Checks the arguments every super-block encoder takes: n a positive multiple of the sub-block size `sub`, a known
 * search, and column statistics when the search uses them. */
static int arguments_ok(long n, long sub, int search, const float *importance) {
    if (n <= 0 || n % sub != 0) return 0;
    if (search != BFFN_SEARCH_NONE && search != BFFN_SEARCH_SQUARES && search != BFFN_SEARCH_COLUMNS) return 0;
    return search != BFFN_SEARCH_COLUMNS || importance != NULL;
}

/* The importance weights of one super-block's values: the column statistics, x², or 1. */
static void super_block_weights(const float *xb, const float *importance, long count, int search, float *w) {
    for (long i = 0; i < count; i++)
        w[i] = search == BFFN_SEARCH_COLUMNS ? importance[i] : search == BFFN_SEARCH_SQUARES ? xb[i] * xb[i] : 1.0f;
}

/* Sets the `width` low bits of value at bit `bit` of a zeroed table read as one little-endian bit string (the
 * sub-block fields of q4k, q5k and q3k, the high code bits of q5k and q6k). */
static inline void put_bits(uint8_t *table, long bit, unsigned value, int width) {
    for (int t = 0; t < width; t++)
        if (value >> t & 1u) table[(bit + t) >> 3] |= (uint8_t)(1u << ((bit + t) & 7));
}

/* The code of x on the grid (s, o): round((x - o) / s) in 0...15, 0 when s is 0. */
static inline float code(float x, float s, float o) { return s > 0.0f ? clampf(roundf((x - o) / s), 0.0f, 15.0f) : 0.0f; }

/* Sum of w_i (fma(q_i, s, o) - x_i)^2 over one sub-block, in double, element order. */
static double sub_error(const float *x, const float *w, float s, float o) {
    double acc = 0;
    for (int i = 0; i < SUB; i++) {
        double e = (double)fmaf(code(x[i], s, o), s, o) - (double)x[i];
        acc += (double)w[i] * (e * e);
    }
    return acc;
}

int bffn_encode_q4k_row(const float *x, long n, int search, const float *importance, uint8_t *out, float *decoded,
                        bffn_error_sums *err) {
    if (!arguments_ok(n, SUB, search, importance)) return -1;
    long supers = (n + SUPER - 1) / SUPER, subs = n / SUB;
    uint8_t *table = out + 4 * supers, *codes = table + (3 * subs + 1) / 2;
    memset(out, 0, (size_t)bffn_q4k_row_bytes(n));
    for (long b = 0; b < supers; b++) {
        long j0 = b * (SUPER / SUB), k = subs - j0 < SUPER / SUB ? subs - j0 : SUPER / SUB;
        float scale[SUPER / SUB], mins[SUPER / SUB], w[SUPER];
        const float *xb = x + j0 * SUB;
        super_block_weights(xb, importance ? importance + j0 * SUB : NULL, k * SUB, search, w);
        /* 1. each sub-block's scale and offset: round to nearest, the weighted search, the offset at most 0. */
        float maxs = 0.0f, maxm = 0.0f;
        for (long j = 0; j < k; j++) {
            const float *xs = xb + j * SUB;
            float lo = xs[0], hi = xs[0];
            for (int i = 1; i < SUB; i++) {
                if (xs[i] < lo) lo = xs[i];
                if (xs[i] > hi) hi = xs[i];
            }
            float s = hi > lo ? (hi - lo) / 15.0f : 0.0f, o = lo;
            if (search != BFFN_SEARCH_NONE) bffn_search_asymmetric(xs, w + j * SUB, SUB, &s, &o);
            if (o > 0.0f) {
                o = 0.0f;
                s = hi > 0.0f ? hi / 15.0f : 0.0f;
            }
            scale[j] = s;
            mins[j] = 0.0f - o;
            if (scale[j] > maxs) maxs = scale[j];
            if (mins[j] > maxm) maxm = mins[j];
        }
        /* 2. the float16 super-block scales, then 6-bit sub-block codes: the rounded pair or a neighbour. */
        uint16_t dh = half_bits(maxs / 63.0f), mh = half_bits(maxm / 63.0f);
        memcpy(out + 4 * b, &dh, 2);
        memcpy(out + 4 * b + 2, &mh, 2);
        float d = half_value(dh), dmin = half_value(mh);
        for (long j = 0; j < k; j++) {
            const float *xs = xb + j * SUB, *ws = w + j * SUB;
            int sc0 = d > 0.0f ? (int)clampf(roundf(scale[j] / d), 0.0f, 63.0f) : 0;
            int m0 = dmin > 0.0f ? (int)clampf(roundf(mins[j] / dmin), 0.0f, 63.0f) : 0;
            static const int step[3] = {0, -1, 1};
            int best_sc = sc0, best_m = m0;
            double best = sub_error(xs, ws, d * (float)sc0, 0.0f - dmin * (float)m0);
            for (int a = 0; a < 3; a++)
                for (int c = 0; c < 3; c++) {
                    int sc = sc0 + step[a], m = m0 + step[c];
                    if ((a == 0 && c == 0) || sc < 0 || sc > 63 || m < 0 || m > 63) continue;
                    double e = sub_error(xs, ws, d * (float)sc, 0.0f - dmin * (float)m);
                    if (e < best) {
                        best = e;
                        best_sc = sc;
                        best_m = m;
                    }
                }
            put_bits(table, 12 * (j0 + j), (unsigned)best_sc | (unsigned)best_m << 6, 12);
            /* 3. the codes on the chosen grid. */
            float s = d * (float)best_sc, o = 0.0f - dmin * (float)best_m;
            for (int i = 0; i < SUB; i++) {
                long e = (j0 + j) * SUB + i;
                float q = code(xs[i], s, o), v = fmaf(q, s, o);
                codes[e / 2] |= (uint8_t)((unsigned)q << (4 * (e % 2)));
                if (decoded) decoded[e] = v;
                add_error(err, xs[i], v);
            }
        }
    }
    return 0;
}

/* ---- q5k and q6k (formats/bfpk.md, "Q5K rows", "Q6K rows"): symmetric 5- and 6-bit codes, value = q * (d * sc) ---- */


/* The code of x on the grid s: round(x / s) in -(nmax + 1)...nmax, 0 when s is 0 (q5k: nmax 15; q6k: 31). */
static inline float code_sym(float x, float s, int nmax) {
    return s > 0.0f ? clampf(roundf(x / s), (float)(-nmax - 1), (float)nmax) : 0.0f;
}

static double sub_error_sym(const float *x, const float *w, float s, int nmax) {
    double acc = 0;
    for (int i = 0; i < SUB; i++) {
        double e = (double)((code_sym(x[i], s, nmax) + 0.0f) * s) - (double)x[i];
        acc += (double)w[i] * (e * e);
    }
    return acc;
}

/* Steps 1 and 2 of the symmetric super-block formats (q5k, q6k), for the k sub-blocks of SUB values at xb with
 * weights w: each sub-block's scale max|x| / nmax (0 for zeros), then the weighted search over codes
 * -(nmax + 1)...nmax; the float16 super-block scale d = max scale / scmax; each sub-block's scale code in 0...scmax,
 * the rounded one or a neighbour (the smallest error; a later one replaces only when strictly smaller). Writes the
 * codes to sc and returns d's bits. */
static uint16_t choose_symmetric_scales(const float *xb, const float *w, long k, int search, int nmax, int scmax, int *sc) {
    float scale[SUPER / SUB], maxs = 0.0f;
    for (long j = 0; j < k; j++) {
        const float *xs = xb + j * SUB;
        float amax = 0.0f;
        for (int i = 0; i < SUB; i++) {
            float a = fabsf(xs[i]);
            if (a > amax) amax = a;
        }
        float s = amax / (float)nmax;
        if (search != BFFN_SEARCH_NONE && amax > 0.0f) s = bffn_search_symmetric(xs, w + j * SUB, SUB, nmax, -nmax - 1, s);
        scale[j] = s;
        if (s > maxs) maxs = s;
    }
    uint16_t dh = half_bits(maxs / (float)scmax);
    float d = half_value(dh);
    for (long j = 0; j < k; j++) {
        const float *xs = xb + j * SUB, *ws = w + j * SUB;
        int sc0 = d > 0.0f ? (int)clampf(roundf(scale[j] / d), 0.0f, (float)scmax) : 0, best_sc = sc0;
        double best = sub_error_sym(xs, ws, d * (float)sc0, nmax);
        static const int step[2] = {-1, 1};
        for (int a = 0; a < 2; a++) {
            int c = sc0 + step[a];
            if (c < 0 || c > scmax) continue;
            double e = sub_error_sym(xs, ws, d * (float)c, nmax);
            if (e < best) {
                best = e;
                best_sc = c;
            }
        }
        sc[j] = best_sc;
    }
    return dh;
}

/* The layout of a symmetric super-block format: codes q in -(nmax + 1)...nmax stored as u = q + nmax + 1, the low four
 * bits as nibbles and the rest (`high_bits`) in a plane after them; sub-block scale codes of `scale_bits` bits in
 * 0...scmax in a table after the float16 scales. */
typedef struct {
    int nmax, scmax, scale_bits, high_bits;
} symmetric_layout;

static const symmetric_layout q5k_layout = {15, 63, 6, 1}, q6k_layout = {31, 255, 8, 2};

static long symmetric_row_bytes(long n, symmetric_layout f) {
    return 2 * ((n + SUPER - 1) / SUPER) + (f.scale_bits * (n / SUB) + 7) / 8 + n / 2 + n * f.high_bits / 8;
}

long bffn_q5k_row_bytes(long n) { return symmetric_row_bytes(n, q5k_layout); }
long bffn_q6k_row_bytes(long n) { return symmetric_row_bytes(n, q6k_layout); }

/* Encodes one row of a symmetric super-block format (q5k, q6k): per super-block the weights, the scales
 * (choose_symmetric_scales), then each sub-block's scale code and its codes on the chosen grid. */
static int encode_symmetric_row(const float *x, long n, int search, const float *importance, uint8_t *out, float *decoded,
                                bffn_error_sums *err, symmetric_layout f) {
    if (!arguments_ok(n, SUB, search, importance)) return -1;
    long supers = (n + SUPER - 1) / SUPER, subs = n / SUB;
    uint8_t *table = out + 2 * supers, *low = table + (f.scale_bits * subs + 7) / 8, *high = low + n / 2;
    memset(out, 0, (size_t)symmetric_row_bytes(n, f));
    for (long b = 0; b < supers; b++) {
        long j0 = b * (SUPER / SUB), k = subs - j0 < SUPER / SUB ? subs - j0 : SUPER / SUB;
        float w[SUPER];
        int sc[SUPER / SUB];
        const float *xb = x + j0 * SUB;
        super_block_weights(xb, importance ? importance + j0 * SUB : NULL, k * SUB, search, w);
        /* 1-2. the sub-block scales and the float16 super-block scale with the sub-block scale codes. */
        uint16_t dh = choose_symmetric_scales(xb, w, k, search, f.nmax, f.scmax, sc);
        memcpy(out + 2 * b, &dh, 2);
        float d = half_value(dh);
        for (long j = 0; j < k; j++) {
            const float *xs = xb + j * SUB;
            put_bits(table, f.scale_bits * (j0 + j), (unsigned)sc[j], f.scale_bits);
            /* 3. the codes: u = q + nmax + 1, the low four bits as nibbles, the rest in the high plane. */
            float s = d * (float)sc[j];
            for (int i = 0; i < SUB; i++) {
                long e = (j0 + j) * SUB + i;
                float q = code_sym(xs[i], s, f.nmax), v = (q + 0.0f) * s;
                unsigned u = (unsigned)((int)q + f.nmax + 1);
                low[e / 2] |= (uint8_t)((u & 15u) << (4 * (e % 2)));
                put_bits(high, e * f.high_bits, u >> 4, f.high_bits);
                if (decoded) decoded[e] = v;
                add_error(err, xs[i], v);
            }
        }
    }
    return 0;
}

/* q5k (formats/bfpk.md, "Q5K rows"): value = (u - 16) * (d * sc), 6-bit sc, one high bit per code. */
int bffn_encode_q5k_row(const float *x, long n, int search, const float *importance, uint8_t *out, float *decoded,
                        bffn_error_sums *err) {
    return encode_symmetric_row(x, n, search, importance, out, decoded, err, q5k_layout);
}

/* q6k (formats/bfpk.md, "Q6K rows"): value = (u - 32) * (d * sc), 8-bit sc, two high bits per code. */
int bffn_encode_q6k_row(const float *x, long n, int search, const float *importance, uint8_t *out, float *decoded,
                        bffn_error_sums *err) {
    return encode_symmetric_row(x, n, search, importance, out, decoded, err, q6k_layout);
}

/* ---- q3k (formats/bfpk.md, "Q3K rows"): 3-bit codes u in sub-blocks of 16, each with a 5-bit scale sc and a
 * mirror bit: value = c * (d * sc), c = u - 4 (codes -4...3), or c = 4 - u when mirrored (-3...4) ---- */

enum { SUB3 = 16 };

long bffn_q3k_row_bytes(long n) { return 2 * ((n + SUPER - 1) / SUPER) + (6 * (n / SUB3) + 7) / 8 + n / 4 + n / 8; }

/* The code of y on the grid s: round(y / s) in -4...3, 0 when s is 0. */
static inline float code3(float y, float s) { return s > 0.0f ? clampf(roundf(y / s), -4.0f, 3.0f) : 0.0f; }

/* Sum of w_i (c_i s - x_i)^2 over one sub-block, in double, element order: the codes of y = x, or of y = -x when
 * mirrored (the decoded value is then -(q s), whose error from x is the error of q s from -x). */
static double sub_error3(const float *x, const float *w, float s, int mirror) {
    double acc = 0;
    for (int i = 0; i < SUB3; i++) {
        float y = mirror ? 0.0f - x[i] : x[i];
        double e = (double)((code3(y, s) + 0.0f) * s) - (double)y;
        acc += (double)w[i] * (e * e);
    }
    return acc;
}

int bffn_encode_q3k_row(const float *x, long n, int search, const float *importance, uint8_t *out, float *decoded,
                        bffn_error_sums *err) {
    if (!arguments_ok(n, SUB3, search, importance)) return -1;
    long supers = (n + SUPER - 1) / SUPER, subs = n / SUB3;
    uint8_t *table = out + 2 * supers, *low = table + (6 * subs + 7) / 8, *high = low + n / 4;
    memset(out, 0, (size_t)bffn_q3k_row_bytes(n));
    for (long b = 0; b < supers; b++) {
        long j0 = b * (SUPER / SUB3), k = subs - j0 < SUPER / SUB3 ? subs - j0 : SUPER / SUB3;
        float scale[SUPER / SUB3], w[SUPER];
        int mirror[SUPER / SUB3];
        const float *xb = x + j0 * SUB3;
        super_block_weights(xb, importance ? importance + j0 * SUB3 : NULL, k * SUB3, search, w);
        /* 1. each sub-block's scale and mirror: max|x| / 4 (0 for zeros), with the weighted search over codes -4...3
         *    on x and on -x; the mirrored grid when it has the strictly smaller error. */
        float maxs = 0.0f;
        for (long j = 0; j < k; j++) {
            const float *xs = xb + j * SUB3, *ws = w + j * SUB3;
            float amax = 0.0f, neg[SUB3];
            for (int i = 0; i < SUB3; i++) {
                float a = fabsf(xs[i]);
                if (a > amax) amax = a;
                neg[i] = 0.0f - xs[i];
            }
            float s = amax / 4.0f, plus = s, minus = s;
            if (search != BFFN_SEARCH_NONE && amax > 0.0f) {
                plus = bffn_search_symmetric(xs, ws, SUB3, 3, -4, s);
                minus = bffn_search_symmetric(neg, ws, SUB3, 3, -4, s);
            }
            mirror[j] = sub_error3(xs, ws, minus, 1) < sub_error3(xs, ws, plus, 0);
            scale[j] = mirror[j] ? minus : plus;
            if (scale[j] > maxs) maxs = scale[j];
        }
        /* 2. the float16 super-block scale, then each 5-bit sub-block scale: the rounded one or a neighbour. */
        uint16_t dh = half_bits(maxs / 31.0f);
        memcpy(out + 2 * b, &dh, 2);
        float d = half_value(dh);
        for (long j = 0; j < k; j++) {
            const float *xs = xb + j * SUB3, *ws = w + j * SUB3;
            int sc0 = d > 0.0f ? (int)clampf(roundf(scale[j] / d), 0.0f, 31.0f) : 0, best_sc = sc0;
            double best = sub_error3(xs, ws, d * (float)sc0, mirror[j]);
            static const int step[2] = {-1, 1};
            for (int a = 0; a < 2; a++) {
                int sc = sc0 + step[a];
                if (sc < 0 || sc > 31) continue;
                double e = sub_error3(xs, ws, d * (float)sc, mirror[j]);
                if (e < best) {
                    best = e;
                    best_sc = sc;
                }
            }
            put_bits(table, 6 * (j0 + j), (unsigned)best_sc | (unsigned)mirror[j] << 5, 6);
            /* 3. the codes: u = q + 4 in 0...7 (q the code of x, or of -x when mirrored), the low two bits in the
             *    two-bit plane, bit 2 in the bit plane; the decoded value c * s with c = q, or -q when mirrored. */
            float s = d * (float)best_sc;
            for (int i = 0; i < SUB3; i++) {
                long e = (j0 + j) * SUB3 + i;
                int q = (int)code3(mirror[j] ? 0.0f - xs[i] : xs[i], s);
                unsigned u = (unsigned)(q + 4);
                float v = (float)(mirror[j] ? -q : q) * s;
                low[e / 4] |= (uint8_t)((u & 3u) << (2 * (e % 4)));
                high[e / 8] |= (uint8_t)((u >> 2) << (e % 8));
                if (decoded) decoded[e] = v;
                add_error(err, xs[i], v);
            }
        }
    }
    return 0;
}
