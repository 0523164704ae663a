/* Bytes handed to a thread of their own: a producer that computes bytes (a decompressor)
 * copies them into one of a few buffers and goes on, while the thread gives them to a sink
 * (writing them to a file, hashing them). Streams are told apart by a tag; a stream's bytes
 * reach the sink in the order they were put, and its end after them. */
#ifndef FERRY_BEHIND_H
#define FERRY_BEHIND_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/error.h"

/* Called on the thread for each buffer of a stream's bytes (n may be 0 with last set); last is
 * 1 on the stream's final call. After the first failure (nonzero return) it is still called,
 * with failed set, for each buffer: a sink then only releases what the stream holds. label is
 * the name the producer gave, for messages. */
typedef int (*ferry_behind_sink)(void *ctx, int64_t tag, const char *label, const uint8_t *bytes,
                                 size_t n, int last, int failed, struct ferry_error *err);

struct ferry_behind;

/* NULL when out of memory. Without a thread (it could not be started) the sink runs in place. */
struct ferry_behind *ferry_behind_new(ferry_behind_sink sink, void *ctx);
/* Appends n bytes to the stream tag. An earlier failure of the sink is returned here (and by
 * every later call). */
int ferry_behind_put(struct ferry_behind *b, int64_t tag, const char *label, const void *bytes,
                     size_t n, struct ferry_error *err);
/* Ends the stream tag (the sink's last call). */
int ferry_behind_end(struct ferry_behind *b, int64_t tag, const char *label,
                     struct ferry_error *err);
/* Hands over what is left (a stream not ended stays so), waits for the sink, stops the thread
 * and frees b; 0 or the first failure. */
int ferry_behind_finish(struct ferry_behind *b, struct ferry_error *err);

#endif
