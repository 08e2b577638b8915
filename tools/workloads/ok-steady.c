/*
 * ok-steady: healthy baseline.  One thread does the same small amount of
 * work on every step and gives back everything it takes: it allocates and
 * frees a buffer, maps and unmaps a region, opens and closes a descriptor.
 *
 * What a sampler should see: nothing growing.  "Threads:" 1, a flat
 * descriptor count, [heap] and anonymous mappings that reach their size on
 * the first step and stay there (RSS may settle a little as the allocator
 * keeps freed memory for reuse, but it does not climb).
 */
#include "workload.h"

#include <fcntl.h>
#include <sys/mman.h>

int main(int argc, char **argv)
{
    struct wl_opts o = {.count = 100, .interval_ms = 200, .hold_seconds = 5, .step_kib = 256};
    wl_begin("ok-steady", argc, argv, WL_STEP, &o);
    wl_start_line(&o, "step-kib %ld", o.step_kib);

    size_t bytes = (size_t)o.step_kib * 1024;
    unsigned long sum = 0;
    struct wl_pace pace;
    wl_pace_init(&pace, o.interval_ms);
    for (long step = 0; step < o.count; step++) {
        /* Heap: allocate, use, free. */
        unsigned char *buf = malloc(bytes);
        if (buf) {
            memset(buf, (int)(step & 0xff), bytes);
            sum += buf[bytes / 2];
            free(buf);
        }
        /* Anonymous mapping: map, use, unmap. */
        void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map != MAP_FAILED) {
            memset(map, 1, bytes);
            munmap(map, bytes);
        }
        /* Descriptor: open, read, close. */
        int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            unsigned char b;
            if (read(fd, &b, 1) == 1)
                sum += b;
            close(fd);
        }
        if (step + 1 < o.count)
            wl_pace_wait(&pace);
    }

    char what[96];
    snprintf(what, sizeof what, "%ld steps done, nothing kept (checksum %lu)", o.count, sum);
    wl_hold(&o, what);
    return 0;
}
