/* Write-behind buffers (see write_behind.h): SLOTS buffers of SLOT_BYTES each pass in a ring
 * from the producer, who fills them, to the writer thread, who empties them. */
#include "write_behind.h"
#include "ferry/file.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOTS      4
#define SLOT_BYTES (4u << 20)

struct slot {
    uint8_t *buf;
    size_t len;
    int fd, close_after;
    char path[4096];
};

struct write_behind {
    struct slot s[SLOTS];
    unsigned head, tail; /* slots handed over: [tail, head) (mod SLOTS, counted unbounded) */
    int filling;         /* the producer holds slot head % SLOTS, not yet handed over */
    int threaded, stop, failed;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t ready, free_slot;
    struct ferry_error err; /* the first failure */
};

static int put(int fd, const char *path, const uint8_t *p, size_t n, struct ferry_error *err)
{
    return ferry_write_full(fd, p, n) ? ferry_error_set(err, FERRY_EIO, path, FERRY_NO_OFFSET, NULL,
                                                        "write: %s", strerror(errno))
                                      : 0;
}

/* Writes a slot's bytes and closes its file if asked; after a failure only closes. */
static void drain(struct write_behind *w, struct slot *s, int failed, struct ferry_error *e)
{
    int rc = failed ? 0 : put(s->fd, s->path, s->buf, s->len, e);
    if (s->close_after && close(s->fd) && !failed && !rc)
        rc = ferry_error_set(e, FERRY_EIO, s->path, FERRY_NO_OFFSET, NULL, "close: %s",
                             strerror(errno));
    if (rc) {
        pthread_mutex_lock(&w->mu);
        if (!w->failed) w->err = *e;
        w->failed = 1;
        pthread_mutex_unlock(&w->mu);
    }
}

static void *writer(void *arg)
{
    struct write_behind *w = arg;
    struct ferry_error e;
    ferry_error_clear(&e);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->tail == w->head && !w->stop) pthread_cond_wait(&w->ready, &w->mu);
        if (w->tail == w->head) break;
        struct slot *s = &w->s[w->tail % SLOTS];
        int failed = w->failed;
        pthread_mutex_unlock(&w->mu);
        drain(w, s, failed, &e);
        pthread_mutex_lock(&w->mu);
        s->len = 0, s->close_after = 0;
        w->tail++;
        pthread_cond_signal(&w->free_slot);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct write_behind *write_behind_new(void)
{
    struct write_behind *w = calloc(1, sizeof(*w));
    if (!w) return NULL;
    for (int i = 0; i < SLOTS; i++)
        if (!(w->s[i].buf = malloc(SLOT_BYTES))) {
            for (int j = 0; j < i; j++) free(w->s[j].buf);
            free(w);
            return NULL;
        }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->ready, NULL);
    pthread_cond_init(&w->free_slot, NULL);
    w->threaded = pthread_create(&w->th, NULL, writer, w) == 0;
    return w;
}

/* The slot being filled goes to the writer (or is written here without a thread). */
static void hand_over(struct write_behind *w)
{
    struct slot *s = &w->s[w->head % SLOTS];
    w->filling = 0;
    if (!w->threaded) {
        struct ferry_error e;
        ferry_error_clear(&e);
        drain(w, s, w->failed, &e);
        s->len = 0, s->close_after = 0;
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->head++;
    pthread_cond_signal(&w->ready);
    pthread_mutex_unlock(&w->mu);
}

/* The slot to fill for fd: the current one if it holds fd's bytes, else a fresh one (waiting
 * for the writer to free it); NULL after a failure (the failure is then in w->err). */
static struct slot *slot_for(struct write_behind *w, int fd, const char *path)
{
    if (w->filling && w->s[w->head % SLOTS].fd != fd) hand_over(w);
    if (!w->filling) {
        pthread_mutex_lock(&w->mu);
        while (w->threaded && w->head - w->tail == SLOTS && !w->failed)
            pthread_cond_wait(&w->free_slot, &w->mu);
        int failed = w->failed;
        pthread_mutex_unlock(&w->mu);
        if (failed) return NULL; /* the writer may still hold every slot */
        struct slot *s = &w->s[w->head % SLOTS];
        s->fd = fd, s->len = 0, s->close_after = 0;
        snprintf(s->path, sizeof(s->path), "%s", path);
        w->filling = 1;
    }
    return &w->s[w->head % SLOTS];
}

static int failure(struct write_behind *w, struct ferry_error *err)
{
    pthread_mutex_lock(&w->mu);
    int failed = w->failed;
    if (failed && err) *err = w->err;
    pthread_mutex_unlock(&w->mu);
    return failed ? (w->err.code ? w->err.code : FERRY_EIO) : 0;
}

int write_behind_write(struct write_behind *w, int fd, const char *path, const void *bytes,
                       size_t n, struct ferry_error *err)
{
    const uint8_t *p = bytes;
    while (n) {
        struct slot *s = slot_for(w, fd, path);
        if (!s) return failure(w, err);
        size_t k = SLOT_BYTES - s->len < n ? SLOT_BYTES - s->len : n;
        memcpy(s->buf + s->len, p, k);
        s->len += k, p += k, n -= k;
        if (s->len == SLOT_BYTES) hand_over(w);
    }
    return failure(w, err);
}

int write_behind_close(struct write_behind *w, int fd, const char *path, struct ferry_error *err)
{
    struct slot *s = slot_for(w, fd, path);
    if (!s) {
        close(fd);
        return failure(w, err);
    }
    s->close_after = 1;
    hand_over(w);
    return failure(w, err);
}

int write_behind_finish(struct write_behind *w, struct ferry_error *err)
{
    if (w->filling) hand_over(w); /* bytes of a file left open by the caller */
    if (w->threaded) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_signal(&w->ready);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->th, NULL);
    }
    int rc = failure(w, err);
    for (int i = 0; i < SLOTS; i++) free(w->s[i].buf);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->ready);
    pthread_cond_destroy(&w->free_slot);
    free(w);
    return rc;
}
