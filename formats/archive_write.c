/* Reproducible archives (see ferry_archive_pack in ferry/archive.h): the same files give the
 * same bytes whatever the clock, the owner or the umask. */
#define _GNU_SOURCE
#include "ferry/archive.h"
#include "ferry/file.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static int lib_error(struct archive *a, const char *what, struct ferry_error *err)
{
    const char *why = archive_error_string(a);
    return ferry_error_set(err, FERRY_EIO, what, FERRY_NO_OFFSET, NULL, "%s",
                           why ? why : "cannot write the archive");
}

static int add_filter(struct archive *a, const char *filter)
{
    if (!strcmp(filter, "none")) return ARCHIVE_OK;
    if (!strcmp(filter, "gzip")) /* no name or time in the gzip header */
        return archive_write_add_filter_gzip(a) ||
               archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
    if (!strcmp(filter, "xz")) return archive_write_add_filter_xz(a);
    if (!strcmp(filter, "zstd")) return archive_write_add_filter_zstd(a);
    return ARCHIVE_FATAL;
}

/* Folders of name not yet written (parents first), as pax entries of their own. */
static int add_parents(struct archive *a, const char *name, char ***done, size_t *ndone,
                       struct ferry_error *err)
{
    char path[4096];
    for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
        snprintf(path, sizeof(path), "%.*s", (int)(s - name), name);
        int seen = 0;
        for (size_t i = 0; i < *ndone && !seen; i++) seen = !strcmp((*done)[i], path);
        if (seen) continue;
        char **p = realloc(*done, (*ndone + 1) * sizeof(char *));
        if (!p || !(p[*ndone] = strdup(path))) {
            if (p) *done = p;
            return ferry_error_set(err, FERRY_EINTERNAL, name, FERRY_NO_OFFSET, NULL, "oom");
        }
        *done = p, (*ndone)++;
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname_utf8(e, path);
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        archive_entry_set_mtime(e, 0, 0);
        archive_entry_set_uid(e, 0), archive_entry_set_gid(e, 0);
        int rc = archive_write_header(a, e);
        archive_entry_free(e);
        if (rc != ARCHIVE_OK) return lib_error(a, path, err);
    }
    return 0;
}

static int add_file(struct archive *a, const char *dir, const char *name, uint8_t *buf,
                    struct ferry_error *err)
{
    char full[8192];
    snprintf(full, sizeof(full), "%s/%s", dir, name);
    uint64_t size;
    int fd = ferry_open_regular_sized(full, 1, &size, err);
    if (fd < 0) return fd;
    struct stat st;
    fstat(fd, &st);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname_utf8(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, (st.st_mode & 0111) ? 0755 : 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_entry_set_mtime(e, 0, 0);
    archive_entry_set_uid(e, 0), archive_entry_set_gid(e, 0);
    int rc = archive_write_header(a, e) == ARCHIVE_OK ? 0 : lib_error(a, full, err);
    archive_entry_free(e);
    for (uint64_t done = 0; !rc && done < size;) {
        ssize_t n = pread(fd, buf, CHUNK, (off_t)done);
        if (n <= 0) {
            rc = ferry_error_set(err, FERRY_EIO, full, done, NULL, "%s",
                                 n < 0 ? strerror(errno) : "file shrank while packing");
            break;
        }
        if (archive_write_data(a, buf, (size_t)n) != n) rc = lib_error(a, full, err);
        done += (uint64_t)n;
    }
    close(fd);
    return rc;
}

struct sink {
    struct ferry_out *o;
    struct ferry_error *err;
    int failed;
};

static la_ssize_t on_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
    (void)a;
    struct sink *s = ctx;
    if (ferry_out_write(s->o, buf, n, s->err)) {
        s->failed = 1;
        return -1;
    }
    return (la_ssize_t)n;
}

int ferry_archive_pack(const char *dir, const char *const *names, size_t n, const char *out,
                       const struct ferry_pack_opts *po, struct ferry_error *err)
{
    struct ferry_out o;
    const char *filter = po->filter ? po->filter : "none";
    int rc = ferry_out_open(&o, out, po->force, err);
    if (rc) return rc;
    struct archive *a = archive_write_new();
    uint8_t *buf = malloc(CHUNK);
    struct sink s = {&o, err, 0};
    char **done = NULL;
    size_t ndone = 0;
    if (!a || !buf) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, out, FERRY_NO_OFFSET, NULL, "oom");
        goto out;
    }
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1); /* no padding to a 10 KiB record at the end */
    if (add_filter(a, filter) != ARCHIVE_OK) {
        rc = ferry_error_set(err, FERRY_EUSAGE, out, FERRY_NO_OFFSET, NULL,
                             "compression '%s' is not none, gzip, xz or zstd", filter);
        goto out;
    }
    if (archive_write_open2(a, &s, NULL, on_write, NULL, NULL) != ARCHIVE_OK) {
        rc = lib_error(a, out, err);
        goto out;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        if (po->cancel && *po->cancel) {
            rc = ferry_error_set(err, FERRY_EINTR, out, FERRY_NO_OFFSET, NULL, "interrupted");
            break;
        }
        rc = add_parents(a, names[i], &done, &ndone, err);
        if (!rc) rc = add_file(a, dir, names[i], buf, err);
    }
    if (!rc && archive_write_close(a) != ARCHIVE_OK && !s.failed) rc = lib_error(a, out, err);
    if (!rc && s.failed) rc = err->code ? err->code : FERRY_EIO;
out:
    if (a) archive_write_free(a);
    free(buf);
    for (size_t i = 0; i < ndone; i++) free(done[i]);
    free(done);
    if (!rc)
        rc = ferry_out_commit(&o, err);
    else
        ferry_out_abort(&o);
    return rc;
}
