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

void field_thread_join(field_thread *thread) {
    if (thread == NULL) return;
    pthread_join(thread->id, NULL);
    free(thread);
}
