/*
 * ok-pool: healthy twin of leak-growing.  A fixed pool of threads, all
 * named "worker" like leak-growing's, lives the whole run and does a small
 * piece of work on every step.
 *
 * What a sampler should see: "Threads:" at pool size + 1 from start to end,
 * the name "worker" repeated but not multiplying, one live stack region per
 * worker and no growth in maps.
 */
#include "workload.h"

#define THREAD_NAME "worker"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static long round_no; /* bumped by main for each step */
static int stopping;
static volatile unsigned long sink; /* keeps the work from being optimised away */

static void *pool_worker(void *arg)
{
    (void)arg;
    wl_name_self(THREAD_NAME);
    long seen = 0;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (!stopping && round_no == seen)
            pthread_cond_wait(&wake, &lock);
        int stop = stopping;
        seen = round_no;
        pthread_mutex_unlock(&lock);
        if (stop)
            return NULL;
        /* The work: a little arithmetic on the thread's own stack, no allocation. */
        unsigned char buf[4096];
        unsigned long sum = 0;
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = (unsigned char)(i * (unsigned long)seen);
        for (size_t i = 0; i < sizeof buf; i++)
            sum += buf[i];
        sink += sum;
    }
}

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 100, .interval_ms = 200, .hold_seconds = 5, .stack_kib = 0,
                        .threads = 8};
    wl_begin("ok-pool", argc, argv, WL_STACK | WL_THREADS, &o);

    pthread_attr_t attr;
    long stack_kib = wl_thread_attr_or_exit(&attr, o.stack_kib);
    int err;
    wl_start_line(&o, "stack-kib %ld threads %ld thread-name %s", stack_kib, o.threads,
                  THREAD_NAME);

    pthread_t *pool = calloc((size_t)o.threads, sizeof *pool);
    if (!pool) {
        perror(wl_name);
        return 1;
    }
    long started = 0;
    for (; started < o.threads; started++) {
        err = pthread_create(&pool[started], &attr, pool_worker, NULL);
        if (err) {
            fprintf(stderr, "%s: pthread_create: %s\n", wl_name, strerror(err));
            break;
        }
    }
    pthread_attr_destroy(&attr);

    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    for (long step = 0; step < o.count; step++) {
        pthread_mutex_lock(&lock);
        round_no++;
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&lock);
        if (step + 1 < o.count)
            wl_pace_wait(&pace);
    }

    char what[96];
    snprintf(what, sizeof what, "%ld workers ran %ld rounds", started, o.count);
    wl_hold(&o, what);

    /* A healthy pool shuts down cleanly: wake everyone, join everyone. */
    pthread_mutex_lock(&lock);
    stopping = 1;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    for (long i = 0; i < started; i++)
        pthread_join(pool[i], NULL);
    free(pool);
    return started == o.threads ? 0 : 1;
}
