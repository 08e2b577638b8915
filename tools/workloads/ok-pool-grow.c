/*
 * ok-pool-grow: healthy twin of leak-growing.  A pool of "worker" threads
 * grows by one thread per step until it has --threads (default 8), then
 * stays at that size; every worker blocks until the end of the run.
 *
 * What a sampler should see: "Threads:" rising 2, 3, ... to threads + 1 over
 * the first steps, then flat to the end; the name "worker" multiplying, then
 * stopping.
 */
#include "workload.h"

#define THREAD_NAME "worker"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static int stopping;

static void *pool_worker(void *arg)
{
    (void)arg;
    wl_name_self(THREAD_NAME);
    pthread_mutex_lock(&lock);
    while (!stopping)
        pthread_cond_wait(&done, &lock);
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 100, .interval_ms = 200, .hold_seconds = 5, .stack_kib = 0, .threads = 8};
    wl_begin("ok-pool-grow", argc, argv, WL_STACK | WL_THREADS, &o);
    pthread_attr_t attr;
    long stack_kib = wl_thread_attr_or_exit(&attr, o.stack_kib);
    wl_start_line(&o, "stack-kib %ld threads %ld thread-name %s", stack_kib, o.threads, THREAD_NAME);
    pthread_t *pool = calloc((size_t)o.threads, sizeof *pool);
    if (!pool) {
        perror(wl_name);
        return 1;
    }
    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    long started = 0;
    for (long step = 0; step < o.count; step++) {
        if (started < o.threads) {
            int err = pthread_create(&pool[started], &attr, pool_worker, NULL);
            if (err) {
                fprintf(stderr, "%s: pthread_create: %s\n", wl_name, strerror(err));
                break;
            }
            started++;
        }
        if (step + 1 < o.count)
            wl_pace_wait(&pace);
    }
    wl_hold(&o, "pool at its size");
    pthread_mutex_lock(&lock);
    stopping = 1;
    pthread_cond_broadcast(&done);
    pthread_mutex_unlock(&lock);
    for (long i = 0; i < started; i++)
        pthread_join(pool[i], NULL);
    return 0;
}
