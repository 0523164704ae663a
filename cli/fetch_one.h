/* One download as the ferry program shows it: progress bar or NDJSON events, the final line,
 * and a tally for the summary. Shared by the URL and hub sources of `ferry fetch`. */
#ifndef FERRY_CLI_FETCH_ONE_H
#define FERRY_CLI_FETCH_ONE_H

#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include "ferry/fetch.h"
#include "progress.h"

extern volatile sig_atomic_t g_fetch_cancel;

struct fetch_tally {
    unsigned ok, failed, skipped;
    uint64_t bytes, downloaded;
    int worst; /* exit code to return */
    double start;
    struct progress total; /* overall bar of a multi-file source (TTY) */
    int has_total;
};

void fetch_tally_init(struct fetch_tally *t);
/* One NDJSON event on stdout (steals extra). */
void fetch_event(const char *type, const char *file, json_t *extra);
/* Records a failure (message printed, event emitted). */
void fetch_fail(struct fetch_tally *t, const char *label, const struct ferry_error *err);
/* Downloads url into dir/name; label names it in messages. 0 or the exit code. */
int fetch_one(const char *url, const char *dir, const char *name, const char *label,
              struct ferry_fetch_opts *o, struct fetch_tally *t);
/* Starts the overall bar of a source whose sizes are known (ends an earlier one). */
void fetch_total_begin(struct fetch_tally *t, const char *label, uint64_t bytes);
/* Counts a file that needs no download into the overall bar. */
void fetch_total_skip(struct fetch_tally *t, uint64_t bytes);
/* Summary event (with --json); ends the overall bar; returns t->worst. */
int fetch_summary(struct fetch_tally *t);

#endif
