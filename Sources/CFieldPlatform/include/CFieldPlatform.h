// The agent's whole view of the C library: every header the device-side Swift code uses, and small shims for what
// Swift cannot import directly (errno, variadic functions, macros, struct fields whose layout differs between C
// libraries). Device-side modules import this module and nothing else from the system, in normal and in Embedded
// Swift alike (Embedded Swift has no Glibc overlay). Porting the agent to another C library or an RTOS means making
// this header and platform.c true there; docs/porting.md lists what that takes.
#ifndef CFIELDPLATFORM_H
#define CFIELDPLATFORM_H

// 64-bit file offsets and time on 32-bit targets: glibc >= 2.34 switches off_t and time_t (and the functions using
// them) with these two; musl >= 1.2 has both 64-bit always. Only on 32-bit targets: on 64-bit ones they change
// nothing but type names, and in the normal build these headers are also Swift's Glibc module, where a macro
// that changes a declaration gives two different definitions of it. For the same reason no other feature macro.
#if !defined(__LP64__) && !defined(_LP64)
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64
#endif
#ifndef _TIME_BITS
#define _TIME_BITS 64
#endif
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/// The calling thread's errno (a macro over a thread-local in every C library).
static inline int field_errno(void) { return errno; }

/// open(2) with its optional third argument always given (open is variadic).
static inline int field_open(const char *path, int flags, unsigned int mode) { return open(path, flags, (mode_t)mode); }

/// A directory entry's name. d_name's declared size differs between C libraries and the entry may be shorter than
/// the declared array (the kernel packs entries), so Swift must never copy the array: it reads this C string.
static inline const char *field_dirent_name(const struct dirent *entry) { return entry->d_name; }

/// Installs `handler` for `signal` without SA_RESTART, so that a pending sleep or read returns at once. The
/// handler's field is a union member named differently in glibc and musl; C's sa_handler macro hides that.
static inline int field_set_signal_handler(int signal, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    return sigaction(signal, &action, NULL);
}

/// Ignores SIGPIPE: a collector that closes mid-upload must cost that upload, not the agent (MSG_NOSIGNAL covers
/// the sockets where the C library has it; this covers the others). SIG_IGN is a cast macro Swift cannot import.
static inline void field_ignore_broken_pipes(void) { signal(SIGPIPE, SIG_IGN); }

/// getrusage(RUSAGE_SELF): glibc types the first argument as an enum, musl as an int.
static inline int field_getrusage_self(struct rusage *usage) { return getrusage(RUSAGE_SELF, usage); }

/// A thread of our own. pthread_t is an integer in glibc and a pointer in musl: Swift keeps it as this opaque box.
typedef struct field_thread field_thread;

/// Starts `body(context)` on a new joinable thread with every signal blocked (signals stay with the main thread).
/// Returns NULL and sets errno when the thread cannot be created.
field_thread *field_thread_start(void *(*body)(void *), void *context);

/// Waits for the thread to end and frees the box.
void field_thread_join(field_thread *thread);

/// The file type bits of a stat result (S_IFMT and friends are macros whose C type Swift does not see as mode_t).
static inline int field_stat_is_directory(const struct stat *st) { return S_ISDIR(st->st_mode); }
static inline int field_stat_is_regular(const struct stat *st) { return S_ISREG(st->st_mode); }
/// A FIFO, socket or device: reading one may wait forever (or never end), so the agent does not.
static inline int field_stat_may_block(const struct stat *st) {
    return S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode) || S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode);
}

/// A mutex with a condition whose timed waits run on CLOCK_MONOTONIC, so that setting the wall clock (NTP, an RTC
/// read at boot) neither shortens nor stretches them. Where the C library cannot time a condition on that clock
/// (SylixOS accepts CLOCK_REALTIME only), waits are converted to the realtime clock at each call.
typedef struct field_monitor field_monitor;

/// A new monitor, or NULL when out of memory.
field_monitor *field_monitor_new(void);
void field_monitor_free(field_monitor *monitor);
void field_monitor_lock(field_monitor *monitor);
void field_monitor_unlock(field_monitor *monitor);
/// Wakes one waiter (call with the lock held).
void field_monitor_signal(field_monitor *monitor);
/// With the lock held: waits until signalled or until CLOCK_MONOTONIC reaches `until_ns`. May return early
/// (spurious wake-up): callers loop on their condition.
void field_monitor_wait_until(field_monitor *monitor, uint64_t until_ns);

/// Asks the C library's allocator to hand freed memory back to the system rather than keep it for later: the
/// agent's large buffers (a sample, its encoding) are freed every interval, and an allocator that keeps them
/// shows as resident memory the agent does not use. glibc: one arena, and blocks from 128 KiB up mapped and
/// unmapped on their own; other C libraries (musl's allocator returns memory by itself) need nothing.
void field_tune_allocator(void);

/// Takes the exclusive record lock on the whole file behind `fd` without waiting (fcntl F_SETLK: POSIX, in glibc,
/// musl, uClibc and SylixOS alike; the kernel drops it when the process ends, kill -9 included). Returns 0, or the
/// errno; when another process holds the lock, `*holder` is its pid (0 when the system does not say). struct flock
/// differs in layout between C libraries and fcntl is variadic: both stay on this side.
int field_lock_file(int fd, int *holder);

/// Bytes of the C library's page.
static inline long field_page_size(void) { return sysconf(_SC_PAGESIZE); }

#endif
