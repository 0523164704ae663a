/* Verified HTTP(S) downloads: parallel Range segments over several HTTP/1.1 connections, each
 * 206 checked against the requested Content-Range, If-Range with the ETag, a .part file and a
 * small state file so an interrupted fetch (even kill -9) resumes without downloading finished
 * segments again, SHA-256 computed as segments complete in order, retries with backoff and
 * Retry-After, and a rename into place only after size and hash match. */
#ifndef FERRY_FETCH_H
#define FERRY_FETCH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "ferry/error.h"

/* Segments per file at most: the segment table is as long as the size a server claims divided
 * by the segment size, so a claimed 80 GB in 4 KiB segments would take gigabytes of memory.
 * 65536 segments of the default 16 MiB cover 1 TiB. */
#define FERRY_FETCH_MAX_SEGMENTS 65536u

struct ferry_fetch_opts {
    unsigned connections;    /* parallel segments (default 4) */
    uint64_t segment_size;   /* default 16 MiB; a multiple of it when a file would have more
                              * than FERRY_FETCH_MAX_SEGMENTS */
    unsigned max_tries;      /* per segment (default 6) */
    long connect_timeout_ms; /* default 15000 */
    long low_speed_time_s; /* abort a transfer slower than low_speed_limit for this long (default 30
                              s) */
    long low_speed_limit;  /* bytes per second (default 1024) */
    const char *bearer;    /* Authorization: Bearer, sent only to the URL's own host */
    const uint8_t *sha256; /* expected digest (32 bytes) or NULL */
    const uint8_t
        *git_sha1; /* expected git blob SHA-1 (20 bytes) or NULL: sha1("blob N\0" + bytes) */
    const uint8_t *btv2_root;      /* expected BEP 52 pieces root (32 bytes) or NULL */
    int force;                     /* replace an existing file */
    volatile sig_atomic_t *cancel; /* set to stop; the .part stays for a rerun */
    void (*progress)(void *ctx, uint64_t bytes);
    void (*progress_total)(void *ctx, uint64_t bytes);
    /* the first `bytes` bytes of the .part file are written (grows as they arrive; not yet
     * verified: the digest is checked at the end; smaller than before only when a transfer
     * that cannot resume starts over) */
    void (*prefix)(void *ctx, uint64_t bytes);
    void *progress_ctx, *prefix_ctx;
    unsigned jobs; /* files the workflows of fetch_flow.h fetch at once (default 1) */
};

struct ferry_fetch_result {
    uint64_t size;
    uint8_t sha256[32];
    uint64_t downloaded; /* bytes transferred by this run (resumed parts excluded) */
    unsigned retries;
    int resumed;       /* finished segments were reused from an earlier run */
    int single_stream; /* the server ignored Range */
    int verified_by;   /* 0 size only, 1 expected SHA-256, 2 X-Linked-Etag, 3 git blob SHA-1,
                        * 4 BitTorrent piece hashes, 5 the signed manifest it was unpacked with */
    char etag[256];    /* the server's validator for the object */
    int btv2_checked;  /* the BEP 52 root matched btv2_root */
    int unhashed;      /* sha256 was not computed (a member unpacked from an archive that
                        * carries no signed manifest listing it): size only */
};

/* Downloads url into dir/name. Exit-code-like errors: FERRY_EPERM (401/403), FERRY_ENOINPUT
 * (404/410), FERRY_EUNAVAIL (unreachable, retries exhausted), FERRY_EMISMATCH (hash or size),
 * FERRY_EINTR (cancelled; rerun resumes), FERRY_ECANTCREAT (exists, locked, no space). */
int ferry_fetch_url(const char *url, const char *dir, const char *name,
                    const struct ferry_fetch_opts *o, struct ferry_fetch_result *r,
                    struct ferry_error *err);

/* 0 when path is a regular file of size bytes matching the given hashes (either may be NULL);
 * FERRY_EMISMATCH when it differs, FERRY_ENOINPUT when it is missing. */
int ferry_fetch_check_file(const char *path, uint64_t size, const uint8_t *sha256,
                           const uint8_t *git_sha1, struct ferry_error *err);

/* Percent-encodes s into out, leaving unreserved characters (and '/' when keep_slash).
 * 0, or -1 when out is too small (out then holds nothing usable). */
int ferry_url_escape(const char *s, int keep_slash, char *out, size_t n);

void ferry_fetch_global_init(void);

#endif
