/*
 * The importance-weighted scale search (formats/bfpk.md, "Choosing scales"): plain scalar C, every operation
 * written out (no contraction into fused multiply-adds; the decode's fma is explicit), so the chosen scales are
 * the same bits on every instruction set and equal the plain-Swift transcription in the tests.
 */
#include "bffn_quantize.h"
#include <math.h>
#pragma clang fp contract(off)

/* Candidates per search: scale factors nmax - 1 + 0.1 k (symmetric) or 14 + 0.1 k (asymmetric), k = 0...20. */
enum { STEPS = 21 };

static inline float clampf(float q, float lo, float hi) { return q > hi ? hi : (q < lo ? lo : q); }

/* Sum of w_i (q_i * scale - x_i)^2, q_i = round(x_i / scale) in lo...hi, in double, element order. */
static double symmetric_error(const float *x, const float *w, long g, float lo, float hi, float scale) {
    double acc = 0;
    for (long i = 0; i < g; i++) {
        float q = clampf(roundf(x[i] / scale), lo, hi);
        float d = (q + 0.0f) * scale;
        double e = (double)d - (double)x[i];
        acc += (double)w[i] * (e * e);
    }
    return acc;
}

float bffn_search_symmetric(const float *x, const float *w, long g, int hi, int lo, float nearest_scale) {
    float amax = 0;
    for (long i = 0; i < g; i++) {
        float a = fabsf(x[i]);
        if (a > amax) amax = a;
    }
    if (!(amax > 0)) return nearest_scale;
    float best = nearest_scale;
    double best_error = symmetric_error(x, w, g, (float)lo, (float)hi, nearest_scale);
    for (int k = 0; k < STEPS; k++) {
        float iscale = ((float)(hi - 1) + 0.1f * (float)k) / amax;
        /* The codes this grid gives, then the scale that fits them best in the weighted least-squares sense. */
        double num = 0, den = 0;
        for (long i = 0; i < g; i++) {
            double q = (double)clampf(roundf(x[i] * iscale), (float)lo, (float)hi);
            double wq = (double)w[i] * q;
            num += wq * (double)x[i];
            den += wq * q;
        }
        if (!(den > 0)) continue;
        float s = (float)(num / den);
        if (!(s > 0) || !isfinite(s)) continue;
        double e = symmetric_error(x, w, g, (float)lo, (float)hi, s);
        if (e < best_error) {
            best_error = e;
            best = s;
        }
    }
    return best;
}

/* Sum of w_i (fma(q_i, scale, offset) - x_i)^2, q_i = round((x_i - offset) / scale) in 0...15, in double. */
static double asymmetric_error(const float *x, const float *w, long g, float scale, float offset) {
    double acc = 0;
    for (long i = 0; i < g; i++) {
        float q = clampf(roundf((x[i] - offset) / scale), 0.0f, 15.0f);
        float d = fmaf(q, scale, offset);
        double e = (double)d - (double)x[i];
        acc += (double)w[i] * (e * e);
    }
    return acc;
}

void bffn_search_asymmetric(const float *x, const float *w, long g, float *scale, float *offset) {
    float lo = x[0], hi = x[0];
    for (long i = 1; i < g; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (!(hi > lo)) return;
    double best_error = asymmetric_error(x, w, g, *scale, *offset);
    for (int k = 0; k < STEPS; k++) {
        float iscale = (14.0f + 0.1f * (float)k) / (hi - lo);
        /* The codes this grid gives, then the scale and offset that fit them best (weighted least squares). */
        double sw = 0, sl = 0, sl2 = 0, sx = 0, slx = 0;
        for (long i = 0; i < g; i++) {
            double q = (double)clampf(roundf((x[i] - lo) * iscale), 0.0f, 15.0f);
            double wi = (double)w[i], xi = (double)x[i];
            sw += wi;
            sl += wi * q;
            sl2 += wi * q * q;
            sx += wi * xi;
            slx += wi * q * xi;
        }
        double det = sw * sl2 - sl * sl;
        if (!(det > 0)) continue;
        float s = (float)((sw * slx - sl * sx) / det);
        float m = (float)((sl2 * sx - sl * slx) / det);
        if (!(s > 0) || !isfinite(s) || !isfinite(m)) continue;
        double e = asymmetric_error(x, w, g, s, m);
        if (e < best_error) {
            best_error = e;
            *scale = s;
            *offset = m;
        }
    }
}
