// Power-cut shim: an LD_PRELOAD library that logs, in the order they take effect, the file system calls a process
// makes under one directory tree, with the bytes it writes, so that tools/powercut/replay.py can rebuild what a
// disk would hold after a power cut at any point of the run (only what was synced, by a conservative model).
//
//   POWERCUT_ROOT=/abs/dir  the tree to watch (an absolute path without a trailing slash); calls elsewhere are
//                           passed through unlogged (the agent reads thousands of /proc files per sample)
//   POWERCUT_LOG=/abs/file  where the log goes (outside the root); appended to
//
// Each logged call is one record: a fixed little-endian head (struct entry) followed by two byte strings (a path
// or the written bytes, and a second path for rename and link). The real call and its record are made under one
// lock, so that the order of records is the order in which the calls took effect, even across threads.
//
// Build: cc -shared -fPIC -O2 -o shim.so shim.c -ldl -lpthread
// Only glibc's entry points as a dynamically linked program calls them are seen: a statically linked agent (the
// Embedded build) cannot be traced this way, and calls glibc makes internally (opendir's openat) are not logged,
// which is harmless as long as they only read. replay.py checks the log against the real directory at the end of
// the run, so a call that slipped past the shim shows as a difference there.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum op {
    OP_OPEN = 1,       // fd = result, flags, path
    OP_WRITE = 2,      // fd, offset, data
    OP_FSYNC = 3,      // fd (nanos = time the call took)
    OP_FDATASYNC = 4,  // fd
    OP_CLOSE = 5,      // fd
    OP_RENAME = 6,     // path, second path, flags (renameat2)
    OP_LINK = 7,       // path, second path
    OP_UNLINK = 8,     // path
    OP_MKDIR = 9,      // path
    OP_RMDIR = 10,     // path
    OP_TRUNCATE = 11,  // fd, offset = new length
    OP_SYNC = 12,      // sync(2) or syncfs(2): everything durable
    OP_UNSUPPORTED = 13,  // a call on a watched file the replayer cannot model (dup, mmap...): the name in path
};

struct entry {
    uint32_t op;
    int32_t tid;  // the calling thread (the agent's delivery thread copies while the sampling thread writes)
    int32_t fd;
    uint32_t cpu_nanos;  // for syncs, the CPU time the calling thread spent in the call (and no hidden padding)
    int64_t offset;
    int64_t flags;
    uint64_t nanos;
    int32_t result;
    int32_t error;
    uint32_t len1;
    uint32_t len2;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char root[4096];
static size_t root_len;
static int log_fd = -1;
// fds opened under the root (a bit per fd; fds past the table are not watched, and logged as unsupported).
#define MAX_FDS 65536
static unsigned char watched[MAX_FDS / 8];

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_close)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*real_link)(const char *, const char *);
static int (*real_linkat)(int, const char *, int, const char *, int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_rmdir)(const char *);
static int (*real_ftruncate)(int, off_t);
static void (*real_sync)(void);
static int (*real_syncfs)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);

static void *next(const char *name) { return dlsym(RTLD_NEXT, name); }

__attribute__((constructor)) static void setup(void) {
    real_open = next("open");
    real_openat = next("openat");
    real_write = next("write");
    real_pwrite = next("pwrite");
    real_writev = next("writev");
    real_fsync = next("fsync");
    real_fdatasync = next("fdatasync");
    real_close = next("close");
    real_rename = next("rename");
    real_renameat = next("renameat");
    real_renameat2 = next("renameat2");
    real_link = next("link");
    real_linkat = next("linkat");
    real_unlink = next("unlink");
    real_unlinkat = next("unlinkat");
    real_mkdir = next("mkdir");
    real_rmdir = next("rmdir");
    real_ftruncate = next("ftruncate");
    real_sync = next("sync");
    real_syncfs = next("syncfs");
    real_dup = next("dup");
    real_dup2 = next("dup2");
    const char *r = getenv("POWERCUT_ROOT");
    const char *l = getenv("POWERCUT_LOG");
    if (!r || !l || r[0] != '/' || strlen(r) >= sizeof root) return;
    strcpy(root, r);
    root_len = strlen(root);
    while (root_len > 1 && root[root_len - 1] == '/') root[--root_len] = 0;
    log_fd = real_open(l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static uint64_t clock_nanos(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// Whether `path` (relative to the working directory, or absolute) is inside the watched tree. Relative paths are
// made absolute into `out` so the replayer needs no working directory.
static int under_root(const char *path, char *out, size_t size) {
    if (log_fd < 0 || !path) return 0;
    if (path[0] == '/') {
        if (strlen(path) >= size) return 0;
        strcpy(out, path);
    } else {
        if (!getcwd(out, size)) return 0;
        size_t n = strlen(out);
        if (n + 1 + strlen(path) >= size) return 0;
        out[n] = '/';
        strcpy(out + n + 1, path);
    }
    return strncmp(out, root, root_len) == 0 && (out[root_len] == '/' || out[root_len] == 0);
}

static int is_watched(int fd) { return log_fd >= 0 && fd >= 0 && fd < MAX_FDS && (watched[fd / 8] >> (fd % 8)) & 1; }

static void set_watched(int fd, int on) {
    if (fd < 0 || fd >= MAX_FDS) return;
    if (on) watched[fd / 8] |= (unsigned char)(1u << (fd % 8));
    else watched[fd / 8] &= (unsigned char)~(1u << (fd % 8));
}

static void put(const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = real_write(log_fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        c += w;
        n -= (size_t)w;
    }
}

// Appends one record; the caller holds the lock. errno is kept for the caller's caller.
static void record_cpu(uint32_t op, int fd, int64_t offset, int64_t flags, uint64_t nanos, uint32_t cpu, int result,
                       int error, const void *b1, size_t n1, const void *b2, size_t n2) {
    int saved = errno;
    struct entry e = {op, (int32_t)syscall(SYS_gettid), fd, cpu, offset, flags, nanos, result, error, (uint32_t)n1, (uint32_t)n2};
    // One buffer for small records keeps a record in one write(2): a log cut by a kill of the traced process
    // then ends at a record boundary more often (replay.py ignores a torn last record anyway).
    char small[8192];
    if (sizeof e + n1 + n2 <= sizeof small) {
        memcpy(small, &e, sizeof e);
        if (n1) memcpy(small + sizeof e, b1, n1);
        if (n2) memcpy(small + sizeof e + n1, b2, n2);
        put(small, sizeof e + n1 + n2);
    } else {
        put(&e, sizeof e);
        put(b1, n1);
        put(b2, n2);
    }
    errno = saved;
}

static void record(uint32_t op, int fd, int64_t offset, int64_t flags, uint64_t nanos, int result, int error,
                   const void *b1, size_t n1, const void *b2, size_t n2) {
    record_cpu(op, fd, offset, flags, nanos, 0, result, error, b1, n1, b2, n2);
}

static int do_open(int dirfd, const char *path, int flags, mode_t mode) {
    char abs[4096];
    int mine = dirfd == AT_FDCWD && under_root(path, abs, sizeof abs);
    pthread_mutex_lock(&lock);
    int fd = dirfd == AT_FDCWD ? real_open(path, flags, mode) : real_openat(dirfd, path, flags, mode);
    int error = errno;
    if (fd >= 0) set_watched(fd, mine);
    if (mine) {
        record(OP_OPEN, fd, 0, flags, 0, fd, fd < 0 ? error : 0, abs, strlen(abs), 0, 0);
        if (fd >= MAX_FDS) record(OP_UNSUPPORTED, fd, 0, 0, 0, 0, 0, "fd-out-of-table", 15, 0, 0);
    } else if (dirfd != AT_FDCWD && log_fd >= 0 && path && path[0] != '/' && is_watched(dirfd)) {
        record(OP_UNSUPPORTED, fd, 0, flags, 0, fd, 0, "openat-relative", 15, path, strlen(path));
    }
    pthread_mutex_unlock(&lock);
    errno = error;
    return fd;
}

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return do_open(AT_FDCWD, path, flags, mode);
}

// On 64-bit glibc the *64 entry points are the same calls under a second name: aliases of ours.
int open64(const char *path, int flags, ...) __attribute__((alias("open")));

// The _FORTIFY_SOURCE entry points (no mode: O_CREAT is not allowed with them).
int __open_2(const char *path, int flags) { return do_open(AT_FDCWD, path, flags, 0); }
int __open64_2(const char *path, int flags) __attribute__((alias("__open_2")));

int openat(int dirfd, const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return do_open(path[0] == '/' ? AT_FDCWD : dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

int creat(const char *path, mode_t mode) { return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
int creat64(const char *path, mode_t mode) __attribute__((alias("creat")));

// Writes: the offset is read back after the call (lseek), which also covers O_APPEND.
static ssize_t logged_write(int fd, const void *buf, size_t n, off_t at, int positioned) {
    if (!is_watched(fd)) return positioned ? real_pwrite(fd, buf, n, at) : real_write(fd, buf, n);
    pthread_mutex_lock(&lock);
    ssize_t w = positioned ? real_pwrite(fd, buf, n, at) : real_write(fd, buf, n);
    int error = errno;
    if (w > 0) {
        off_t start = positioned ? at : lseek(fd, 0, SEEK_CUR) - w;
        record(OP_WRITE, fd, start, 0, 0, (int)w, 0, buf, (size_t)w, 0, 0);
    }
    pthread_mutex_unlock(&lock);
    errno = error;
    return w;
}

ssize_t write(int fd, const void *buf, size_t n) { return logged_write(fd, buf, n, 0, 0); }
ssize_t pwrite(int fd, const void *buf, size_t n, off_t at) { return logged_write(fd, buf, n, at, 1); }
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t at) __attribute__((alias("pwrite")));

ssize_t writev(int fd, const struct iovec *iov, int count) {
    if (!is_watched(fd)) return real_writev(fd, iov, count);
    // Logged as one write of the gathered bytes.
    size_t total = 0;
    for (int i = 0; i < count; i++) total += iov[i].iov_len;
    char *joined = malloc(total ? total : 1);
    if (!joined) return real_writev(fd, iov, count);
    size_t at = 0;
    for (int i = 0; i < count; i++) {
        memcpy(joined + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
    }
    ssize_t w = logged_write(fd, joined, total, 0, 0);
    int error = errno;
    free(joined);
    errno = error;
    return w;
}

static int logged_sync(int fd, int (*call)(int), uint32_t op) {
    if (!is_watched(fd)) return call(fd);
    pthread_mutex_lock(&lock);
    uint64_t t0 = clock_nanos(CLOCK_MONOTONIC), c0 = clock_nanos(CLOCK_THREAD_CPUTIME_ID);
    int rc = call(fd);
    int error = errno;
    uint64_t cpu = clock_nanos(CLOCK_THREAD_CPUTIME_ID) - c0;
    record_cpu(op, fd, 0, 0, clock_nanos(CLOCK_MONOTONIC) - t0, cpu > UINT32_MAX ? UINT32_MAX : (uint32_t)cpu, rc,
               rc ? error : 0, 0, 0, 0, 0);
    pthread_mutex_unlock(&lock);
    errno = error;
    return rc;
}

int fsync(int fd) { return logged_sync(fd, real_fsync, OP_FSYNC); }
int fdatasync(int fd) { return logged_sync(fd, real_fdatasync, OP_FDATASYNC); }

int syncfs(int fd) {
    pthread_mutex_lock(&lock);
    int rc = real_syncfs(fd);
    if (log_fd >= 0) record(OP_SYNC, fd, 0, 0, 0, rc, 0, 0, 0, 0, 0);
    pthread_mutex_unlock(&lock);
    return rc;
}

void sync(void) {
    pthread_mutex_lock(&lock);
    real_sync();
    if (log_fd >= 0) record(OP_SYNC, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    pthread_mutex_unlock(&lock);
}

int close(int fd) {
    if (!is_watched(fd)) return real_close(fd);
    pthread_mutex_lock(&lock);
    int rc = real_close(fd);
    int error = errno;
    set_watched(fd, 0);  // closed even when close reports an error (Linux)
    record(OP_CLOSE, fd, 0, 0, 0, rc, rc ? error : 0, 0, 0, 0, 0);
    pthread_mutex_unlock(&lock);
    errno = error;
    return rc;
}

int ftruncate(int fd, off_t length) {
    if (!is_watched(fd)) return real_ftruncate(fd, length);
    pthread_mutex_lock(&lock);
    int rc = real_ftruncate(fd, length);
    int error = errno;
    if (rc == 0) record(OP_TRUNCATE, fd, length, 0, 0, rc, 0, 0, 0, 0, 0);
    pthread_mutex_unlock(&lock);
    errno = error;
    return rc;
}

int ftruncate64(int fd, off_t length) __attribute__((alias("ftruncate")));

// Calls on two paths: logged when either is under the root.
static int two_paths(uint32_t op, const char *a, const char *b, int64_t flags, int (*call)(const char *, const char *, int64_t)) {
    char x[4096], y[4096];
    int mine = under_root(a, x, sizeof x) | under_root(b, y, sizeof y);
    if (!mine) return call(a, b, flags);
    pthread_mutex_lock(&lock);
    int rc = call(a, b, flags);
    int error = errno;
    record(op, -1, 0, flags, 0, rc, rc ? error : 0, x, strlen(x), y, strlen(y));
    pthread_mutex_unlock(&lock);
    errno = error;
    return rc;
}

static int call_rename(const char *a, const char *b, int64_t flags) {
    return flags ? real_renameat2(AT_FDCWD, a, AT_FDCWD, b, (unsigned)flags) : real_rename(a, b);
}
static int call_link(const char *a, const char *b, int64_t flags) { return real_linkat(AT_FDCWD, a, AT_FDCWD, b, (int)flags); }

int rename(const char *a, const char *b) { return two_paths(OP_RENAME, a, b, 0, call_rename); }
int link(const char *a, const char *b) { return two_paths(OP_LINK, a, b, 0, call_link); }

static int unsupported_at(int d1, int d2) { return (d1 != AT_FDCWD) || (d2 != AT_FDCWD); }

int renameat(int d1, const char *a, int d2, const char *b) {
    if (unsupported_at(d1, d2) && !(a[0] == '/' && b[0] == '/')) return real_renameat(d1, a, d2, b);
    return two_paths(OP_RENAME, a, b, 0, call_rename);
}
int renameat2(int d1, const char *a, int d2, const char *b, unsigned int flags) {
    if (unsupported_at(d1, d2) && !(a[0] == '/' && b[0] == '/')) return real_renameat2(d1, a, d2, b, flags);
    return two_paths(OP_RENAME, a, b, flags, call_rename);
}
int linkat(int d1, const char *a, int d2, const char *b, int flags) {
    if (unsupported_at(d1, d2) && !(a[0] == '/' && b[0] == '/')) return real_linkat(d1, a, d2, b, flags);
    return two_paths(OP_LINK, a, b, flags, call_link);
}

static int one_path(uint32_t op, const char *p, int (*call)(const char *, int64_t), int64_t arg) {
    char x[4096];
    if (!under_root(p, x, sizeof x)) return call(p, arg);
    pthread_mutex_lock(&lock);
    int rc = call(p, arg);
    int error = errno;
    record(op, -1, 0, arg, 0, rc, rc ? error : 0, x, strlen(x), 0, 0);
    pthread_mutex_unlock(&lock);
    errno = error;
    return rc;
}

static int call_unlink(const char *p, int64_t arg) { (void)arg; return real_unlink(p); }
static int call_rmdir(const char *p, int64_t arg) { (void)arg; return real_rmdir(p); }
static int call_mkdir(const char *p, int64_t mode) { return real_mkdir(p, (mode_t)mode); }

int unlink(const char *p) { return one_path(OP_UNLINK, p, call_unlink, 0); }
int rmdir(const char *p) { return one_path(OP_RMDIR, p, call_rmdir, 0); }
int mkdir(const char *p, mode_t mode) { return one_path(OP_MKDIR, p, call_mkdir, mode); }

int unlinkat(int dirfd, const char *p, int flags) {
    if (dirfd != AT_FDCWD && p[0] != '/') return real_unlinkat(dirfd, p, flags);
    return (flags & AT_REMOVEDIR) ? rmdir(p) : unlink(p);
}

// Descriptors duplicated from a watched one would write unseen: logged as unsupported, which fails the replay.
int dup(int fd) {
    int r = real_dup(fd);
    if (is_watched(fd)) {
        pthread_mutex_lock(&lock);
        record(OP_UNSUPPORTED, fd, 0, 0, 0, r, 0, "dup", 3, 0, 0);
        pthread_mutex_unlock(&lock);
    }
    return r;
}

int dup2(int fd, int to) {
    int r = real_dup2(fd, to);
    if (is_watched(fd) || is_watched(to)) {
        pthread_mutex_lock(&lock);
        record(OP_UNSUPPORTED, fd, 0, 0, 0, r, 0, "dup2", 4, 0, 0);
        pthread_mutex_unlock(&lock);
    }
    return r;
}
