/*
 * workload.h - shared helpers for the leak workloads in this directory.
 *
 * Every workload is one small C file that includes this header; there is no
 * library to link.  The helpers cover what all workloads have in common:
 * command-line flags, the start line on stdout, the process name, pacing and
 * a watchdog, so that each workload file only shows its own leak (or its
 * healthy twin).
 *
 * Exit status of every workload: 0 ran as asked, 1 a resource ran out early
 * (the state reached so far was still held), 2 usage error.
 */
#ifndef FIELD_WORKLOAD_H
#define FIELD_WORKLOAD_H

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* Flags beyond --count, --interval-ms and --hold-seconds, which all take. */
enum {
    WL_STACK = 1 << 0,   /* --stack-kib N: thread stack size, 0 = libc default */
    WL_STEP = 1 << 1,    /* --step-kib N: memory added per step */
    WL_THREADS = 1 << 2, /* --threads N: pool size / threads per round */
    WL_KIND = 1 << 3,    /* --kind WORD: what kind of descriptor to leak */
};

struct wl_opts {
    long count;        /* steps: threads, blocks, segments, descriptors, rounds */
    long interval_ms;  /* pause between steps */
    long hold_seconds; /* keep the final state alive this long before exit */
    long stack_kib;
    long step_kib;
    long threads;
    const char *kind;
};

static const char *wl_name = "workload";

static inline void wl_usage(unsigned extra, FILE *out)
{
    fprintf(out, "usage: %s [--count N] [--interval-ms N] [--hold-seconds N]", wl_name);
    if (extra & WL_STACK) fputs(" [--stack-kib N]", out);
    if (extra & WL_STEP) fputs(" [--step-kib N]", out);
    if (extra & WL_THREADS) fputs(" [--threads N]", out);
    if (extra & WL_KIND) fputs(" [--kind null|pipe|socket]", out);
    fputc('\n', out);
}

/* Parses a whole decimal number within [lo, hi]; anything else is a usage error. */
static inline long wl_number(const char *flag, const char *text, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: %s wants a whole number in %ld..%ld, got '%s'\n",
                wl_name, flag, lo, hi, text);
        exit(2);
    }
    return v;
}

/*
 * Parses argv into *o, which holds the workload's defaults on entry.  Flags
 * take their value as the next argument or after '='.  The bounds keep every
 * run finite: at most 100000 steps, one minute between steps, one hour of hold.
 */
static inline void wl_parse(int argc, char **argv, unsigned extra, struct wl_opts *o)
{
    for (int i = 1; i < argc; i++) {
        char *flag = argv[i];
        if (!strcmp(flag, "-h") || !strcmp(flag, "--help")) {
            wl_usage(extra, stdout);
            exit(0);
        }
        char *value = strchr(flag, '=');
        size_t len = value ? (size_t)(value - flag) : strlen(flag);
        if (value)
            value++;
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            fprintf(stderr, "%s: %s needs a value\n", wl_name, flag);
            exit(2);
        }
#define WL_IS(s) (len == strlen(s) && !strncmp(flag, s, len))
        if (WL_IS("--count"))
            o->count = wl_number("--count", value, 0, 100000);
        else if (WL_IS("--interval-ms"))
            o->interval_ms = wl_number("--interval-ms", value, 0, 60000);
        else if (WL_IS("--hold-seconds"))
            o->hold_seconds = wl_number("--hold-seconds", value, 0, 3600);
        else if ((extra & WL_STACK) && WL_IS("--stack-kib"))
            /* 0 means "libc default"; otherwise at least 16 KiB (PTHREAD_STACK_MIN on most targets). */
            o->stack_kib = wl_number("--stack-kib", value, 0, 1L << 20);
        else if ((extra & WL_STEP) && WL_IS("--step-kib"))
            o->step_kib = wl_number("--step-kib", value, 4, 64L * 1024);
        else if ((extra & WL_THREADS) && WL_IS("--threads"))
            o->threads = wl_number("--threads", value, 1, 1000);
        else if ((extra & WL_KIND) && WL_IS("--kind"))
            o->kind = value;
        else {
            fprintf(stderr, "%s: unknown flag %.*s\n", wl_name, (int)len, flag);
            wl_usage(extra, stderr);
            exit(2);
        }
#undef WL_IS
    }
    if ((extra & WL_STACK) && o->stack_kib != 0 && o->stack_kib < 16) {
        fprintf(stderr, "%s: --stack-kib must be 0 (default) or at least 16\n", wl_name);
        exit(2);
    }
}

/* Process and thread names hold 15 bytes; longer names are cut, as the kernel cuts them at exec. */
static inline void wl_comm(char comm[16], const char *name)
{
    size_t n = strnlen(name, 15); /* cut on purpose, as the kernel would */
    memcpy(comm, name, n);
    comm[n] = '\0';
}

/*
 * Names the process (what /proc/PID/comm and `ps` show) so a sampler can
 * find it whatever the binary was called.
 */
static inline void wl_set_process_name(const char *name)
{
    char comm[16];
    wl_comm(comm, name);
    prctl(PR_SET_NAME, comm, 0, 0, 0);
}

/* Names the calling thread; threads name themselves, so a thread that exits at once cannot race it. */
static inline void wl_name_self(const char *name)
{
    char comm[16];
    wl_comm(comm, name);
    pthread_setname_np(pthread_self(), comm);
}

/*
 * Watchdog: if the workload is still running well after its planned end
 * (a wedged or badly overloaded system), SIGALRM ends it, so no test run or demo
 * leaves a stray process behind.
 */
static inline void wl_watchdog(const struct wl_opts *o)
{
    /* long long: count * interval overflows a 32-bit long on small targets. */
    long long planned = (long long)o->count * o->interval_ms / 1000 + o->hold_seconds;
    alarm((unsigned)(planned + 60));
}

/* Common start: name, watchdog.  The caller prints the start line with wl_start_line. */
static inline void wl_begin(const char *name, int argc, char **argv, unsigned extra, struct wl_opts *o)
{
    wl_name = name;
    wl_parse(argc, argv, extra, o);
    wl_set_process_name(name);
    wl_watchdog(o);
}

/*
 * The one line on stdout: "workload NAME pid PID count N interval-ms N
 * hold-seconds N" then workload-specific "key value" pairs.  Flushed at once
 * because stdout is usually a pipe to the test harness, which waits for it.
 */
static inline void wl_start_line(const struct wl_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void wl_start_line(const struct wl_opts *o, const char *fmt, ...)
{
    printf("workload %s pid %ld count %ld interval-ms %ld hold-seconds %ld",
           wl_name, (long)getpid(), o->count, o->interval_ms, o->hold_seconds);
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        putchar(' ');
        vprintf(fmt, ap);
        va_end(ap);
    }
    putchar('\n');
    fflush(stdout);
}

/* Monotonic pacing: each step has a deadline start + k*interval, so slow steps do not stretch the run. */
struct wl_pace {
    struct timespec next;
    long interval_ms;
};

static inline void wl_pace_init(struct wl_pace *p, long interval_ms)
{
    clock_gettime(CLOCK_MONOTONIC, &p->next);
    p->interval_ms = interval_ms;
}

static inline void wl_pace_wait(struct wl_pace *p)
{
    p->next.tv_nsec += (p->interval_ms % 1000) * 1000000L;
    p->next.tv_sec += p->interval_ms / 1000 + p->next.tv_nsec / 1000000000L;
    p->next.tv_nsec %= 1000000000L;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &p->next, NULL) == EINTR)
        ;
}

static inline void wl_sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) == -1 && errno == EINTR)
        ;
}

/* Keeps the final state alive for a sampler, announcing it on stderr (stdout has only the start line). */
static inline void wl_hold(const struct wl_opts *o, const char *what)
{
    fprintf(stderr, "%s: %s; holding %ld s\n", wl_name, what, o->hold_seconds);
    wl_sleep_ms(o->hold_seconds * 1000);
}

/*
 * Thread attributes with the requested stack size (0 = libc default) and
 * the resulting size in KiB, for the start line: the sampler looks for
 * regions of exactly this size.
 */
static inline int wl_thread_attr(pthread_attr_t *attr, long stack_kib, long *effective_kib)
{
    int err = pthread_attr_init(attr);
    if (err) return err;
    if (stack_kib > 0 && (err = pthread_attr_setstacksize(attr, (size_t)stack_kib * 1024)))
        return err;
    size_t size = 0;
    pthread_attr_getstacksize(attr, &size);
    *effective_kib = (long)(size / 1024);
    return 0;
}

/* wl_thread_attr for main(): a stack size the C library refuses is a usage error (exit 2). Returns the stack
 * size threads will really get, in KiB. */
static inline long wl_thread_attr_or_exit(pthread_attr_t *attr, long stack_kib)
{
    long effective_kib;
    int err = wl_thread_attr(attr, stack_kib, &effective_kib);
    if (err) {
        fprintf(stderr, "%s: stack size %ld KiB: %s\n", wl_name, stack_kib, strerror(err));
        exit(2);
    }
    return effective_kib;
}

#endif
