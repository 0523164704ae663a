/* File access for readers (read-only mmap) and writers (durable replace). */
#define _GNU_SOURCE
#include "ferry/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int errno_code(int e)
{
    if (e == ENOENT || e == ENOTDIR) return FERRY_ENOINPUT;
    if (e == EACCES || e == EPERM) return FERRY_EPERM;
    return FERRY_EIO;
}

int ferry_map_open(struct ferry_map *m, const char *path, struct ferry_error *err)
{
    memset(m, 0, sizeof(*m));
    m->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ferry_error_set(err, errno_code(errno), path, FERRY_NO_OFFSET, NULL,
                               "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ferry_error_set(err, FERRY_EIO, path, FERRY_NO_OFFSET, NULL, "stat: %s",
                               strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                               "not a regular file");
    }
    m->size = (uint64_t)st.st_size;
    if (m->size > 0) {
        void *p = mmap(NULL, (size_t)m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return ferry_error_set(err, FERRY_EIO, path, FERRY_NO_OFFSET, NULL, "mmap: %s",
                                   strerror(e));
        }
        m->data = p;
    }
    m->fd = fd;
    m->path = strdup(path);
    if (!m->path) {
        ferry_map_close(m);
        return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    }
    return 0;
}

void ferry_map_close(struct ferry_map *m)
{
    if (m->data) munmap((void *)m->data, (size_t)m->size);
    if (m->fd >= 0) close(m->fd);
    free(m->path);
    memset(m, 0, sizeof(*m));
    m->fd = -1;
}

void ferry_map_done(const struct ferry_map *m, uint64_t off, uint64_t len)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = (off + page - 1) / page * page, end = off + len;
    if (!m->data || end > m->size) return;
    end = end / page * page;
    if (end > start) madvise((void *)(m->data + start), (size_t)(end - start), MADV_DONTNEED);
}

int ferry_out_open(struct ferry_out *o, const char *path, int force, struct ferry_error *err)
{
    memset(o, 0, sizeof(*o));
    struct stat st;
    if (!force && lstat(path, &st) == 0)
        return ferry_error_set(err, FERRY_ECANTCREAT, path, FERRY_NO_OFFSET, NULL,
                               "output exists (use --force to overwrite)");
    char *dup = strdup(path);
    char *base = strdup(path);
    if (!dup || !base) goto oom;
    const char *dir = dirname(dup);
    const char *name = basename(base);
    size_t n = strlen(dir) + strlen(name) + 64;
    o->tmp = malloc(n);
    o->path = strdup(path);
    if (!o->tmp || !o->path) goto oom;
    snprintf(o->tmp, n, "%s/.%s.tmp.%ld", dir, name, (long)getpid());
    free(dup);
    free(base);
    int fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        ferry_error_set(err, e == EACCES ? FERRY_EPERM : FERRY_ECANTCREAT, o->tmp, FERRY_NO_OFFSET,
                        NULL, "cannot create: %s", strerror(e));
        free(o->tmp);
        free(o->path);
        memset(o, 0, sizeof(*o));
        return err ? err->code : FERRY_ECANTCREAT;
    }
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        close(fd);
        ferry_out_abort(o);
        return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "fdopen failed");
    }
    setvbuf(o->fp, NULL, _IOFBF, 1 << 20);
    return 0;
oom:
    free(dup);
    free(base);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof(*o));
    return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
}

#define WRITEBACK_WINDOW (32ull << 20)

int ferry_out_write(struct ferry_out *o, const void *buf, uint64_t n, struct ferry_error *err)
{
    if (n && fwrite(buf, 1, (size_t)n, o->fp) != (size_t)n)
        return ferry_error_set(err, FERRY_EIO, o->tmp, o->pos, NULL, "write: %s", strerror(errno));
    o->pos += n;
    /* start writeback of each finished window now, so the fsync at commit has little left to
     * wait for (it still is what makes the file durable) */
    if (o->pos - o->flushed >= WRITEBACK_WINDOW && fflush(o->fp) == 0) {
        sync_file_range(fileno(o->fp), (off64_t)o->flushed, (off64_t)(o->pos - o->flushed),
                        SYNC_FILE_RANGE_WRITE);
        o->flushed = o->pos;
    }
    return 0;
}

int ferry_out_pad(struct ferry_out *o, uint64_t align, struct ferry_error *err)
{
    static const uint8_t zeros[4096];
    uint64_t rem = o->pos % align;
    uint64_t pad = rem ? align - rem : 0;
    while (pad) {
        uint64_t k = pad < sizeof(zeros) ? pad : sizeof(zeros);
        int rc = ferry_out_write(o, zeros, k, err);
        if (rc) return rc;
        pad -= k;
    }
    return 0;
}

int ferry_out_patch(struct ferry_out *o, uint64_t pos, const void *buf, uint64_t n,
                    struct ferry_error *err)
{
    if (fflush(o->fp) != 0 || pwrite(fileno(o->fp), buf, (size_t)n, (off_t)pos) != (ssize_t)n)
        return ferry_error_set(err, FERRY_EIO, o->tmp, pos, NULL, "write: %s", strerror(errno));
    return 0;
}

int ferry_out_commit(struct ferry_out *o, struct ferry_error *err)
{
    int rc = 0;
    if (fflush(o->fp) != 0 || fsync(fileno(o->fp)) != 0)
        rc = ferry_error_set(err, FERRY_EIO, o->tmp, FERRY_NO_OFFSET, NULL, "flush: %s",
                             strerror(errno));
    if (fclose(o->fp) != 0 && !rc)
        rc = ferry_error_set(err, FERRY_EIO, o->tmp, FERRY_NO_OFFSET, NULL, "close: %s",
                             strerror(errno));
    o->fp = NULL;
    if (!rc && rename(o->tmp, o->path) != 0)
        rc = ferry_error_set(err, FERRY_ECANTCREAT, o->path, FERRY_NO_OFFSET, NULL, "rename: %s",
                             strerror(errno));
    if (!rc) {
        char *dup = strdup(o->path);
        if (dup) {
            int dfd = open(dirname(dup), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            free(dup);
        }
        free(o->tmp);
        o->tmp = NULL;
    }
    ferry_out_abort(o);
    return rc;
}

void ferry_out_abort(struct ferry_out *o)
{
    if (o->fp) fclose(o->fp);
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof(*o));
}

int ferry_mkdirs(const char *path, unsigned mode)
{
    char buf[8192];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) return errno = ENAMETOOLONG, -1;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST) return -1;
        if (!c) return 0;
        *p = c;
    }
}
