/* BitTorrent metainfo: making .torrent files (v1, v2 per BEP 52, or hybrid with BEP 47 pad
 * files), reading them back, and magnet links. The swarm itself (downloading and seeding) is in
 * ferry/torrent_fetch.h. */
#ifndef FERRY_TORRENT_H
#define FERRY_TORRENT_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/bencode.h"
#include "ferry/error.h"

enum ferry_torrent_kind { FERRY_TORRENT_HYBRID, FERRY_TORRENT_V1, FERRY_TORRENT_V2 };

/* How a BitTorrent session meets the network (ferry/torrent_fetch.h). */
struct ferry_torrent_net {
    const char *listen;      /* "ADDR:PORT,..."; NULL: any address, port chosen by the OS (fetch)
                              * or 6881 (seed) */
    int dht, lsd, utp, upnp; /* off unless asked (uTP is slow on loopback) */
    int64_t upload_limit, download_limit; /* bytes per second, 0 = unlimited */
};

/* The piece-count bound of automatic piece sizes. At most 65,536 pieces keeps a hybrid
 * .torrent's hashes (20 bytes v1 + 32 bytes v2 per piece) under 3.5 MB: a fraction of
 * libtorrent's 10 MB limit for loading .torrent files and of what clients accept as metadata
 * from peers. Pieces stay between 16 KiB and 16 MiB where the bound allows (16 MiB is as large
 * as common clients make by default); only models over 1 TiB get larger pieces. */
#define FERRY_TORRENT_MAX_PIECES 65536u
/* What a .torrent may not exceed at all: libtorrent's default load limits. */
#define FERRY_TORRENT_HARD_BYTES  10000000u
#define FERRY_TORRENT_HARD_PIECES 0x200000u

struct ferry_torrent_opts {
    enum ferry_torrent_kind kind;
    uint64_t piece_size; /* a power of two >= 16 KiB, or 0 for the automatic size */
    const char *name;    /* the top folder (or the file's name); default: the path's last name */
    const char *const *web_seeds;
    size_t nweb_seeds;
    const char *const *trackers; /* each its own tier, in order */
    size_t ntrackers;
    int64_t creation_date; /* Unix time, or 0 for none (the output is then reproducible) */
    unsigned threads;      /* 0 = all cores */
    void (*progress)(void *ctx, uint64_t hashed, uint64_t total);
    void *ctx;
    const volatile int *cancel;
};

struct ferry_torrent_plan {
    uint64_t files, bytes, piece_size, pieces;
    uint64_t torrent_bytes; /* of the .torrent written */
    int over_bound;         /* more than FERRY_TORRENT_MAX_PIECES pieces (a chosen piece size) */
};

/* The automatic piece size for total bytes (see FERRY_TORRENT_MAX_PIECES). */
uint64_t ferry_torrent_auto_piece(uint64_t total);

/* Hashes the file or the directory's files (sorted, ".git" and ".cache" left out) on all cores
 * and encodes the metainfo into out (which the caller frees with ferry_bbuf_free). Holes of
 * sparse files are not read: an all-zero piece has known hashes. A piece size that would make
 * a .torrent over the hard limits is refused (FERRY_EUSAGE); one over the bound is reported
 * in plan->over_bound. */
int ferry_torrent_create(const char *path, const struct ferry_torrent_opts *o,
                         struct ferry_bbuf *out, struct ferry_torrent_plan *plan,
                         struct ferry_error *err);

/* A parsed .torrent. */
struct ferry_torrent_file {
    char *path; /* '/'-separated below the top folder (for a single file: its name) */
    uint64_t size;
    uint8_t root[32]; /* BEP 52 pieces root, when has_root */
    int has_root, pad;
};
struct ferry_torrent_info {
    char *name;
    uint64_t piece_size, pieces;
    int v1, v2, single;
    uint8_t btih[20];                 /* SHA-1 of the info dict (v1, hybrid) */
    uint8_t btmh[32];                 /* SHA-256 of the info dict (v2, hybrid) */
    struct ferry_torrent_file *files; /* pad files included, marked */
    size_t nfiles;
    char **web_seeds, **trackers;
    size_t nweb_seeds, ntrackers;
};
/* Checks a metainfo as a client would before using it: the info dict's types, piece length,
 * safe relative paths (no "..", no absolute or empty names), v1 pieces matching the lengths,
 * and for v2 the piece layers hashing to every file's root. Errors are FERRY_EMALFORMED naming
 * what (a file name) and the cause. */
int ferry_torrent_parse(const uint8_t *p, size_t n, const char *what, struct ferry_torrent_info *t,
                        struct ferry_error *err);
/* The same checks for metadata received from peers ("d4:info...e"), which carries no piece
 * layers: those arrive later, checked by the swarm engine against the roots. */
int ferry_torrent_parse_metadata(const uint8_t *p, size_t n, const char *what,
                                 struct ferry_torrent_info *t, struct ferry_error *err);
int ferry_torrent_load(const char *path, struct ferry_torrent_info *t, struct ferry_error *err);
void ferry_torrent_info_free(struct ferry_torrent_info *t);

/* "magnet:?xt=urn:btih:...&xt=urn:btmh:1220...&dn=...&tr=...&ws=..." (malloc'd). */
char *ferry_torrent_magnet(const struct ferry_torrent_info *t);

/* What ferry reads of a magnet link itself before libtorrent takes it: the info hash that names
 * the staging folder, and the display name that names the output folder when none is given. */
struct ferry_magnet {
    char id[65];    /* lower case: the v2 hash (64 hex digits) when the link has one, else the v1
                     * hash (40 hex digits or 32 base32 letters) */
    int v2;         /* id is the v2 hash */
    char name[256]; /* the last dn, decoded as libtorrent decodes it (%XX, '+' a space), '/' and
                     * control characters made '_', cut to 255 bytes at a character boundary;
                     * "" when absent or unusable as a folder name (empty, ".", "..", a NUL byte,
                     * a broken escape) */
};
/* Parameters are split at '&'; xt (or xt.N) values urn:btih: and urn:btmh:1220 are read, others
 * ignored. Fails with FERRY_EMALFORMED when the link does not start "magnet:?", has no valid
 * hash, or names two different hashes of one kind. */
int ferry_magnet_parse(const char *uri, struct ferry_magnet *m, struct ferry_error *err);

#endif
