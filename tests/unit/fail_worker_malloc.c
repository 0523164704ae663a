/* An LD_PRELOAD shim for the allocation-failure test: with FERRY_FAIL_WORKER_MALLOC=1, every
 * malloc on a thread other than the process's first one fails, as it might under memory
 * pressure; the main thread allocates normally. glibc's own allocator does the real work. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);

void *malloc(size_t n)
{
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("FERRY_FAIL_WORKER_MALLOC");
        on = e && e[0] == '1';
    }
    if (on && (pid_t)syscall(SYS_gettid) != getpid()) return NULL;
    return __libc_malloc(n);
}
