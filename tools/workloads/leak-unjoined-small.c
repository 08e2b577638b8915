/*
 * leak-unjoined-small: leak-unjoined with a 128 KiB stack (musl's default),
 * set with pthread_attr_setstacksize.  Each leaked thread leaves a 128 KiB
 * rw-p region plus its guard page in /proc/PID/maps while "Threads:" stays
 * flat; a sampler must find these by size and layout, not by 8 MiB alone.
 *
 * The program is leak-unjoined.c; only the name and default stack differ,
 * so the two cannot drift apart.  The process name is cut to 15 bytes by the
 * kernel ("leak-unjoined-s"), the same as exec would do with this file name.
 */
#define WORKLOAD_NAME "leak-unjoined-small"
#define DEFAULT_STACK_KIB 128
#include "leak-unjoined.c"
