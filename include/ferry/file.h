/* Read-only file mappings and the durable output file (temp name, fsync, rename). */
#ifndef FERRY_FILE_H
#define FERRY_FILE_H

#include <stdint.h>
#include <stdio.h>
#include "ferry/error.h"

struct ferry_map {
    char *path;
    const uint8_t *data; /* NULL for an empty file */
    uint64_t size;
    int fd;
    void *base; /* the mapping itself (data lies inside it for an archive member) */
    size_t base_len;
    uint64_t file_offset; /* where data starts in fd's file (an archive member's place) */
};

/* Opens path for reading only if it is a regular file: the open does not block (a FIFO or a
 * device would), fstat decides, and the descriptor is then made blocking again. nofollow
 * refuses a symbolic link as the last component. Returns the descriptor, or a negative
 * FERRY_E* code with err filled (66 missing, 77 permission, 65 not a regular file). */
int ferry_open_regular(const char *path, int nofollow, struct ferry_error *err);
/* The same, also giving the file's size. */
int ferry_open_regular_sized(const char *path, int nofollow, uint64_t *size,
                             struct ferry_error *err);
/* The same as a stdio stream ("rb"); NULL with err filled. */
FILE *ferry_fopen_regular(const char *path, struct ferry_error *err);

/* Maps a regular file read-only. "ARCHIVE//MEMBER" (ARCHIVE an uncompressed .tar, see
 * ferry/archive.h) maps the member's bytes in place; a member of a compressed archive is
 * refused with the advice to unpack it. */
int ferry_map_open(struct ferry_map *m, const char *path, struct ferry_error *err);
void ferry_map_close(struct ferry_map *m);
/* Tells the kernel a range of the mapping was consumed (streaming readers): its pages leave
 * this process's resident set; the page cache keeps them. */
void ferry_map_done(const struct ferry_map *m, uint64_t off, uint64_t len);

/* Output written to "DIR/.NAME.tmp.PID" and renamed over PATH on commit.
 * Without force, an existing PATH is refused before anything is written. */
struct ferry_out {
    char *path;
    char *tmp;
    FILE *fp;
    uint64_t pos;
    uint64_t flushed; /* bytes already handed to writeback */
};

/* Writes all n bytes to fd in pieces of at most FERRY_WRITE_PIECE: 0, or -1 with errno (ENOSPC
 * when a write made no progress). Larger single writes make the kernel put them in large
 * page-cache folios, which on a VM that returns freed memory to its host (measured here:
 * Firecracker) cost 1-10 times more to allocate: dd of 1 GB took 0.32-0.41 s in 128-512 KiB
 * writes and 0.33-2.95 s in 1-4 MiB ones. */
#define FERRY_WRITE_PIECE (256u << 10)
int ferry_write_full(int fd, const void *buf, size_t n);

int ferry_out_open(struct ferry_out *o, const char *path, int force, struct ferry_error *err);
int ferry_out_write(struct ferry_out *o, const void *buf, uint64_t n, struct ferry_error *err);
int ferry_out_pad(struct ferry_out *o, uint64_t align, struct ferry_error *err);
/* Overwrites bytes already written at pos (e.g. a CRC known only after the data). */
int ferry_out_patch(struct ferry_out *o, uint64_t pos, const void *buf, uint64_t n,
                    struct ferry_error *err);
/* fsync, rename into place, fsync the directory. */
int ferry_out_commit(struct ferry_out *o, struct ferry_error *err);
/* Removes the temp file; safe after commit. */
void ferry_out_abort(struct ferry_out *o);

/* An output directory built whole under "PARENT/.NAME.tmp.PID" and renamed into place on
 * commit, so a crash leaves either no directory or the previous one, never half of one.
 * Staging directories left by a process that no longer runs are removed when the next one
 * opens. Without force, a PATH that exists (other than an empty directory) is refused. */
struct ferry_outdir {
    char *path;
    char *tmp; /* write the files here */
    int force;
};
int ferry_outdir_open(struct ferry_outdir *d, const char *path, int force, struct ferry_error *err);
/* fsync, then rename into place (an old directory under --force is replaced, then removed). */
int ferry_outdir_commit(struct ferry_outdir *d, struct ferry_error *err);
/* Removes the staging directory and everything in it; safe after commit. */
void ferry_outdir_abort(struct ferry_outdir *d);

/* Reads a whole regular file of at most max bytes into a malloc'd buffer (NUL-terminated
 * one byte past *len). */
int ferry_read_file(const char *path, uint64_t max, uint8_t **buf, size_t *len,
                    struct ferry_error *err);
/* Removes a folder and everything below it (links are removed, not followed). */
void ferry_remove_tree(const char *path);
/* Writes n bytes as path durably (temp name, fsync, rename); refuses to replace unless force. */
int ferry_write_file(const char *path, const void *data, size_t n, int force,
                     struct ferry_error *err);
/* Copies a regular file durably (temp name, fsync, rename); refuses to replace unless force. */
int ferry_copy_file(const char *from, const char *to, int force, struct ferry_error *err);

/* mkdir -p path with mode for the folders it creates; 0, or -1 with errno. */
int ferry_mkdirs(const char *path, unsigned mode);

#endif
