/* Writes that happen behind the caller: bytes are copied into one of a few buffers and a
 * thread of its own writes them, so a producer that computes its bytes (a decompressor) is
 * not held up by the kernel's page-cache copy. Files are written in the order their bytes were
 * given; a file is closed by the thread after its last bytes. Not for output that must be
 * synced or renamed (ferry_out does that). */
#ifndef FERRY_FORMATS_WRITE_BEHIND_H
#define FERRY_FORMATS_WRITE_BEHIND_H

#include <stddef.h>
#include "ferry/error.h"

struct write_behind;

/* NULL when out of memory. Without a thread (it could not be started) writes happen in place. */
struct write_behind *write_behind_new(void);
/* Appends n bytes to the open file fd (named path in messages). An earlier write's failure is
 * returned here (and by every later call). */
int write_behind_write(struct write_behind *w, int fd, const char *path, const void *bytes,
                       size_t n, struct ferry_error *err);
/* fd is closed after its bytes are written; a close error is reported like a write error. */
int write_behind_close(struct write_behind *w, int fd, const char *path, struct ferry_error *err);
/* Waits for every write, stops the thread and frees w; 0 or the first failure. */
int write_behind_finish(struct write_behind *w, struct ferry_error *err);

#endif
