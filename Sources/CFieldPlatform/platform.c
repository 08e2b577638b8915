// The C half of the platform layer: what needs more than a static inline in CFieldPlatform.h.
#include "CFieldPlatform.h"

// The 64-bit types the agent's sizes and times rely on (CFieldPlatform.h asks for them on 32-bit targets; a C
// library that ignores the request, such as glibc before 2.34 for time_t, must fail the build, not the device).
_Static_assert(sizeof(off_t) == 8, "off_t must be 64-bit: this C library ignores _FILE_OFFSET_BITS=64");
_Static_assert(sizeof(time_t) == 8, "time_t must be 64-bit: this C library ignores _TIME_BITS=64 (glibc < 2.34?)");

/// Stack of the agent's own threads: musl's default (128 KiB) is tight for TLS inside libcurl, glibc's (8 MiB of
/// address space) is more than needed.
#define FIELD_THREAD_STACK (512 * 1024)

struct field_thread {
    pthread_t id;
};

field_thread *field_thread_start(void *(*body)(void *), void *context) {
    field_thread *thread = malloc(sizeof *thread);
    if (thread == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    // The new thread inherits the creating thread's mask: block everything around the creation, so that the stop
    // signals always reach the sampling thread.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, FIELD_THREAD_STACK);
    int rc = pthread_create(&thread->id, &attr, body, context);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        free(thread);
        errno = rc;
        return NULL;
    }
    return thread;
}

struct field_monitor {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int realtime;  // the condition is timed on CLOCK_REALTIME: convert each deadline
};

field_monitor *field_monitor_new(void) {
    field_monitor *m = calloc(1, sizeof *m);
    if (m == NULL) return NULL;
    pthread_mutex_init(&m->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    m->realtime = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0;
    pthread_cond_init(&m->cond, &attr);
    pthread_condattr_destroy(&attr);
    return m;
}

void field_monitor_free(field_monitor *m) {
    if (m == NULL) return;
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->mutex);
    free(m);
}

void field_monitor_lock(field_monitor *m) { pthread_mutex_lock(&m->mutex); }
void field_monitor_unlock(field_monitor *m) { pthread_mutex_unlock(&m->mutex); }
void field_monitor_signal(field_monitor *m) { pthread_cond_signal(&m->cond); }

void field_monitor_wait_until(field_monitor *m, uint64_t until_ns) {
    struct timespec at;
    if (m->realtime) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
        uint64_t left = until_ns > now_ns ? until_ns - now_ns : 0;
        clock_gettime(CLOCK_REALTIME, &at);
        uint64_t wall = (uint64_t)at.tv_sec * 1000000000u + (uint64_t)at.tv_nsec + left;
        at.tv_sec = (time_t)(wall / 1000000000u);
        at.tv_nsec = (long)(wall % 1000000000u);
    } else {
        at.tv_sec = (time_t)(until_ns / 1000000000u);
        at.tv_nsec = (long)(until_ns % 1000000000u);
    }
    pthread_cond_timedwait(&m->cond, &m->mutex, &at);
}

#if defined(__GLIBC__) && !defined(__UCLIBC__)
#include <malloc.h>
void field_tune_allocator(void) {
    mallopt(M_ARENA_MAX, 1);  // the delivery thread shares the main arena: it allocates little, and rarely
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}
#else
void field_tune_allocator(void) {}
#endif

int field_lock_file(int fd, int *holder) {
    struct flock want;
    memset(&want, 0, sizeof want);
    want.l_type = F_WRLCK;
    want.l_whence = SEEK_SET;  // l_start 0, l_len 0: the whole file, however long it grows
    *holder = 0;
    if (fcntl(fd, F_SETLK, &want) == 0) return 0;
    int failure = errno;
    if (failure == EACCES || failure == EAGAIN) {
        struct flock seen;
        memset(&seen, 0, sizeof seen);
        seen.l_type = F_WRLCK;
        seen.l_whence = SEEK_SET;
        if (fcntl(fd, F_GETLK, &seen) == 0 && seen.l_type != F_UNLCK) *holder = (int)seen.l_pid;
    }
    return failure;
}

void field_thread_join(field_thread *thread) {
    if (thread == NULL) return;
    pthread_join(thread->id, NULL);
    free(thread);
}
