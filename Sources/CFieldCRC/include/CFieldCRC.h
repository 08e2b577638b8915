#ifndef CFIELDCRC_H
#define CFIELDCRC_H

#include <stddef.h>
#include <stdint.h>

/// Non-zero when this CPU computes CRC-32C in hardware (x86 SSE4.2, or ARMv8 built with the CRC extension).
int field_crc32c_hw_available(void);

/// Advances a CRC-32C state (already inverted, i.e. starting at 0xFFFFFFFF) over `n` bytes with the CPU's
/// instruction. Call only when field_crc32c_hw_available() returned non-zero.
uint32_t field_crc32c_hw(uint32_t state, const void *bytes, size_t n);

/// XXH64 of `n` bytes with `seed`: a 64-bit fingerprint of content (not a cryptographic hash). The bundle writer
/// compares fingerprints to store a file identical to its previous capture as a reference.
uint64_t field_hash64(const void *bytes, size_t n, uint64_t seed);

#endif
