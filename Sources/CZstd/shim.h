#ifndef FIELD_CZSTD_SHIM_H
#define FIELD_CZSTD_SHIM_H

// Streaming API with advanced parameters (ZSTD_c_windowLog, ZSTD_d_windowLogMax) is stable since 1.4.0.
#include <zstd.h>
#include <zstd_errors.h>

#endif
