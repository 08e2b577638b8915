/*
 * leak-unjoined: joinable threads that finish but are never joined.
 *
 * The leak class: a thread created joinable (the default) keeps its stack
 * mapping after it exits until someone calls pthread_join or
 * pthread_detach.  The task itself is gone at once, so /proc/PID/status
 * "Threads:" stays at 1 while /proc/PID/maps gains, per thread, one rw-p
 * region of the stack size plus a ---p guard page below it (glibc; the
 * stack's resident pages are released, so RSS hardly moves).
 *
 * leak-unjoined-small.c includes this file with a 128 KiB stack, the musl
 * default, to show the same leak at the scale small devices see.
 */
#include "workload.h"

#ifndef WORKLOAD_NAME
#define WORKLOAD_NAME "leak-unjoined"
#define DEFAULT_STACK_KIB 0 /* libc default: RLIMIT_STACK on glibc, usually 8 MiB */
#endif
#define THREAD_NAME "unjoined"

static void *short_task(void *arg)
{
    (void)arg;
    wl_name_self(THREAD_NAME);
    return NULL; /* exits at once; nobody will ever join it */
}

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 100, .interval_ms = 200, .hold_seconds = 5,
                        .stack_kib = DEFAULT_STACK_KIB};
    wl_begin(WORKLOAD_NAME, argc, argv, WL_STACK, &o);

    pthread_attr_t attr;
    long stack_kib = wl_thread_attr_or_exit(&attr, o.stack_kib);
    int err;
    wl_start_line(&o, "stack-kib %ld thread-name %s", stack_kib, THREAD_NAME);

    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    long created = 0;
    for (; created < o.count; created++) {
        pthread_t t; /* dropped on purpose: this handle is the only way to join */
        err = pthread_create(&t, &attr, short_task, NULL);
        if (err) {
            fprintf(stderr, "%s: pthread_create after %ld threads: %s\n", wl_name, created,
                    strerror(err));
            break;
        }
        if (created + 1 < o.count)
            wl_pace_wait(&pace);
    }
    pthread_attr_destroy(&attr);

    char what[96];
    snprintf(what, sizeof what, "%ld threads created, none joined", created);
    wl_hold(&o, what);
    return created == o.count ? 0 : 1;
}
