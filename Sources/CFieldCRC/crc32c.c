// Hardware CRC-32C. The instructions compute exactly the Castagnoli polynomial (0x1EDC6F41, reflected
// 0x82F63B78) on the raw state, so the caller keeps the usual init/final inversion.
#include "CFieldCRC.h"

#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

int field_crc32c_hw_available(void) { return __builtin_cpu_supports("sse4.2"); }

__attribute__((target("sse4.2")))
uint32_t field_crc32c_hw(uint32_t state, const void *bytes, size_t n) {
    const unsigned char *p = bytes;
    uint64_t c = state;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}

#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
// Only when the toolchain targets the CRC extension (e.g. -march=armv8-a+crc); otherwise the Swift tables run.
#include <arm_acle.h>

int field_crc32c_hw_available(void) { return 1; }

uint32_t field_crc32c_hw(uint32_t state, const void *bytes, size_t n) {
    const unsigned char *p = bytes;
    uint32_t c = state;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __crc32cd(c, v);
        p += 8;
        n -= 8;
    }
    while (n--) c = __crc32cb(c, *p++);
    return c;
}

#else

int field_crc32c_hw_available(void) { return 0; }

uint32_t field_crc32c_hw(uint32_t state, const void *bytes, size_t n) {
    (void)bytes;
    (void)n;
    return state;
}

#endif
