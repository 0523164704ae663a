/* The finisher of downloaded segments, on its own thread so the network never waits for the
 * disk or the hash: it fdatasyncs the file, records the segments in the state file, then feeds
 * SHA-256 with every byte up to the first unfinished segment (read back from the page cache). */
#ifndef FERRY_FETCH_SEG_SYNC_H
#define FERRY_FETCH_SEG_SYNC_H

#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include "fetch_state.h"
#include "ferry/error.h"

struct seg_sync {
    /* set by the caller before seg_sync_start */
    int fd;
    uint64_t size;
    const char *part, *url, *state_path;
    struct fetch_state *st; /* st->done is owned by the thread until seg_sync_finish */
    EVP_MD_CTX *md, *md_git; /* SHA-256; git blob SHA-1 or NULL */
    uint64_t hashed;        /* bytes fed to md so far */
    /* private */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t *queue, head, tail;
    int stop, rc;
    struct ferry_error err;
};

int seg_sync_start(struct seg_sync *y, struct ferry_error *err);
/* Hands over a segment whose bytes are all written. */
void seg_sync_push(struct seg_sync *y, uint64_t idx);
/* Non-zero once the thread hit an error (then seg_sync_finish reports it). */
int seg_sync_failed(struct seg_sync *y);
/* Finishes the queue, stops the thread; 0 or the thread's error copied to err. */
int seg_sync_finish(struct seg_sync *y, struct ferry_error *err);

#endif
