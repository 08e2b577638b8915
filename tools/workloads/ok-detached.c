/*
 * ok-detached: healthy twin of leak-unjoined.  Threads are created
 * detached and exit; the C library reclaims each stack as the thread ends
 * (glibc puts it in its stack cache, up to 40 MiB, and reuses it).
 *
 * What a sampler should see: "Threads:" near 1 and a small, flat number of
 * stack-sized regions in /proc/PID/maps, however many threads were started.
 */
#include "workload.h"

#include <stdint.h>

#define THREAD_NAME "detached"

static void *short_task(void *arg)
{
    wl_name_self(THREAD_NAME);
    wl_sleep_ms((long)(intptr_t)arg); /* milliseconds, passed by value */
    return NULL;
}

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 100, .interval_ms = 200, .hold_seconds = 5, .stack_kib = 0,
                        .threads = 4};
    wl_begin("ok-detached", argc, argv, WL_STACK | WL_THREADS, &o);

    pthread_attr_t attr;
    long stack_kib = wl_thread_attr_or_exit(&attr, o.stack_kib);
    int err;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    wl_start_line(&o, "stack-kib %ld threads %ld thread-name %s", stack_kib, o.threads,
                  THREAD_NAME);

    /* A few threads per step, each living a fraction of the interval, so some overlap. */
    long work_ms = o.interval_ms / 4 < 10 ? o.interval_ms / 4 : 10;
    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    long steps = 0, total = 0;
    int failed = 0;
    for (; steps < o.count && !failed; steps++) {
        for (long i = 0; i < o.threads; i++, total++) {
            pthread_t t;
            err = pthread_create(&t, &attr, short_task, (void *)(intptr_t)work_ms);
            if (err) {
                fprintf(stderr, "%s: pthread_create: %s\n", wl_name, strerror(err));
                failed = 1;
                break;
            }
        }
        if (steps + 1 < o.count)
            wl_pace_wait(&pace);
    }
    pthread_attr_destroy(&attr);

    char what[96];
    snprintf(what, sizeof what, "%ld detached threads created in %ld steps", total, steps);
    wl_hold(&o, what);
    return failed;
}
