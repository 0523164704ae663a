/* Segment finisher threads (see seg_sync.h): a syncer that makes finished segments durable
 * and records them, and a hasher that feeds SHA-256 in file order as soon as segments are
 * written (durability is not needed to hash them). */
#define _GNU_SOURCE
#include "seg_sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *run_hasher(void *arg)
{
    struct seg_sync *y = arg;
    enum { BUF = 1 << 20 };
    char *buf = malloc(BUF);
    uint64_t seg = y->st->segment;
    int rc =
        buf ? 0 : ferry_error_set(&y->herr, FERRY_EINTERNAL, y->part, FERRY_NO_OFFSET, NULL, "oom");
    pthread_mutex_lock(&y->mu);
    while (!rc && y->hashed < y->size) {
        uint64_t k = y->hashed / seg;
        while (!y->ready[k] && !y->stop) pthread_cond_wait(&y->hcv, &y->mu);
        if (!y->ready[k]) break; /* stopped before this segment arrived */
        pthread_mutex_unlock(&y->mu);
        uint64_t end = (k + 1) * seg < y->size ? (k + 1) * seg : y->size;
        while (y->hashed < end) { /* pages just written: read back from the page cache */
            size_t want = end - y->hashed < BUF ? (size_t)(end - y->hashed) : BUF;
            ssize_t r = pread(y->fd, buf, want, (off_t)y->hashed);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                rc = ferry_error_set(&y->herr, FERRY_EIO, y->part, y->hashed, NULL, "read: %s",
                                     r < 0 ? strerror(errno) : "short file");
                break;
            }
            EVP_DigestUpdate(y->md, buf, (size_t)r);
            if (y->md_git) EVP_DigestUpdate(y->md_git, buf, (size_t)r);
            y->hashed += (uint64_t)r;
        }
        pthread_mutex_lock(&y->mu);
    }
    y->hrc = rc;
    pthread_mutex_unlock(&y->mu);
    free(buf);
    return NULL;
}

static void *run_syncer(void *arg)
{
    struct seg_sync *y = arg;
    int rc = 0;
    pthread_mutex_lock(&y->mu);
    while (!rc) {
        while (y->head == y->tail && !y->stop) pthread_cond_wait(&y->cv, &y->mu);
        if (y->head == y->tail) break; /* stopped and drained */
        uint64_t from = y->head, to = y->tail;
        pthread_mutex_unlock(&y->mu);
        if (fdatasync(y->fd) != 0) { /* one sync covers the whole batch */
            rc = ferry_error_set(&y->err, FERRY_EIO, y->part, FERRY_NO_OFFSET, NULL,
                                 "fdatasync: %s", strerror(errno));
        } else {
            for (uint64_t k = from; k < to; k++) y->st->done[y->queue[k]] = 1;
            rc = fetch_state_save(y->state_path, y->url, y->st, &y->err);
        }
        pthread_mutex_lock(&y->mu);
        y->head = to;
    }
    y->rc = rc;
    pthread_mutex_unlock(&y->mu);
    return NULL;
}

int seg_sync_start(struct seg_sync *y, struct ferry_error *err)
{
    uint64_t n = y->st->nsegs ? y->st->nsegs : 1;
    y->queue = calloc(n, sizeof(*y->queue));
    y->ready = calloc(n, 1);
    if (!y->queue || !y->ready) {
        free(y->queue), free(y->ready);
        return ferry_error_set(err, FERRY_EINTERNAL, y->part, FERRY_NO_OFFSET, NULL, "oom");
    }
    memcpy(y->ready, y->st->done, y->st->nsegs); /* finished by an earlier run */
    y->head = y->tail = 0;
    y->stop = y->rc = y->hrc = 0;
    ferry_error_clear(&y->err);
    ferry_error_clear(&y->herr);
    pthread_mutex_init(&y->mu, NULL);
    pthread_cond_init(&y->cv, NULL);
    pthread_cond_init(&y->hcv, NULL);
    if (pthread_create(&y->th, NULL, run_syncer, y) != 0) {
        free(y->queue), free(y->ready);
        return ferry_error_set(err, FERRY_EINTERNAL, y->part, FERRY_NO_OFFSET, NULL,
                               "cannot start a thread");
    }
    if (pthread_create(&y->hth, NULL, run_hasher, y) != 0) {
        seg_sync_finish(y, NULL);
        return ferry_error_set(err, FERRY_EINTERNAL, y->part, FERRY_NO_OFFSET, NULL,
                               "cannot start a thread");
    }
    y->hasher_running = 1;
    return 0;
}

void seg_sync_push(struct seg_sync *y, uint64_t idx)
{
    pthread_mutex_lock(&y->mu);
    if (y->tail < y->st->nsegs) y->queue[y->tail++] = idx; /* each segment finishes once */
    y->ready[idx] = 1;
    pthread_cond_signal(&y->cv);
    pthread_cond_signal(&y->hcv);
    pthread_mutex_unlock(&y->mu);
}

int seg_sync_failed(struct seg_sync *y)
{
    pthread_mutex_lock(&y->mu);
    int rc = y->rc ? y->rc : y->hrc;
    pthread_mutex_unlock(&y->mu);
    return rc;
}

int seg_sync_finish(struct seg_sync *y, struct ferry_error *err)
{
    pthread_mutex_lock(&y->mu);
    y->stop = 1;
    pthread_cond_broadcast(&y->cv);
    pthread_cond_broadcast(&y->hcv);
    pthread_mutex_unlock(&y->mu);
    pthread_join(y->th, NULL);
    if (y->hasher_running) pthread_join(y->hth, NULL);
    pthread_mutex_destroy(&y->mu);
    pthread_cond_destroy(&y->cv);
    pthread_cond_destroy(&y->hcv);
    free(y->queue);
    free(y->ready);
    int rc = y->rc ? y->rc : y->hrc;
    if (rc && err) *err = y->rc ? y->err : y->herr;
    return rc;
}
