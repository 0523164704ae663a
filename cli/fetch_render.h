/* How `ferry fetch` shows the library's fetch events: per-file and total progress bars and
 * result lines on a terminal (with --jobs, only the total bar: the files' bars would overwrite
 * each other), NDJSON events with --json, and the summary. */
#ifndef FERRY_CLI_FETCH_RENDER_H
#define FERRY_CLI_FETCH_RENDER_H

#include <stdint.h>
#include "progress.h"
#include "ferry/fetch_flow.h"
#include "ferry/verify.h"

/* a file in flight when several are fetched at once (--jobs) */
struct fetch_slot {
    char name[1024];
    uint64_t last, total;
    int used, baseline;
};

struct fetch_view {
    struct ferry_fetch_tally t;
    unsigned jobs; /* > 1: files fetched at once, shown under the one total bar */
    struct fetch_slot slot[64];
    int total_grows;            /* no plan: the total bar grows as each file's size becomes known */
    struct progress bar, total; /* the current file, and the source's total (TTY) */
    int has_bar, has_total;
    uint64_t last_bytes;
    int baseline; /* the next progress report gives the bytes already present */
    double last_event, start;
    struct ferry_acceptor *who; /* for an acceptance typed on a terminal */
    const struct ferry_license_opts *lo;
};

/* The events struct rendering into v. */
struct ferry_fetch_events fetch_view_events(struct fetch_view *v);
/* The summary event (--json) and the exit code the tally calls for. */
int fetch_view_finish(struct fetch_view *v);

#endif
