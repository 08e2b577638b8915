/*
 * leak-anon: anonymous private mappings (mmap) that are written and never
 * unmapped.
 *
 * The shape of a leak that bypasses malloc: a custom allocator, large
 * buffers, or malloc's own mmap path for big blocks.  Each step maps
 * --step-kib with MAP_PRIVATE|MAP_ANONYMOUS and writes every page.  In
 * /proc/PID/maps the regions are rw-p with no name; the kernel merges
 * neighbours with the same flags, so expect a few regions whose size grows
 * (or a growing count), not exactly one line per step.  RSS follows.
 */
#include "workload.h"

#include <sys/mman.h>

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 100, .interval_ms = 200, .hold_seconds = 5, .step_kib = 256};
    wl_begin("leak-anon", argc, argv, WL_STEP, &o);
    wl_start_line(&o, "step-kib %ld", o.step_kib);

    size_t bytes = (size_t)o.step_kib * 1024;
    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    long mapped = 0;
    for (; mapped < o.count; mapped++) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            fprintf(stderr, "%s: mmap after %ld regions: %s\n", wl_name, mapped, strerror(errno));
            break;
        }
        memset(p, 0xa5, bytes); /* touch every page so it counts in RSS */
        /* The address is dropped here: nothing will ever munmap it. */
        if (mapped + 1 < o.count)
            wl_pace_wait(&pace);
    }

    char what[96];
    snprintf(what, sizeof what, "%ld regions of %ld KiB mapped and never unmapped", mapped,
             o.step_kib);
    wl_hold(&o, what);
    return mapped == o.count ? 0 : 1;
}
