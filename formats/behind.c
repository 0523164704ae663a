/* Bytes handed to a thread (see ferry/behind.h): SLOTS buffers of SLOT_BYTES each pass in a ring
 * from the producer, who fills them, to the thread, who gives them to the sink. */
#include "ferry/behind.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS      4
#define SLOT_BYTES (4u << 20)

struct slot {
    uint8_t *buf;
    size_t len;
    int64_t tag;
    int last;
    char label[4096];
};

struct ferry_behind {
    ferry_behind_sink sink;
    void *ctx;
    struct slot s[SLOTS];
    unsigned head, tail; /* slots handed over: [tail, head) (mod SLOTS, counted unbounded) */
    int filling;         /* the producer holds slot head % SLOTS, not yet handed over */
    int threaded, stop, failed;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t ready, free_slot;
    struct ferry_error err; /* the first failure */
};

/* Gives a slot to the sink and records a failure. */
static void drain(struct ferry_behind *b, struct slot *s, int failed, struct ferry_error *e)
{
    int rc = b->sink(b->ctx, s->tag, s->label, s->buf, s->len, s->last, failed, e);
    if (rc && !failed) {
        pthread_mutex_lock(&b->mu);
        if (!b->failed) b->err = *e;
        b->failed = 1;
        pthread_mutex_unlock(&b->mu);
    }
}

static void *consumer(void *arg)
{
    struct ferry_behind *b = arg;
    struct ferry_error e;
    ferry_error_clear(&e);
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (b->tail == b->head && !b->stop) pthread_cond_wait(&b->ready, &b->mu);
        if (b->tail == b->head) break;
        struct slot *s = &b->s[b->tail % SLOTS];
        int failed = b->failed;
        pthread_mutex_unlock(&b->mu);
        drain(b, s, failed, &e);
        pthread_mutex_lock(&b->mu);
        s->len = 0, s->last = 0;
        b->tail++;
        pthread_cond_signal(&b->free_slot);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

struct ferry_behind *ferry_behind_new(ferry_behind_sink sink, void *ctx)
{
    struct ferry_behind *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    b->sink = sink, b->ctx = ctx;
    for (int i = 0; i < SLOTS; i++)
        if (!(b->s[i].buf = malloc(SLOT_BYTES))) {
            for (int j = 0; j < i; j++) free(b->s[j].buf);
            free(b);
            return NULL;
        }
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->ready, NULL);
    pthread_cond_init(&b->free_slot, NULL);
    b->threaded = pthread_create(&b->th, NULL, consumer, b) == 0;
    return b;
}

/* The slot being filled goes to the thread (or to the sink here, without a thread). */
static void hand_over(struct ferry_behind *b)
{
    struct slot *s = &b->s[b->head % SLOTS];
    b->filling = 0;
    if (!b->threaded) {
        struct ferry_error e;
        ferry_error_clear(&e);
        drain(b, s, b->failed, &e);
        s->len = 0, s->last = 0;
        return;
    }
    pthread_mutex_lock(&b->mu);
    b->head++;
    pthread_cond_signal(&b->ready);
    pthread_mutex_unlock(&b->mu);
}

/* The slot to fill for tag: the current one if it holds tag's bytes, else a fresh one (waiting
 * for the thread to free it: after a failure it still drains, only faster). */
static struct slot *slot_for(struct ferry_behind *b, int64_t tag, const char *label)
{
    if (b->filling && b->s[b->head % SLOTS].tag != tag) hand_over(b);
    if (!b->filling) {
        pthread_mutex_lock(&b->mu);
        while (b->threaded && b->head - b->tail == SLOTS) pthread_cond_wait(&b->free_slot, &b->mu);
        pthread_mutex_unlock(&b->mu);
        struct slot *s = &b->s[b->head % SLOTS];
        s->tag = tag, s->len = 0, s->last = 0;
        snprintf(s->label, sizeof(s->label), "%s", label);
        b->filling = 1;
    }
    return &b->s[b->head % SLOTS];
}

static int failure(struct ferry_behind *b, struct ferry_error *err)
{
    pthread_mutex_lock(&b->mu);
    int failed = b->failed;
    if (failed && err) *err = b->err;
    pthread_mutex_unlock(&b->mu);
    return failed ? (b->err.code ? b->err.code : FERRY_EIO) : 0;
}

int ferry_behind_put(struct ferry_behind *b, int64_t tag, const char *label, const void *bytes,
                     size_t n, struct ferry_error *err)
{
    const uint8_t *p = bytes;
    while (n) {
        int rc = failure(b, err);
        if (rc) return rc;
        struct slot *s = slot_for(b, tag, label);
        size_t k = SLOT_BYTES - s->len < n ? SLOT_BYTES - s->len : n;
        memcpy(s->buf + s->len, p, k);
        s->len += k, p += k, n -= k;
        if (s->len == SLOT_BYTES) hand_over(b);
    }
    return failure(b, err);
}

/* The end goes through the queue even after a failure, so the sink sees it after the stream's
 * other buffers and on its own thread only. */
int ferry_behind_end(struct ferry_behind *b, int64_t tag, const char *label,
                     struct ferry_error *err)
{
    struct slot *s = slot_for(b, tag, label);
    s->last = 1;
    hand_over(b);
    return failure(b, err);
}

int ferry_behind_finish(struct ferry_behind *b, struct ferry_error *err)
{
    if (b->filling) hand_over(b);
    if (b->threaded) {
        pthread_mutex_lock(&b->mu);
        b->stop = 1;
        pthread_cond_signal(&b->ready);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->th, NULL);
    }
    int rc = failure(b, err);
    for (int i = 0; i < SLOTS; i++) free(b->s[i].buf);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->ready);
    pthread_cond_destroy(&b->free_slot);
    free(b);
    return rc;
}
