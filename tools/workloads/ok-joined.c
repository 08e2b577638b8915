/*
 * ok-joined: healthy twin of leak-unjoined.  Each round starts a few
 * threads that do a little work and exit, and joins every one of them.
 *
 * What a sampler should see: "Threads:" back to 1 between rounds and a
 * bounded number of stack-sized regions in /proc/PID/maps.  Stack regions
 * may outnumber live threads here, because glibc keeps the stacks of
 * joined threads in a cache (up to 40 MiB) to reuse them; a detector must
 * allow for that and look for growth, which never comes.
 */
#include "workload.h"

#include <stdint.h>

#define THREAD_NAME "joined"

static void *short_task(void *arg)
{
    wl_name_self(THREAD_NAME);
    /* Brief work so that the threads of one round overlap and need their own stacks. */
    wl_sleep_ms((long)(intptr_t)arg); /* milliseconds, passed by value */
    return NULL;
}

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 100, .interval_ms = 200, .hold_seconds = 5, .stack_kib = 0,
                        .threads = 4};
    wl_begin("ok-joined", argc, argv, WL_STACK | WL_THREADS, &o);

    pthread_attr_t attr;
    long stack_kib = wl_thread_attr_or_exit(&attr, o.stack_kib);
    int err;
    wl_start_line(&o, "stack-kib %ld threads %ld thread-name %s", stack_kib, o.threads,
                  THREAD_NAME);

    pthread_t *round = calloc((size_t)o.threads, sizeof *round);
    if (!round) {
        perror(wl_name);
        return 1;
    }
    long work_ms = o.interval_ms / 4 < 10 ? o.interval_ms / 4 : 10;
    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    long rounds = 0, total = 0;
    int failed = 0;
    for (; rounds < o.count && !failed; rounds++) {
        long started = 0;
        for (; started < o.threads; started++) {
            err = pthread_create(&round[started], &attr, short_task, (void *)(intptr_t)work_ms);
            if (err) {
                fprintf(stderr, "%s: pthread_create: %s\n", wl_name, strerror(err));
                failed = 1;
                break;
            }
        }
        for (long i = 0; i < started; i++)
            pthread_join(round[i], NULL);
        total += started;
        if (rounds + 1 < o.count)
            wl_pace_wait(&pace);
    }
    pthread_attr_destroy(&attr);
    free(round);

    char what[96];
    snprintf(what, sizeof what, "%ld threads created in %ld rounds, all joined", total, rounds);
    wl_hold(&o, what);
    return failed;
}
