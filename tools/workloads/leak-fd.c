/*
 * leak-fd: file descriptors opened and never closed.
 *
 * Each step opens one descriptor (--kind null: /dev/null) or a pair
 * (--kind pipe: a pipe; --kind socket: a UNIX socketpair).  /proc/PID/fd
 * gains entries step by step, heading for the soft RLIMIT_NOFILE shown in
 * /proc/PID/limits.  The run stops short of that limit (16 to spare) so
 * that the program itself, the C library and the sampler's tests keep
 * working; the start line shows the count after that cap.
 */
#include "workload.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* Opens the descriptors of one step; returns how many (0 on failure). */
static int open_some(const char *kind)
{
    int pair[2];
    if (!strcmp(kind, "null"))
        return open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0 ? 1 : 0;
    if (!strcmp(kind, "pipe"))
        return pipe2(pair, O_CLOEXEC) == 0 ? 2 : 0;
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0 ? 2 : 0;
}

/* Descriptors already open (stdio, inherited); the limit is on numbers below it, so count those. */
static long open_fd_count(long limit)
{
    long n = 0;
    for (int fd = 0; fd < limit; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 200, .interval_ms = 100, .hold_seconds = 5, .kind = "null"};
    wl_begin("leak-fd", argc, argv, WL_KIND, &o);
    int per_step;
    if (!strcmp(o.kind, "null"))
        per_step = 1;
    else if (!strcmp(o.kind, "pipe") || !strcmp(o.kind, "socket"))
        per_step = 2;
    else {
        fprintf(stderr, "%s: --kind wants null, pipe or socket\n", wl_name);
        return 2;
    }

    /* Cap the count below the soft limit, counting what is already open (stdio, inherited). */
    struct rlimit lim;
    long soft = 1024;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
        soft = (long)lim.rlim_cur;
    long room = soft - 16 - open_fd_count(soft);
    long requested = o.count;
    if (o.count * per_step > room)
        o.count = room > 0 ? room / per_step : 0;
    wl_start_line(&o, "kind %s fds-per-step %d nofile-soft %ld", o.kind, per_step, soft);
    if (o.count < requested)
        fprintf(stderr, "%s: count cut from %ld to %ld to stay below RLIMIT_NOFILE %ld\n",
                wl_name, requested, o.count, soft);

    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    long step = 0, opened = 0;
    for (; step < o.count; step++) {
        int n = open_some(o.kind);
        if (!n) {
            fprintf(stderr, "%s: open after %ld descriptors: %s\n", wl_name, opened,
                    strerror(errno));
            break;
        }
        opened += n; /* the numbers are dropped: nothing will close them */
        if (step + 1 < o.count)
            wl_pace_wait(&pace);
    }

    char what[96];
    snprintf(what, sizeof what, "%ld descriptors (%s) opened, none closed", opened, o.kind);
    wl_hold(&o, what);
    return step == o.count ? 0 : 1;
}
