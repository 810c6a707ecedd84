#ifndef WALINK_CZLIB_SHIM_H
#define WALINK_CZLIB_SHIM_H
#include <zlib.h>

/// `inflateInit` is a macro; Swift cannot call it.
static inline int CZlib_inflateInit(z_streamp stream) {
    return inflateInit(stream);
}

/// `deflateInit` is a macro; Swift cannot call it.
static inline int CZlib_deflateInit(z_streamp stream, int level) {
    return deflateInit(stream, level);
}
#endif
