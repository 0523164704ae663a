/* Segment finisher thread (see seg_sync.h). */
#define _GNU_SOURCE
#include "seg_sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Feeds md from the file while the frontier lies inside a finished segment. */
static int advance_hash(struct seg_sync *y)
{
    enum { BUF = 1 << 20 };
    char *buf = malloc(BUF);
    if (!buf) return ferry_error_set(&y->err, FERRY_EINTERNAL, y->part, FERRY_NO_OFFSET, NULL, "oom");
    uint64_t seg = y->st->segment;
    int rc = 0;
    while (y->hashed < y->size && y->st->done[y->hashed / seg]) {
        uint64_t end = (y->hashed / seg + 1) * seg;
        if (end > y->size) end = y->size;
        size_t want = end - y->hashed < BUF ? (size_t)(end - y->hashed) : BUF;
        ssize_t r = pread(y->fd, buf, want, (off_t)y->hashed);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            rc = ferry_error_set(&y->err, FERRY_EIO, y->part, y->hashed, NULL, "read: %s",
                                 r < 0 ? strerror(errno) : "short file");
            break;
        }
        EVP_DigestUpdate(y->md, buf, (size_t)r);
        if (y->md_git) EVP_DigestUpdate(y->md_git, buf, (size_t)r);
        y->hashed += (uint64_t)r;
    }
    free(buf);
    return rc;
}

static void *run(void *arg)
{
    struct seg_sync *y = arg;
    int rc = advance_hash(y); /* segments finished by an earlier run */
    pthread_mutex_lock(&y->mu);
    while (!rc) {
        while (y->head == y->tail && !y->stop) pthread_cond_wait(&y->cv, &y->mu);
        if (y->head == y->tail) break; /* stopped and drained */
        uint64_t from = y->head, to = y->tail;
        pthread_mutex_unlock(&y->mu);
        if (fdatasync(y->fd) != 0) { /* one sync covers the whole batch */
            rc = ferry_error_set(&y->err, FERRY_EIO, y->part, FERRY_NO_OFFSET, NULL, "fdatasync: %s",
                                 strerror(errno));
        } else {
            for (uint64_t k = from; k < to; k++) y->st->done[y->queue[k]] = 1;
            rc = fetch_state_save(y->state_path, y->url, y->st, &y->err);
            if (!rc) rc = advance_hash(y);
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
    y->queue = calloc(y->st->nsegs ? y->st->nsegs : 1, sizeof(*y->queue));
    if (!y->queue) return ferry_error_set(err, FERRY_EINTERNAL, y->part, FERRY_NO_OFFSET, NULL, "oom");
    y->head = y->tail = 0;
    y->stop = y->rc = 0;
    ferry_error_clear(&y->err);
    pthread_mutex_init(&y->mu, NULL);
    pthread_cond_init(&y->cv, NULL);
    if (pthread_create(&y->th, NULL, run, y) != 0) {
        free(y->queue);
        return ferry_error_set(err, FERRY_EINTERNAL, y->part, FERRY_NO_OFFSET, NULL, "cannot start a thread");
    }
    return 0;
}

void seg_sync_push(struct seg_sync *y, uint64_t idx)
{
    pthread_mutex_lock(&y->mu);
    if (y->tail < y->st->nsegs) y->queue[y->tail++] = idx; /* each segment finishes once */
    pthread_cond_signal(&y->cv);
    pthread_mutex_unlock(&y->mu);
}

int seg_sync_failed(struct seg_sync *y)
{
    pthread_mutex_lock(&y->mu);
    int rc = y->rc;
    pthread_mutex_unlock(&y->mu);
    return rc;
}

int seg_sync_finish(struct seg_sync *y, struct ferry_error *err)
{
    pthread_mutex_lock(&y->mu);
    y->stop = 1;
    pthread_cond_signal(&y->cv);
    pthread_mutex_unlock(&y->mu);
    pthread_join(y->th, NULL);
    pthread_mutex_destroy(&y->mu);
    pthread_cond_destroy(&y->cv);
    free(y->queue);
    if (y->rc && err) *err = y->err;
    return y->rc;
}
