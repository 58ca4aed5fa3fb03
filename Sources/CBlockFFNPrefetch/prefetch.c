/* Header-only module: include/bffn_prefetch.h. */
