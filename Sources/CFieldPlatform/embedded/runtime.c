// What the Embedded Swift standard library expects from its host beyond the C library (the normal build's Swift
// runtime provides these itself, so only tools/build-agent.sh compiles this file; Package.swift excludes it).
#include "CFieldPlatform.h"

// Double(String): the stdlib parses through this runtime hook and checks that the whole text was consumed. The
// agent never calls setlocale, so strtod runs in the C locale (a '.' decimal point) as the hook's name demands.
const char *_swift_stdlib_strtod_clocale(const char *text, double *result) {
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    // Out of range: strtod returns +-HUGE_VAL or a denormal/zero with ERANGE; Swift's own hook keeps that value.
    *result = value;
    return end;
}

// Embedded Swift seeds its hash tables with arc4random_buf. musl and older C libraries do not have it, and glibc only
// from 2.36 on: linking glibc's would make every glibc build refuse to start on a board with glibc 2.34 or 2.35
// ("GLIBC_2.36 not found"). So the agent always carries its own; weak, so that a static C library that does
// define it (uClibc-ng) does not clash.
#include <sys/syscall.h>
__attribute__((weak)) void arc4random_buf(void *buffer, size_t size) {
    unsigned char *p = buffer;
    while (size > 0) {
        size_t chunk = size > 256 ? 256 : size;
#if defined(SYS_getrandom)
        long got = syscall(SYS_getrandom, p, chunk, 0);
#else
        long got = -1;
#endif
        if (got <= 0) {
            // No getrandom (Linux < 3.17): /dev/urandom, and as a last resort the clock. Hash seeds need
            // unpredictability against flooding, not cryptographic strength.
            int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                got = read(fd, p, chunk);
                close(fd);
            }
            if (got <= 0) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                for (size_t i = 0; i < chunk; i++) p[i] = (unsigned char)((ts.tv_nsec >> (i % 8)) ^ (uintptr_t)p ^ i);
                got = (long)chunk;
            }
        }
        p += got;
        size -= (size_t)got;
    }
}
