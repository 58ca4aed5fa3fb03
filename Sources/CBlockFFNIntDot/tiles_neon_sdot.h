/* The dot-product primitives of the NEON levels that have SDOT (tiles_neon_dotprod.c, tiles_neon_i8mm.c): one sdot
 * a 4 rows, each lane gaining its row's four byte products (signed x signed, exact in int32). Included after the
 * includer's target("dotprod...") pragma, so these compile for the extension too. */
#ifndef BFFN_TILES_NEON_SDOT_H
#define BFFN_TILES_NEON_SDOT_H
static inline AI VI dot4(VI acc, VB w, const int8_t *x) {
    int8x16_t q = quad(x);
    for (int i = 0; i < 4; i++) acc.v[i] = vdotq_s32(acc.v[i], w.v[i], q);
    return acc;
}
static inline AI VI dot8(VI acc, VW w, const int8_t *x) { return dot4(acc, w, x); }
#endif
