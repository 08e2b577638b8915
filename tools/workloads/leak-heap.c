/*
 * leak-heap: malloc'd memory that is written and never freed.
 *
 * Each step allocates --step-kib in 64 KiB blocks and writes every byte,
 * so the pages become resident.  64 KiB is below glibc's mmap threshold,
 * which this program also pins at 512 KiB (otherwise glibc moves it
 * on its own), so the blocks come from the main arena: /proc/PID/maps shows
 * [heap] growing step by step and "VmRSS"/"RssAnon" in status follow it.
 */
#include "workload.h"

#include <malloc.h>

#define BLOCK_KIB 64

/*
 * The blocks are chained into a list that is only ever appended to, the
 * shape of many real leaks (a cache or queue nobody trims).  Keeping them
 * reachable also stops the compiler from proving the memory unused.
 */
struct block {
    struct block *next;
};
static struct block *volatile kept;

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 100, .interval_ms = 200, .hold_seconds = 5, .step_kib = 256};
    wl_begin("leak-heap", argc, argv, WL_STEP, &o);
#ifdef M_MMAP_THRESHOLD
    /* A fixed threshold also turns off glibc's sliding threshold; 512 KiB is allowed on 32-bit too. */
    mallopt(M_MMAP_THRESHOLD, 512 * 1024);
#endif
    wl_start_line(&o, "step-kib %ld block-kib %d", o.step_kib, BLOCK_KIB);

    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    long step = 0, kib = 0;
    int failed = 0;
    for (; step < o.count && !failed; step++) {
        for (long left = o.step_kib; left > 0; left -= BLOCK_KIB) {
            size_t bytes = (size_t)(left < BLOCK_KIB ? left : BLOCK_KIB) * 1024;
            struct block *b = malloc(bytes);
            if (!b) {
                fprintf(stderr, "%s: malloc failed after %ld KiB\n", wl_name, kib);
                failed = 1;
                break;
            }
            memset(b, 0x5a, bytes); /* touch every page so it counts in RSS */
            b->next = kept;
            kept = b;
            kib += (long)(bytes / 1024);
        }
        if (step + 1 < o.count && !failed)
            wl_pace_wait(&pace);
    }

    char what[96];
    snprintf(what, sizeof what, "%ld KiB allocated and never freed", kib);
    wl_hold(&o, what);
    return failed;
}
