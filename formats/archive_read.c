/* Reading model archives through libarchive (see ferry/archive.h). Only the formats and
 * filters a model archive uses are enabled: libarchive's external-program filters (lrzip,
 * grzip, ...) would run other programs on a stranger's bytes. */
#define _GNU_SOURCE
#include "ferry/archive.h"
#include "ferry/behind.h"
#include "ferry/file.h"
#include "strset.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RATIO_FLOOR (64ull << 20)

int ferry_archive_name(const char *path)
{
    static const char *const ext[] = {".tar",    ".tar.gz",  ".tgz",  ".tar.bz2",
                                      ".tar.xz", ".tar.zst", ".tzst", ".zip"};
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        size_t e = strlen(ext[i]);
        if (n > e && !strcmp(path + n - e, ext[i])) return 1;
    }
    return 0;
}

/* a caller's source behind libarchive's read callback */
struct src_buf {
    const struct ferry_archive_source *src;
    uint8_t buf[1 << 20];
};

static la_ssize_t src_read(struct archive *a, void *ctx, const void **out)
{
    struct src_buf *b = ctx;
    ptrdiff_t n = b->src->read(b->src->ctx, b->buf, sizeof(b->buf));
    if (n < 0) {
        archive_set_error(a, EIO, "the source stopped");
        return -1;
    }
    *out = b->buf;
    return (la_ssize_t)n;
}

static int src_close(struct archive *a, void *ctx)
{
    (void)a;
    free(ctx);
    return ARCHIVE_OK;
}

/* path, or with src its bytes from the caller */
static struct archive *open_reader_src(const char *path, const struct ferry_archive_source *src,
                                       struct ferry_error *err);

static struct archive *open_reader(const char *path, struct ferry_error *err)
{
    return open_reader_src(path, NULL, err);
}

static struct archive *open_reader_src(const char *path, const struct ferry_archive_source *src,
                                       struct ferry_error *err)
{
    struct archive *a = archive_read_new();
    if (!a) {
        ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
        return NULL;
    }
    archive_read_support_filter_none(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    struct src_buf *sb = src ? malloc(sizeof(*sb)) : NULL;
    if (src && !sb) {
        archive_read_free(a);
        ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
        return NULL;
    }
    if (sb) sb->src = src;
    if ((src ? archive_read_open(a, sb, NULL, src_read, src_close)
             : archive_read_open_filename(a, path, 1 << 20)) != ARCHIVE_OK) {
        int e = archive_errno(a);
        ferry_error_set(err,
                        e == ENOENT   ? FERRY_ENOINPUT
                        : e == EACCES ? FERRY_EPERM
                                      : FERRY_EMALFORMED,
                        path, FERRY_NO_OFFSET, NULL, "not a readable archive: %s",
                        archive_error_string(a) ? archive_error_string(a) : "unknown format");
        archive_read_free(a);
        return NULL;
    }
    return a;
}

static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s >> 5) == 6 ? 1 : (*s >> 4) == 14 ? 2 : (*s >> 3) == 30 ? 3 : -1;
        if (n < 0) return 0;
        unsigned cp = n == 0 ? *s : *s & (0x3f >> n);
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += n + 1;
    }
    return 1;
}

/* The member's name made relative and checked: no absolute path, no "." or ".." or empty
 * component (after a leading "./"), valid UTF-8, no control characters. NULL when unsafe. */
static char *clean_name(const char *raw, int *dir)
{
    if (!raw || !*raw || raw[0] == '/' || !utf8_ok((const unsigned char *)raw)) return NULL;
    while (raw[0] == '.' && raw[1] == '/') raw += 2;
    char *s = strdup(raw);
    if (!s) return NULL;
    size_t n = strlen(s);
    *dir = n && s[n - 1] == '/';
    while (n && s[n - 1] == '/') s[--n] = 0;
    if (!n) {
        free(s);
        return NULL;
    }
    for (const char *p = s;;) {
        const char *q = strchr(p, '/');
        size_t l = q ? (size_t)(q - p) : strlen(p);
        if (!l || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.')) {
            free(s);
            return NULL;
        }
        if (!q) break;
        p = q + 1;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '\\') {
            free(s);
            return NULL;
        }
    return s;
}

struct reader {
    const char *path;
    struct archive *a;
    uint64_t max_ratio, max_bytes, out;
    struct ferry_error *err;
};

static int bomb(struct reader *r, const char *member)
{
    uint64_t in = (uint64_t)archive_filter_bytes(r->a, -1);
    if (r->out > r->max_bytes)
        return ferry_error_set(r->err, FERRY_EMALFORMED, r->path, FERRY_NO_OFFSET, member,
                               "more than %llu bytes uncompressed (a decompression bomb?)",
                               (unsigned long long)r->max_bytes);
    if (r->out > RATIO_FLOOR && r->out / (in ? in : 1) > r->max_ratio)
        return ferry_error_set(r->err, FERRY_EMALFORMED, r->path, FERRY_NO_OFFSET, member,
                               "expands more than %llu times (a decompression bomb?)",
                               (unsigned long long)r->max_ratio);
    return 0;
}

static int lib_error(struct reader *r, const char *member)
{
    const char *why = archive_error_string(r->a);
    return ferry_error_set(r->err, FERRY_EMALFORMED, r->path, FERRY_NO_OFFSET, member, "%s",
                           why ? why : "damaged archive");
}

/* Reads the next header into m (entries that are neither files nor folders are refused);
 * 1 at the end, 0 with m filled, or an error. */
static int next(struct reader *r, struct ferry_archive_member *m)
{
    struct archive_entry *e;
    memset(m, 0, sizeof(*m));
    int rc = archive_read_next_header(r->a, &e);
    if (rc == ARCHIVE_EOF) return 1;
    if (rc < ARCHIVE_WARN) return lib_error(r, NULL);
    const char *raw = archive_entry_pathname_utf8(e);
    if (!raw) raw = archive_entry_pathname(e);
    int dir = 0;
    m->name = clean_name(raw, &dir);
    if (!m->name)
        return ferry_error_set(r->err, FERRY_EMALFORMED, r->path, FERRY_NO_OFFSET, raw ? raw : "",
                               "unsafe member name (absolute, '..', empty, control characters or "
                               "not UTF-8)");
    mode_t type = archive_entry_filetype(e);
    if (archive_entry_hardlink(e) || type == AE_IFLNK)
        return ferry_error_set(r->err, FERRY_EMALFORMED, r->path, FERRY_NO_OFFSET, m->name,
                               "links are refused in a model archive");
    if (type != AE_IFREG && type != AE_IFDIR)
        return ferry_error_set(r->err, FERRY_EMALFORMED, r->path, FERRY_NO_OFFSET, m->name,
                               "a device, FIFO or socket is refused in a model archive");
    if (archive_entry_is_encrypted(e))
        return ferry_error_set(r->err, FERRY_EMALFORMED, r->path, FERRY_NO_OFFSET, m->name,
                               "encrypted members are not supported");
    m->dir = type == AE_IFDIR || dir;
    la_int64_t sz = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (sz < 0)
        return ferry_error_set(r->err, FERRY_EMALFORMED, r->path, FERRY_NO_OFFSET, m->name,
                               "negative size");
    m->size = m->dir ? 0 : (uint64_t)sz;
    m->in_place = !m->dir && archive_filter_code(r->a, 0) == ARCHIVE_FILTER_NONE &&
                  archive_format(r->a) != ARCHIVE_FORMAT_ZIP && archive_entry_sparse_count(e) == 0;
    if (m->in_place) m->data_offset = (uint64_t)archive_filter_bytes(r->a, 0);
    return 0;
}

/* Reads (or skips, with v NULL) the current member's data, checking its length and the bomb
 * limits as bytes arrive. */
static int body(struct reader *r, const struct ferry_archive_member *m,
                const struct ferry_archive_visitor *v)
{
    uint64_t got = 0;
    for (;;) {
        const void *buf;
        size_t n;
        la_int64_t off;
        int rc = archive_read_data_block(r->a, &buf, &n, &off);
        if (rc == ARCHIVE_EOF) break;
        if (rc < ARCHIVE_WARN) return lib_error(r, m->name);
        if (off < 0 || (uint64_t)off != got) /* sparse holes would read as zeros: refuse */
            return ferry_error_set(r->err, FERRY_EMALFORMED, r->path, FERRY_NO_OFFSET, m->name,
                                   "sparse or out-of-order member data");
        got += n, r->out += n;
        if (got > m->size)
            return ferry_error_set(r->err, FERRY_EMALFORMED, r->path, FERRY_NO_OFFSET, m->name,
                                   "more bytes than its declared size %llu",
                                   (unsigned long long)m->size);
        if ((rc = bomb(r, m->name))) return rc;
        if (v && v->data && n && (rc = v->data(v->ctx, buf, n))) return rc;
    }
    if (got != m->size)
        return ferry_error_set(r->err, FERRY_EMALFORMED, r->path, FERRY_NO_OFFSET, m->name,
                               "truncated: %llu of %llu bytes", (unsigned long long)got,
                               (unsigned long long)m->size);
    return 0;
}

/* The caller's limits, else FERRY_ARCHIVE_MAX_RATIO / FERRY_ARCHIVE_MAX_BYTES from the
 * environment, else 1000 and 64 TiB. */
static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    char *end;
    unsigned long long x = v && *v ? strtoull(v, &end, 10) : 0;
    return v && *v && !*end && x ? (uint64_t)x : dflt;
}

static void limits(struct reader *r, const struct ferry_archive_limits *lim)
{
    r->max_ratio =
        lim && lim->max_ratio ? lim->max_ratio : env_u64("FERRY_ARCHIVE_MAX_RATIO", 1000);
    r->max_bytes =
        lim && lim->max_bytes ? lim->max_bytes : env_u64("FERRY_ARCHIVE_MAX_BYTES", 64ull << 40);
}

int ferry_archive_list(const char *path, const struct ferry_archive_limits *lim,
                       struct ferry_archive *a, struct ferry_error *err)
{
    memset(a, 0, sizeof(*a));
    struct reader r = {.path = path, .err = err};
    limits(&r, lim);
    struct stat fst;
    uint64_t size_of_file = stat(path, &fst) == 0 ? (uint64_t)fst.st_size : 0;
    if (!(r.a = open_reader(path, err))) return err->code;
    struct strset seen;
    strset_init(&seen);
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        struct ferry_archive_member m;
        rc = next(&r, &m);
        if (rc == 1) {
            rc = 0;
            break;
        }
        int fresh = rc ? 1 : strset_add(&seen, m.name, strlen(m.name)); /* linear in members */
        if (!rc && fresh < 0)
            rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
        else if (!rc && !fresh)
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, m.name,
                                 "the archive holds this name twice");
        if (!rc && !m.dir && m.in_place) { /* stored plainly: bounds checked, data not read */
            if (m.data_offset > size_of_file || m.size > size_of_file - m.data_offset)
                rc = ferry_error_set(err, FERRY_EMALFORMED, path, m.data_offset, m.name,
                                     "truncated: the member runs past the end of the archive");
            else if (archive_read_data_skip(r.a) != ARCHIVE_OK)
                rc = lib_error(&r, m.name);
        } else if (!rc && !m.dir)
            rc = body(&r, &m, NULL);
        if (!rc && a->n == cap) {
            cap = cap ? 2 * cap : 64;
            struct ferry_archive_member *p = realloc(a->m, cap * sizeof(*p));
            if (!p)
                rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
            else
                a->m = p;
        }
        if (rc) {
            free(m.name);
            break;
        }
        a->m[a->n++] = m;
        a->bytes += m.size;
    }
    if (!rc) {
        snprintf(a->format, sizeof(a->format), "%s", archive_format_name(r.a));
        const char *f = archive_filter_name(r.a, 0);
        snprintf(a->filter, sizeof(a->filter), "%s", f ? f : "none");
        a->file_bytes = (uint64_t)archive_filter_bytes(r.a, -1);
        struct stat st;
        if (stat(path, &st) == 0) a->file_bytes = (uint64_t)st.st_size;
    }
    archive_read_free(r.a);
    strset_free(&seen);
    if (rc) ferry_archive_free(a);
    return rc;
}

int ferry_archive_compressed(const char *path, struct ferry_error *err)
{
    struct reader r = {.path = path, .err = err};
    if (!(r.a = open_reader(path, err))) return -err->code;
    struct ferry_archive_member m;
    int rc = next(&r, &m); /* the filter and format are known once a header was read */
    if (rc <= 1)
        rc = archive_filter_code(r.a, 0) != ARCHIVE_FILTER_NONE ||
             archive_format(r.a) == ARCHIVE_FORMAT_ZIP;
    else
        rc = -rc;
    free(m.name);
    archive_read_free(r.a);
    return rc;
}

void ferry_archive_free(struct ferry_archive *a)
{
    for (size_t i = 0; i < a->n; i++) free(a->m[i].name);
    free(a->m);
    memset(a, 0, sizeof(*a));
}

const struct ferry_archive_member *ferry_archive_find(const struct ferry_archive *a,
                                                      const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->m[i].name, name)) return &a->m[i];
    return NULL;
}

static int stream(const char *path, const struct ferry_archive_source *src,
                  const struct ferry_archive_limits *lim, const struct ferry_archive_visitor *v,
                  struct ferry_error *err)
{
    struct reader r = {.path = path, .err = err};
    limits(&r, lim);
    if (!(r.a = open_reader_src(path, src, err))) return err->code;
    int rc;
    for (;;) {
        struct ferry_archive_member m;
        rc = next(&r, &m);
        if (rc == 1) {
            rc = 0;
            break;
        }
        if (!rc && !m.dir) {
            int skip = v->begin ? v->begin(v->ctx, &m) : 0;
            rc = body(&r, &m, skip ? NULL : v);
            if (!rc && !skip && v->end) rc = v->end(v->ctx);
        }
        free(m.name);
        if (rc) break;
    }
    archive_read_free(r.a);
    return rc;
}

int ferry_archive_stream(const char *path, const struct ferry_archive_limits *lim,
                         const struct ferry_archive_visitor *v, struct ferry_error *err)
{
    return stream(path, NULL, lim, v, err);
}

int ferry_archive_stream_from(const struct ferry_archive_source *src,
                              const struct ferry_archive_limits *lim,
                              const struct ferry_archive_visitor *v, struct ferry_error *err)
{
    return stream(src->name, src, lim, v, err);
}

/* ---- extraction, for staging a compressed archive ---- */

struct extract {
    const char *prefix, *dest;
    size_t plen;
    int fd;
    char path[8192];
    volatile sig_atomic_t *cancel;
    uint64_t bytes;
    struct ferry_behind *wb; /* decompressing and writing overlap */
    struct ferry_error *err;
};

static int ex_begin(void *ctx, const struct ferry_archive_member *m)
{
    struct extract *x = ctx;
    if (x->plen && (strncmp(m->name, x->prefix, x->plen) || m->name[x->plen] != '/')) return 1;
    const char *rel = m->name + (x->plen ? x->plen + 1 : 0);
    snprintf(x->path, sizeof(x->path), "%s/%s", x->dest, rel);
    for (char *s = strchr(x->path + strlen(x->dest) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        if (mkdir(x->path, 0755) != 0 && errno != EEXIST) {
            *s = '/';
            return ferry_error_set(x->err, FERRY_ECANTCREAT, x->path, FERRY_NO_OFFSET, NULL,
                                   "mkdir: %s", strerror(errno));
        }
        *s = '/';
    }
    /* names were checked (no "..", no links in the archive): O_EXCL|O_NOFOLLOW keeps even a
     * race from writing anywhere but a new file here */
    x->fd = open(x->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (x->fd < 0)
        return ferry_error_set(x->err, FERRY_ECANTCREAT, x->path, FERRY_NO_OFFSET, NULL, "%s",
                               strerror(errno));
    return 0;
}

/* the thread's side: the bytes into the file, which is closed after its last */
static int ex_sink(void *ctx, int64_t tag, const char *path, const uint8_t *bytes, size_t n,
                   int last, int failed, struct ferry_error *err)
{
    (void)ctx;
    int fd = (int)tag, rc = 0;
    if (!failed && ferry_write_full(fd, bytes, n))
        rc = ferry_error_set(err, FERRY_EIO, path, FERRY_NO_OFFSET, NULL, "write: %s",
                             strerror(errno));
    if (last && close(fd) && !failed && !rc)
        rc = ferry_error_set(err, FERRY_EIO, path, FERRY_NO_OFFSET, NULL, "close: %s",
                             strerror(errno));
    return rc;
}

static int ex_data(void *ctx, const void *bytes, size_t n)
{
    struct extract *x = ctx;
    if (x->cancel && *x->cancel)
        return ferry_error_set(x->err, FERRY_EINTR, x->path, FERRY_NO_OFFSET, NULL, "interrupted");
    x->bytes += n;
    return ferry_behind_put(x->wb, x->fd, x->path, bytes, n, x->err);
}

static int ex_end(void *ctx)
{
    struct extract *x = ctx;
    int fd = x->fd;
    x->fd = -1;
    return ferry_behind_end(x->wb, fd, x->path, x->err);
}

static int extract(const char *archive, const struct ferry_archive_source *src, const char *prefix,
                   const char *dest, volatile sig_atomic_t *cancel, uint64_t *bytes,
                   struct ferry_error *err)
{
    struct extract x = {
        .prefix = prefix ? prefix : "", .dest = dest, .fd = -1, .cancel = cancel, .err = err};
    x.plen = strlen(x.prefix);
    while (x.plen && x.prefix[x.plen - 1] == '/') x.plen--;
    if (!(x.wb = ferry_behind_new(ex_sink, NULL)))
        return ferry_error_set(err, FERRY_EINTERNAL, archive, FERRY_NO_OFFSET, NULL, "oom");
    struct ferry_archive_visitor v = {&x, ex_begin, ex_data, ex_end};
    int rc = stream(archive, src, NULL, &v, err);
    struct ferry_error werr;
    ferry_error_clear(&werr);
    int wrc = ferry_behind_finish(x.wb, &werr);
    if (!rc && wrc) *err = werr, rc = wrc;
    if (x.fd >= 0) close(x.fd); /* a member cut short: its file was not handed over */
    if (bytes) *bytes = x.bytes;
    return rc;
}

int ferry_archive_extract(const char *archive, const char *prefix, const char *dest,
                          volatile sig_atomic_t *cancel, uint64_t *bytes, struct ferry_error *err)
{
    return extract(archive, NULL, prefix, dest, cancel, bytes, err);
}

int ferry_archive_extract_from(const struct ferry_archive_source *src, const char *prefix,
                               const char *dest, volatile sig_atomic_t *cancel, uint64_t *bytes,
                               struct ferry_error *err)
{
    return extract(src->name, src, prefix, dest, cancel, bytes, err);
}
