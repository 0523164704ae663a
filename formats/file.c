/* File access for readers (read-only mmap) and writers (durable replace). */
#define _GNU_SOURCE
#include "ferry/file.h"
#include "ferry/archive.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int member_fd(const char *path, uint64_t *size, struct ferry_error *err);

int ferry_open_regular_sized(const char *path, int nofollow, uint64_t *size,
                             struct ferry_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    char archive[4096];
    const char *member;
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR) &&
        ferry_archive_split(path, archive, sizeof(archive), &member))
        return member_fd(path, size, err);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP && nofollow)
            return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                                   "is a symbolic link");
        return ferry_error_set(err, ferry_errno_code(e), path, FERRY_NO_OFFSET, NULL,
                               "cannot open: %s", strerror(e));
    }
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
                               "not a regular file (%s)",
                               S_ISFIFO(st.st_mode)   ? "a FIFO"
                               : S_ISDIR(st.st_mode)  ? "a directory"
                               : S_ISSOCK(st.st_mode) ? "a socket"
                                                      : "a device");
    }
    *size = (uint64_t)st.st_size;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        return ferry_error_set(err, FERRY_EIO, path, FERRY_NO_OFFSET, NULL, "fcntl: %s",
                               strerror(e));
    }
    return fd;
}

/* A small member of a plain tar (a config or tokenizer file) as a descriptor of its own: a
 * copy in memory, so readers that read to the end see the member and nothing after it. */
#define MEMBER_COPY_MAX (256u << 20)
static int member_fd(const char *path, uint64_t *size, struct ferry_error *err)
{
    struct ferry_map m;
    int rc = ferry_map_open(&m, path, err);
    if (rc) return rc;
    int fd = -1;
    if (m.size > MEMBER_COPY_MAX)
        rc = ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL,
                             "a member over 256 MiB is read in place only by the checkpoint "
                             "readers");
    else if ((fd = memfd_create("ferry-member", MFD_CLOEXEC)) < 0)
        rc = ferry_error_set(err, FERRY_EIO, path, FERRY_NO_OFFSET, NULL, "memfd: %s",
                             strerror(errno));
    if (!rc && ferry_write_full(fd, m.data, (size_t)m.size))
        rc = ferry_error_set(err, FERRY_EIO, path, FERRY_NO_OFFSET, NULL, "memfd write: %s",
                             strerror(errno));
    if (!rc && lseek(fd, 0, SEEK_SET) != 0)
        rc = ferry_error_set(err, FERRY_EIO, path, 0, NULL, "lseek");
    *size = m.size;
    ferry_map_close(&m);
    if (rc && fd >= 0) close(fd);
    return rc ? rc : fd;
}

int ferry_open_regular(const char *path, int nofollow, struct ferry_error *err)
{
    uint64_t size;
    return ferry_open_regular_sized(path, nofollow, &size, err);
}

FILE *ferry_fopen_regular(const char *path, struct ferry_error *err)
{
    int fd = ferry_open_regular(path, 0, err);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    }
    return f;
}

/* "A.tar//M": the member's range of the archive, when A is an archive and holds M in place. */
static int member_range(const char *path, char *archive, size_t n, uint64_t *off, uint64_t *len,
                        struct ferry_error *err)
{
    struct ferry_archive_member m;
    int filtered;
    int rc = ferry_archive_lookup(path, archive, n, &m, &filtered, err);
    if (rc != 1) return rc;
    if (m.dir)
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                               "a folder in the archive, not a file");
    if (!m.in_place)
        return ferry_error_set(err, FERRY_EUSAGE, path, FERRY_NO_OFFSET, NULL,
                               "the member is compressed; only members of a plain .tar are read "
                               "in place (ferry convert stages a compressed archive itself)");
    *off = m.data_offset, *len = m.size;
    return 1;
}

int ferry_map_open(struct ferry_map *m, const char *path, struct ferry_error *err)
{
    memset(m, 0, sizeof(*m));
    m->fd = -1;
    char archive[4096];
    uint64_t off = 0, len = 0;
    int member = member_range(path, archive, sizeof(archive), &off, &len, err);
    if (member < 0) return member;
    uint64_t whole;
    int fd = ferry_open_regular_sized(member ? archive : path, 0, &whole, err);
    if (fd < 0) return fd;
    m->size = member ? len : whole;
    if (member && off + len > whole) {
        close(fd);
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                               "member runs past the end of the archive");
    }
    if (m->size > 0) {
        uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), start = off / page * page;
        size_t maplen = (size_t)(m->size + (off - start));
        void *p = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, fd, (off_t)start);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return ferry_error_set(err, FERRY_EIO, path, FERRY_NO_OFFSET, NULL, "mmap: %s",
                                   strerror(e));
        }
        m->base = p, m->base_len = maplen, m->file_offset = off;
        m->data = (const uint8_t *)p + (off - start);
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
    if (m->base) munmap(m->base, m->base_len);
    if (m->fd >= 0) close(m->fd);
    free(m->path);
    memset(m, 0, sizeof(*m));
    m->fd = -1;
}

void ferry_map_done(const struct ferry_map *m, uint64_t off, uint64_t len)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (!m->data || off + len > m->size) return;
    uint64_t delta = (uint64_t)(m->data - (const uint8_t *)m->base); /* an archive member's place */
    uint64_t start = (delta + off + page - 1) / page * page,
             end = (delta + off + len) / page * page;
    if (end > start) madvise((uint8_t *)m->base + start, (size_t)(end - start), MADV_DONTNEED);
}

static void remove_stale(const char *dir, const char *name);

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
    remove_stale(dir, name);
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

/* writes this long go to the file (in FERRY_WRITE_PIECE pieces), not copied once more through
 * the stream's buffer */
#define DIRECT_WRITE FERRY_WRITE_PIECE

int ferry_write_full(int fd, const void *buf, size_t n)
{
    for (size_t done = 0; done < n;) {
        size_t k = n - done < FERRY_WRITE_PIECE ? n - done : FERRY_WRITE_PIECE;
        ssize_t w = write(fd, (const uint8_t *)buf + done, k);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

int ferry_out_write(struct ferry_out *o, const void *buf, uint64_t n, struct ferry_error *err)
{
    if (n >= DIRECT_WRITE) {
        if (fflush(o->fp) != 0)
            return ferry_error_set(err, FERRY_EIO, o->tmp, o->pos, NULL, "write: %s",
                                   strerror(errno));
        if (ferry_write_full(fileno(o->fp), buf, (size_t)n))
            return ferry_error_set(err, FERRY_EIO, o->tmp, o->pos, NULL, "write: %s",
                                   strerror(errno));
    } else if (n && fwrite(buf, 1, (size_t)n, o->fp) != (size_t)n)
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

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
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
        if (dup) fsync_path(dirname(dup));
        free(dup);
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

static int remove_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

void ferry_remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ".NAME.tmp.PID" entries of dir whose process is gone: what a killed run left behind */
static void remove_stale(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    if (!d) return;
    size_t nl = strlen(name);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (s[0] != '.' || strncmp(s + 1, name, nl) || strncmp(s + 1 + nl, ".tmp.", 5)) continue;
        char *end;
        long pid = strtol(s + nl + 6, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        size_t n = strlen(dir) + strlen(s) + 2;
        char *p = malloc(n);
        if (p) {
            snprintf(p, n, "%s/%s", dir, s);
            ferry_remove_tree(p);
            free(p);
        }
    }
    closedir(d);
}

static int empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
    closedir(d);
    return empty;
}

int ferry_outdir_open(struct ferry_outdir *d, const char *path, int force, struct ferry_error *err)
{
    memset(d, 0, sizeof(*d));
    struct stat st;
    if (!force && lstat(path, &st) == 0 && !(S_ISDIR(st.st_mode) && empty_dir(path)))
        return ferry_error_set(err, FERRY_ECANTCREAT, path, FERRY_NO_OFFSET, NULL,
                               "output exists (use --force to overwrite)");
    char *dup = strdup(path), *base = strdup(path);
    size_t n = strlen(path) + 64;
    d->path = strdup(path);
    d->tmp = malloc(n);
    if (!dup || !base || !d->path || !d->tmp) {
        free(dup);
        free(base);
        free(d->path);
        free(d->tmp);
        memset(d, 0, sizeof(*d));
        return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    }
    size_t l = strlen(dup);
    while (l > 1 && dup[l - 1] == '/') dup[--l] = 0, base[l] = 0;
    const char *dir = dirname(dup), *name = basename(base);
    remove_stale(dir, name);
    snprintf(d->tmp, n, "%s/.%s.tmp.%ld", dir, name, (long)getpid());
    free(dup);
    free(base);
    d->force = force;
    ferry_remove_tree(d->tmp); /* a pid reused from a killed run */
    if (mkdir(d->tmp, 0755) != 0) {
        int e = errno;
        ferry_error_set(err, e == EACCES ? FERRY_EPERM : FERRY_ECANTCREAT, d->tmp, FERRY_NO_OFFSET,
                        NULL, "cannot create: %s", strerror(e));
        free(d->path);
        free(d->tmp);
        memset(d, 0, sizeof(*d));
        return err ? err->code : FERRY_ECANTCREAT;
    }
    return 0;
}

int ferry_outdir_commit(struct ferry_outdir *d, struct ferry_error *err)
{
    if (fsync_path(d->tmp) != 0)
        return ferry_error_set(err, FERRY_EIO, d->tmp, FERRY_NO_OFFSET, NULL, "fsync: %s",
                               strerror(errno));
    char *old = NULL;
    struct stat st;
    if (lstat(d->path, &st) == 0 && !(S_ISDIR(st.st_mode) && empty_dir(d->path))) {
        if (!d->force)
            return ferry_error_set(err, FERRY_ECANTCREAT, d->path, FERRY_NO_OFFSET, NULL,
                                   "output appeared while converting (use --force to overwrite)");
        size_t n = strlen(d->tmp) + 8;
        old = malloc(n);
        if (!old)
            return ferry_error_set(err, FERRY_EINTERNAL, d->path, FERRY_NO_OFFSET, NULL, "oom");
        snprintf(old, n, "%s.old", d->tmp);
        if (rename(d->path, old) != 0) {
            int e = errno;
            free(old);
            return ferry_error_set(err, FERRY_ECANTCREAT, d->path, FERRY_NO_OFFSET, NULL,
                                   "cannot move the old output aside: %s", strerror(e));
        }
    }
    if (rename(d->tmp, d->path) != 0) {
        int e = errno;
        if (old) rename(old, d->path); /* put the old output back */
        free(old);
        return ferry_error_set(err, FERRY_ECANTCREAT, d->path, FERRY_NO_OFFSET, NULL,
                               "rename into place: %s", strerror(e));
    }
    char *dup = strdup(d->path);
    if (dup) fsync_path(dirname(dup));
    free(dup);
    if (old) ferry_remove_tree(old);
    free(old);
    free(d->tmp);
    d->tmp = NULL;
    return 0;
}

void ferry_outdir_abort(struct ferry_outdir *d)
{
    if (d->tmp) ferry_remove_tree(d->tmp);
    free(d->tmp);
    free(d->path);
    memset(d, 0, sizeof(*d));
}

int ferry_read_file(const char *path, uint64_t max, uint8_t **buf, size_t *len,
                    struct ferry_error *err)
{
    struct ferry_map map;
    *buf = NULL, *len = 0;
    int rc = ferry_map_open(&map, path, err);
    if (rc) return rc;
    if (map.size > max)
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                             "%llu bytes is more than the %llu expected here",
                             (unsigned long long)map.size, (unsigned long long)max);
    else if (!(*buf = malloc((size_t)map.size + 1)))
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    else {
        if (map.size) memcpy(*buf, map.data, (size_t)map.size);
        (*buf)[map.size] = 0;
        *len = (size_t)map.size;
    }
    ferry_map_close(&map);
    return rc;
}

int ferry_write_file(const char *path, const void *data, size_t n, int force,
                     struct ferry_error *err)
{
    struct ferry_out o;
    int rc = ferry_out_open(&o, path, force, err);
    if (rc) return rc;
    if (!(rc = ferry_out_write(&o, data, n, err))) rc = ferry_out_commit(&o, err);
    if (rc) ferry_out_abort(&o);
    return rc;
}

int ferry_copy_file(const char *from, const char *to, int force, struct ferry_error *err)
{
    struct ferry_map m;
    int rc = ferry_map_open(&m, from, err);
    if (rc) return rc;
    rc = ferry_write_file(to, m.data, (size_t)m.size, force, err);
    ferry_map_close(&m);
    return rc;
}
