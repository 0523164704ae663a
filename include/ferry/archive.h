/* Model archives through libarchive: tar (ustar, pax, GNU) and zip, plain or compressed with
 * gzip, bzip2, xz or zstd. An archive is written by a stranger: members with unsafe names,
 * links, devices, duplicates, truncation and decompression bombs are refused with
 * FERRY_EMALFORMED naming the member. A member of an uncompressed tar is contiguous in the
 * file, so it can be mapped in place: "ARCHIVE.tar//PATH" opens like a file (ferry/file.h). */
#ifndef FERRY_ARCHIVE_H
#define FERRY_ARCHIVE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "ferry/error.h"

struct ferry_archive_member {
    char *name; /* relative, '/'-separated, "./" and a trailing '/' removed */
    uint64_t size;
    int dir;
    int in_place;         /* its bytes lie contiguously in the archive file */
    uint64_t data_offset; /* where, when in_place */
};

struct ferry_archive {
    char format[64]; /* libarchive's name, e.g. "POSIX pax interchange format" */
    char filter[16]; /* "none", "gzip", "bzip2", "xz", "zstd" */
    struct ferry_archive_member *m;
    size_t n;
    uint64_t bytes;      /* of the regular members */
    uint64_t file_bytes; /* of the archive file */
};

/* Decompression bomb limits: the uncompressed bytes may exceed neither max_ratio times the
 * compressed bytes read (once past 64 MiB) nor max_bytes. 0 (or a NULL limits) = the values of
 * FERRY_ARCHIVE_MAX_RATIO and FERRY_ARCHIVE_MAX_BYTES in the environment, else 1000 and 64 TiB. */
struct ferry_archive_limits {
    uint64_t max_ratio, max_bytes;
};

/* 1 when the name says archive: .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .tar.zst, .zip. */
int ferry_archive_name(const char *path);

/* Lists every member (the whole stream is read, checked and skipped). */
int ferry_archive_list(const char *path, const struct ferry_archive_limits *lim,
                       struct ferry_archive *a, struct ferry_error *err);
void ferry_archive_free(struct ferry_archive *a);
const struct ferry_archive_member *ferry_archive_find(const struct ferry_archive *a,
                                                      const char *name);

/* 1 when the archive's members cannot be read in place (it is compressed, or a zip), 0 for a
 * plain tar, or minus an error code; only the first header is read, so this is cheap where a
 * listing of a compressed archive decompresses all of it. */
int ferry_archive_compressed(const char *path, struct ferry_error *err);

/* "ARCHIVE//PATH": split splits it when ARCHIVE is an existing archive file (by its name) and
 * the whole path does not exist; lookup finds PATH in the archive's listing (a file, or a
 * folder when other members lie below it; "" is the root): 1 with *m filled (m->name NULL),
 * 0 when path is not such a path, or an error (FERRY_ENOINPUT when it has no such member).
 * *filtered says its members cannot be read in place (compressed, or a zip). kind: -1 missing, 0 a
 * file, 1 a folder, for plain paths and archive paths alike. */
int ferry_archive_split(const char *path, char *archive, size_t n, const char **member);
int ferry_archive_lookup(const char *path, char *archive, size_t n, struct ferry_archive_member *m,
                         int *filtered, struct ferry_error *err);
int ferry_path_kind(const char *path);
/* The folder an archive holds as a model: "ARCHIVE//", or "ARCHIVE//TOP" when every member
 * lies below one top folder (as `tar -cf a.tar model` packs it). */
void ferry_archive_root(const char *archive, char *out, size_t n);

/* Streams the regular members in archive order: begin(ctx, member) (return nonzero to skip
 * its data), data(ctx, bytes, n) for its bytes, end(ctx) after its last byte. A callback's
 * nonzero return other than begin's stops the stream with that code. */
struct ferry_archive_visitor {
    void *ctx;
    int (*begin)(void *ctx, const struct ferry_archive_member *m);
    int (*data)(void *ctx, const void *bytes, size_t n);
    int (*end)(void *ctx);
};
int ferry_archive_stream(const char *path, const struct ferry_archive_limits *lim,
                         const struct ferry_archive_visitor *v, struct ferry_error *err);

/* Unpacks the regular members below prefix ("" = all) into the folder dest (which must exist;
 * files are created new, never followed or replaced), in one streaming pass with the checks of
 * ferry_archive_list. *bytes gets what was written. */
int ferry_archive_extract(const char *archive, const char *prefix, const char *dest,
                          volatile sig_atomic_t *cancel, uint64_t *bytes, struct ferry_error *err);

/* An archive's bytes from elsewhere than a file (a download still arriving): read gives up to
 * n bytes of the stream's next part into buf and returns their count, 0 at its end, or -1
 * (then the stream stops with an error naming `name`). */
struct ferry_archive_source {
    const char *name; /* for messages */
    void *ctx;
    ptrdiff_t (*read)(void *ctx, void *buf, size_t n);
};
int ferry_archive_stream_from(const struct ferry_archive_source *src,
                              const struct ferry_archive_limits *lim,
                              const struct ferry_archive_visitor *v, struct ferry_error *err);
int ferry_archive_extract_from(const struct ferry_archive_source *src, const char *prefix,
                               const char *dest, volatile sig_atomic_t *cancel, uint64_t *bytes,
                               struct ferry_error *err);

/* A reproducible archive (ferry pack): pax format, the names in the order given, mtime 0, owner
 * 0:0 without names, mode 0644 (0755 for folders and executables), no record padding at the
 * end; filter "none", "gzip" (no name or time in its header), "xz" or "zstd". Written durably
 * to out (temp name, fsync, rename); an existing out is replaced only with force; a set
 * *cancel stops it (FERRY_EINTR) and removes the temporary file. */
struct ferry_pack_opts {
    const char *filter;
    int force;
    volatile sig_atomic_t *cancel;
};
int ferry_archive_pack(const char *dir, const char *const *names, size_t n, const char *out,
                       const struct ferry_pack_opts *o, struct ferry_error *err);
/* Packs a model folder: every file but .git and .cache, the signed manifest and its signatures
 * first, then the rest in the manifest's path order (verify/pack.c). */
int ferry_pack_model(const char *dir, const char *out, const struct ferry_pack_opts *o,
                     struct ferry_error *err);

#endif
