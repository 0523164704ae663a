/* ferry_behind: bytes put for several streams reach the sink in order, each stream ends after
 * its bytes, and a sink's failure is returned to the producer while every stream is still
 * released. */
#include "check.h"
#include "ferry/behind.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STREAMS 3
#define BYTES   (9u << 20) /* more than the buffers together, so the producer waits too */

struct rec {
    uint64_t got[STREAMS], sum[STREAMS];
    int ended[STREAMS], after_end, fail_at; /* fail when stream 1 reaches fail_at bytes */
};

static int sink(void *ctx, int64_t tag, const char *label, const uint8_t *b, size_t n, int last,
                int failed, struct ferry_error *err)
{
    struct rec *r = ctx;
    if (r->ended[tag]) r->after_end++;
    if (!failed)
        for (size_t i = 0; i < n; i++) { /* byte k of stream t is (k * 7 + t) & 255 */
            if (b[i] != (uint8_t)((r->got[tag] + i) * 7 + (uint64_t)tag)) r->sum[tag]++;
        }
    r->got[tag] += n;
    if (last) r->ended[tag] = 1;
    if (!failed && r->fail_at && tag == 1 && r->got[1] >= (uint64_t)r->fail_at)
        return ferry_error_set(err, FERRY_EIO, label, FERRY_NO_OFFSET, NULL, "sink failed");
    return 0;
}

static int run(struct rec *r, int *first_rc)
{
    struct ferry_error err;
    ferry_error_clear(&err);
    struct ferry_behind *b = ferry_behind_new(sink, r);
    uint8_t *chunk = malloc(100000);
    uint64_t put[STREAMS] = {0};
    int rc = 0;
    *first_rc = 0;
    /* interleave the streams in uneven pieces, as a decompressor hands out members' blocks */
    for (int round = 0; !rc && (put[0] < BYTES || put[1] < BYTES || put[2] < BYTES); round++)
        for (int t = 0; !rc && t < STREAMS; t++) {
            size_t n = (size_t)(1000 + 97 * round + 31 * t) % 100000;
            if (put[t] + n > BYTES) n = (size_t)(BYTES - put[t]);
            for (size_t i = 0; i < n; i++) chunk[i] = (uint8_t)((put[t] + i) * 7 + (uint64_t)t);
            rc = ferry_behind_put(b, t, "stream", chunk, n, &err);
            put[t] += n;
        }
    if (rc) *first_rc = rc;
    for (int t = 0; t < STREAMS; t++) {
        int e = ferry_behind_end(b, t, "stream", &err);
        if (!rc) rc = e;
    }
    int f = ferry_behind_finish(b, &err);
    free(chunk);
    return f;
}

int main(void)
{
    struct rec r = {0};
    int first;
    CHECK(run(&r, &first) == 0);
    for (int t = 0; t < STREAMS; t++) {
        CHECK(r.ended[t]);
        CHECK_EQ_U64(r.sum[t], 0); /* every byte in its place */
    }
    for (int t = 0; t < STREAMS; t++) CHECK_EQ_U64(r.got[t], BYTES);
    CHECK_EQ_U64(r.after_end, 0);

    struct rec f = {.fail_at = 3 << 20};
    CHECK(run(&f, &first) == FERRY_EIO);
    CHECK(first == FERRY_EIO); /* the producer learns of it while still putting */
    for (int t = 0; t < STREAMS; t++) CHECK(f.ended[t]); /* each stream released */
    CHECK_EQ_U64(f.after_end, 0);
    return check_report("test_behind");
}
