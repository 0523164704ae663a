/* The finishers of downloaded segments, on their own threads so the network never waits for
 * the disk or the hash: a syncer fdatasyncs the file and records finished segments in the
 * state file; a hasher feeds SHA-256 with every byte up to the first unwritten segment (read
 * back from the page cache). */
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
    struct fetch_state *st; /* st->done is owned by the syncer until seg_sync_finish */
    EVP_MD_CTX *md, *md_git; /* SHA-256; git blob SHA-1 or NULL */
    uint64_t hashed;        /* bytes fed to md so far */
    /* private */
    pthread_t th, hth;
    pthread_mutex_t mu;
    pthread_cond_t cv, hcv;
    uint64_t *queue, head, tail; /* for the syncer */
    uint8_t *ready;              /* per segment: written (for the hasher) */
    int stop, rc, hrc, hasher_running;
    struct ferry_error err, herr;
};

int seg_sync_start(struct seg_sync *y, struct ferry_error *err);
/* Hands over a segment whose bytes are all written. */
void seg_sync_push(struct seg_sync *y, uint64_t idx);
/* Non-zero once the thread hit an error (then seg_sync_finish reports it). */
int seg_sync_failed(struct seg_sync *y);
/* Finishes the queue, stops the threads; 0 or a thread's error copied to err. */
int seg_sync_finish(struct seg_sync *y, struct ferry_error *err);

#endif
