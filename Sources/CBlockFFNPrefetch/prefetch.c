/* Header-only: see include/bffn_prefetch.h. */
