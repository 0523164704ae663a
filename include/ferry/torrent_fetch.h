/* BitTorrent as a fetch source and as a mirror: downloading a magnet or .torrent with the
 * events, license gate and manifest checks of every ferry fetch, and seeding many torrents at
 * once. libtorrent-rasterbar does the swarm work. */
#ifndef FERRY_TORRENT_FETCH_H
#define FERRY_TORRENT_FETCH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "ferry/fetch_flow.h"
#include "ferry/torrent.h"

struct ferry_fetch_torrent_opts {
    struct ferry_torrent_net net;
    const char *const *peers; /* "HOST:PORT" to connect to (as well as magnet x.pe peers) */
    size_t npeers;
    /* a signed manifest the torrent must agree with, or NULL: its v2 roots are checked before
     * any data is asked for, its license texts come first and hold the rest until accepted,
     * and every finished file is checked against it before it gets its final name */
    const struct ferry_fetch_manifest_opts *manifest;
    unsigned stall_seconds; /* give up when no data arrives for this long (0: 300) */
};

/* source is "magnet:?..." or a .torrent path. Files land in dir (NULL: ./NAME) under their
 * paths in the torrent; until they are complete and verified they live in dir/.ferry-bt-HASH,
 * which an interrupted run leaves (with libtorrent resume data after a clean stop) and the
 * next run resumes from. Returns t->code. */
int ferry_fetch_torrent(const char *source, const char *dir,
                        const struct ferry_fetch_torrent_opts *to, const struct ferry_fetch_opts *o,
                        const struct ferry_fetch_events *ev, struct ferry_fetch_tally *t);

struct ferry_seed_row {
    const char *name, *path;
    uint64_t bytes, uploaded;
    int64_t upload_rate;
    int peers;
    int seeding;       /* has every piece (0 while its files are being checked) */
    const char *error; /* "" or the torrent's error */
};
struct ferry_seed_events {
    void *ctx;
    void (*listening)(void *ctx, int port);
    /* a torrent joined: its magnet; made says it was made (hashed) for this path now */
    void (*added)(void *ctx, const char *path, const char *magnet, int made);
    void (*status)(void *ctx, const struct ferry_seed_row *rows, size_t n);
    void (*error)(void *ctx, const char *path, const struct ferry_error *err);
};
struct ferry_seed_opts {
    struct ferry_torrent_net net;
    const char
        *state_dir; /* made torrents and resume data (created); NULL: $XDG_STATE_HOME/ferry/seed */
    const char *data_dir; /* for .torrent paths: where their data is (NULL: the file's folder) */
    unsigned report_ms;   /* status events this often (0: 1000) */
    volatile sig_atomic_t *cancel;
};
/* Seeds every path (a model directory or file, whose torrent is made once and kept in the state
 * folder, or a .torrent whose data is in data_dir) until *cancel is set, then saves resume data
 * so a restart does not hash again. A path that cannot be seeded is reported and skipped; the
 * call fails only when none can. */
int ferry_seed(const char *const *paths, size_t n, const struct ferry_seed_opts *so,
               const struct ferry_seed_events *ev, struct ferry_error *err);

#endif
