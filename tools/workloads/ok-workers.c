/*
 * ok-workers: healthy twin of every growth leak, in processes that do not
 * last.  On each step it forks a worker process that grows its heap by
 * --step-kib every 50 ms for about a second and then exits (the parent reaps
 * it), like a build's compiler jobs or a device's short-lived helpers.
 *
 * What a sampler should see: a new pid on each step whose heap and RSS climb
 * while it lives, then vanish; the parent stays flat.  Growth that ends with
 * its process is not a leak.
 */
#include "workload.h"

#include <sys/wait.h>

static void worker(long step_kib)
{
    wl_set_process_name("ok-worker");
    size_t bytes = (size_t)step_kib * 1024;
    for (int i = 0; i < 20; i++) {
        char *p = malloc(bytes);
        if (!p)
            _exit(1);
        memset(p, 0x33, bytes); /* kept until exit */
        wl_sleep_ms(50);
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 100, .interval_ms = 200, .hold_seconds = 5, .step_kib = 256};
    wl_begin("ok-workers", argc, argv, WL_STEP, &o);
    wl_start_line(&o, "step-kib %ld worker-ms 1000", o.step_kib);
    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    for (long step = 0; step < o.count; step++) {
        pid_t pid = fork();
        if (pid == 0)
            worker(o.step_kib);
        if (pid < 0)
            perror("fork");
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        if (step + 1 < o.count)
            wl_pace_wait(&pace);
    }
    while (wait(NULL) > 0) {
    }
    wl_hold(&o, "every worker done");
    return 0;
}
