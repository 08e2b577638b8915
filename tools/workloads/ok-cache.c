/*
 * ok-cache: healthy twin of leak-heap.  A cache warms up, then stays at its
 * bound: for the first --threads steps (default 10) each step adds --step-kib
 * of heap; from then on each step evicts the oldest entry and inserts a new
 * one of the same size, so the heap rises, then levels off and stays flat
 * while the program keeps allocating and freeing.
 *
 * What a sampler should see: [heap] and VmRSS ramp up over the first steps,
 * then a plateau to the end of the run.  A leak detector must see a warm-up,
 * not a leak.
 */
#include "workload.h"

#include <malloc.h>

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 100, .interval_ms = 200, .hold_seconds = 5, .step_kib = 256, .threads = 10};
    wl_begin("ok-cache", argc, argv, WL_STEP | WL_THREADS, &o);
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 512 * 1024); /* the entries come from the heap, as in leak-heap */
#endif
    long entries = o.threads;
    wl_start_line(&o, "step-kib %ld entries %ld", o.step_kib, entries);
    char **cache = calloc((size_t)entries, sizeof *cache);
    if (!cache) {
        perror(wl_name);
        return 1;
    }
    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    size_t bytes = (size_t)o.step_kib * 1024;
    for (long step = 0; step < o.count; step++) {
        long slot = step % entries;
        free(cache[slot]); /* the oldest entry, once the cache is full */
        cache[slot] = malloc(bytes);
        if (!cache[slot]) {
            fprintf(stderr, "%s: malloc failed\n", wl_name);
            return 1;
        }
        memset(cache[slot], (int)(step & 0xff), bytes);
        if (step + 1 < o.count)
            wl_pace_wait(&pace);
    }
    wl_hold(&o, "cache at its bound");
    return 0;
}
