/*
 * leak-growing: the same thread is started again and again and none of
 * them ever finishes.
 *
 * The leak class: code that spawns a worker per event (per connection, per
 * retry ...) where the worker blocks forever.  /proc/PID/status "Threads:"
 * climbs by one per step and /proc/PID/task/<tid>/comm shows one name,
 * "worker", multiplying; maps gains one live stack (plus guard) per thread.
 * The healthy twin is ok-pool: the same name, a flat count.
 */
#include "workload.h"

#define THREAD_NAME "worker"

static void *stuck_worker(void *arg)
{
    (void)arg;
    wl_name_self(THREAD_NAME);
    /* Waits for an event that never comes.  The process's exit at the end ends it. */
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 50, .interval_ms = 400, .hold_seconds = 5, .stack_kib = 0};
    wl_begin("leak-growing", argc, argv, WL_STACK, &o);

    pthread_attr_t attr;
    long stack_kib = wl_thread_attr_or_exit(&attr, o.stack_kib);
    int err;
    /* Detached: the leak here is the live thread, not an unjoined stack. */
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    wl_start_line(&o, "stack-kib %ld thread-name %s", stack_kib, THREAD_NAME);

    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    long created = 0;
    for (; created < o.count; created++) {
        pthread_t t;
        err = pthread_create(&t, &attr, stuck_worker, NULL);
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
    snprintf(what, sizeof what, "%ld '%s' threads alive", created, THREAD_NAME);
    wl_hold(&o, what);
    /* Returning from main ends the process and with it every blocked worker. */
    return created == o.count ? 0 : 1;
}
