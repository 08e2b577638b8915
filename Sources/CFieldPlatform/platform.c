// The C half of the platform layer: what needs more than a static inline in CFieldPlatform.h.
#include "CFieldPlatform.h"

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
    int rc = pthread_create(&thread->id, NULL, body, context);
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
