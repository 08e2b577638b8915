/*
 * leak-shm: SysV shared memory segments attached and never detached.
 *
 * Each step creates a private segment of --step-kib, attaches it, writes
 * it, and keeps the attachment.  /proc/PID/maps gains one line per segment,
 * "/SYSV00000000 (deleted)" (key 0 = IPC_PRIVATE), and RssShmem grows.
 *
 * Nothing may outlive the process: every segment is marked for removal
 * (IPC_RMID) right after it is attached.  The kernel then destroys it when
 * the last attachment goes, which is at our exit at the latest, however the
 * process ends.  Until then `ipcs -m` lists it with status "dest".
 */
#include "workload.h"

#include <sys/ipc.h>
#include <sys/shm.h>

/*
 * Creates, attaches and marks one segment.  Termination signals are held
 * off between shmget and IPC_RMID so a Ctrl-C cannot leave an orphan
 * segment in the system (only SIGKILL in those few microseconds could).
 */
static void *attach_new_segment(size_t bytes)
{
    sigset_t hold, old;
    sigemptyset(&hold);
    sigaddset(&hold, SIGINT);
    sigaddset(&hold, SIGTERM);
    sigaddset(&hold, SIGHUP);
    sigaddset(&hold, SIGQUIT);
    sigaddset(&hold, SIGALRM);
    sigprocmask(SIG_BLOCK, &hold, &old);

    void *addr = NULL;
    int id = shmget(IPC_PRIVATE, bytes, IPC_CREAT | 0600);
    if (id < 0) {
        fprintf(stderr, "%s: shmget: %s\n", wl_name, strerror(errno));
    } else {
        addr = shmat(id, NULL, 0);
        int saved = errno;
        shmctl(id, IPC_RMID, NULL); /* whether or not shmat worked */
        if (addr == (void *)-1) {
            fprintf(stderr, "%s: shmat: %s\n", wl_name, strerror(saved));
            addr = NULL;
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return addr;
}

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 100, .interval_ms = 200, .hold_seconds = 5, .step_kib = 256};
    wl_begin("leak-shm", argc, argv, WL_STEP, &o);
    wl_start_line(&o, "step-kib %ld", o.step_kib);

    size_t bytes = (size_t)o.step_kib * 1024;
    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    long attached = 0;
    for (; attached < o.count; attached++) {
        void *p = attach_new_segment(bytes);
        if (!p)
            break;
        memset(p, 0x3c, bytes); /* touch every page so it counts in RssShmem */
        /* Never shmdt'd: the attachment is the leak. */
        if (attached + 1 < o.count)
            wl_pace_wait(&pace);
    }

    char what[96];
    snprintf(what, sizeof what, "%ld segments of %ld KiB attached, none detached", attached,
             o.step_kib);
    wl_hold(&o, what);
    return attached == o.count ? 0 : 1;
}
