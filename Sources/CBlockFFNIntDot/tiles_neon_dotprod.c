/* The tile product with the NEON dot product extension (ARMv8.2 DotProd, FEAT_DotProd): one sdot a 4 rows, each
 * lane gaining its row's four byte products (signed x signed, exact in int32). Compiled for dotprod and called
 * only where the CPU reports it. */
#include "tiles_internal.h"
#if defined(BFFN_TILES_NEON)
#include "tiles_neon.h"
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)

#pragma STDC FP_CONTRACT OFF

#include "tiles_neon_sdot.h"

#define KERNEL bffn_tiles_neon_dotprod
#include "tile_kernel.h"
#pragma clang attribute pop
#endif
