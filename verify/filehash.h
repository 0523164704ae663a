/* Parallel file hashing for manifests: SHA-256 of each whole file and, when asked, its BEP 52
 * pieces root (SHA-256 merkle tree over 16 KiB blocks). Work is split into tasks: one
 * sequential SHA-256 task per file plus merkle tasks over 4 MiB segments of large files, so
 * several cores help even on a single big file. Files are read with pread from descriptors the
 * caller opened, so what is hashed is what the caller holds open. */
#ifndef FERRY_VERIFY_FILEHASH_H
#define FERRY_VERIFY_FILEHASH_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/error.h"

struct fh_file {
    const char *name; /* for messages */
    int fd;
    uint64_t size;
    int want_sha, want_btv2;
    uint8_t sha256[32];
    uint8_t btv2[32];
    int has_btv2;
    /* internal */
    uint8_t *seg_roots; /* 32 bytes per 4 MiB segment */
    uint64_t nseg;
    int failed;
    char errmsg[256];
};

/* Hashes every file; on a read error the file's `failed` is set with errmsg and the call
 * returns FERRY_EIO after all tasks ran. */
int fh_hash(struct fh_file *files, size_t n, unsigned threads,
            void (*progress)(void *ctx, uint64_t bytes), void *ctx, struct ferry_error *err);

#endif
