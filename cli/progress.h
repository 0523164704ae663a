/* Progress over a byte total: a redrawn bar when stderr is a TTY, otherwise a status line at
 * most every 10 seconds; silent with -q or --json. A bar may have a parent (an overall total)
 * drawn on the line below it. */
#ifndef FERRY_CLI_PROGRESS_H
#define FERRY_CLI_PROGRESS_H

#include <pthread.h>
#include <stdint.h>

struct progress {
    const char *label;
    uint64_t total, done;
    uint64_t skipped; /* counted in done but not moved in this run (resumed, already present) */
    double start, last;
    int tty, enabled;
    pthread_mutex_t lock;    /* workers report concurrently */
    struct progress *parent; /* a total shown on a second line (TTY), fed by this bar; or NULL */
};

void progress_start(struct progress *p, const char *label, uint64_t total);
void progress_add(struct progress *p, uint64_t n);
void progress_end(struct progress *p);
/* Counts n bytes that this run did not move (a resumed part, files already present): in the
 * fraction done, not in the rate and ETA. */
void progress_skip(struct progress *p, uint64_t n);
/* Clears the bar's line on a terminal so a message can be printed; the next update redraws it. */
void progress_clear(struct progress *p);
/* Callbacks for the library: ctx is a struct progress. */
void progress_total_cb(void *ctx, uint64_t total);
/* progress_add for library callbacks: ctx is a struct progress. */
void progress_cb(void *ctx, uint64_t n);

#endif
