/* Header-only target (see include/bffn_unpack.h); SwiftPM needs one source file. */
#include "bffn_unpack.h"
