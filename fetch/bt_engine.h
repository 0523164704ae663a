/* A small C API over libtorrent-rasterbar 2.0 (bt_engine.cpp, the one C++ file of ferry):
 * a session, torrents in it by index, their status, and events translated from alerts. Every
 * call catches libtorrent's exceptions and returns a FERRY_E* code with a message. Calls on
 * one session come from one thread. */
#ifndef FERRY_FETCH_BT_ENGINE_H
#define FERRY_FETCH_BT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "ferry/error.h"
#include "ferry/torrent.h"

struct bt_session;

/* A session with net's choices; listen_default when net->listen is NULL. */
int bt_session_new(const struct ferry_torrent_net *net, const char *listen_default,
                   struct bt_session **out, struct ferry_error *err);
void bt_session_free(struct bt_session *s);
/* The TCP port the session listens on (waits up to 5 s for it), or 0. */
int bt_listen_port(struct bt_session *s);

struct bt_add_opts {
    const uint8_t *torrent; /* a .torrent, or */
    size_t torrent_len;
    const char *magnet;    /* a magnet link */
    const uint8_t *resume; /* libtorrent resume data from bt_save_resume, or NULL */
    size_t resume_len;
    const char *save_path;
    int seed_mode;            /* the data is there: verify pieces as peers ask for them */
    int dont_download;        /* every file at priority 0 until bt_set_priorities */
    const char *const *peers; /* "HOST:PORT" */
    size_t npeers;
    const char *const *web_seeds;
    size_t nweb_seeds;
};
/* Adds a torrent, started and not queued; *id names it in later calls. */
int bt_add(struct bt_session *s, const struct bt_add_opts *a, int *id, struct ferry_error *err);
int bt_remove(struct bt_session *s, int id);

struct bt_stat {
    int has_metadata, seeding, finished, checking, paused;
    uint64_t done, wanted, total;  /* bytes of wanted pieces present / wanted / in the torrent */
    uint64_t downloaded, uploaded; /* payload this session */
    int64_t download_rate, upload_rate;
    int peers, seeds;
    char error[256]; /* the torrent's error, or "" */
};
int bt_status(struct bt_session *s, int id, struct bt_stat *st);
/* Bytes present of each file (n of them; pad files included in libtorrent's order). */
int bt_file_progress(struct bt_session *s, int id, uint64_t *bytes, size_t n);
int bt_num_files(struct bt_session *s, int id);
/* File i in libtorrent's order: its path below the save path ("NAME/a/b" for a folder
 * torrent), size and whether it is a pad file. 0, or -1 without metadata. */
int bt_file_info(struct bt_session *s, int id, int i, char *path, size_t n, uint64_t *size,
                 int *pad);
/* 0..7 per file, in libtorrent's file order (pad files included). */
int bt_set_priorities(struct bt_session *s, int id, const uint8_t *prio, size_t n);
/* The torrent's info dict as "d4:info...e" (malloc'd), once it has metadata. */
int bt_info_section(struct bt_session *s, int id, uint8_t **buf, size_t *len);
/* Resume data (malloc'd), waiting up to timeout_ms for libtorrent to produce it. */
int bt_save_resume(struct bt_session *s, int id, uint8_t **buf, size_t *len, int timeout_ms,
                   struct ferry_error *err);
/* The same written durably to path (replaced). */
int bt_save_resume_file(struct bt_session *s, int id, const char *path, int timeout_ms,
                        struct ferry_error *err);
int bt_connect_peer(struct bt_session *s, int id, const char *host_port);

enum bt_event_kind {
    BT_EV_METADATA,    /* metadata arrived (magnet) */
    BT_EV_FINISHED,    /* every wanted piece present */
    BT_EV_FILE_DONE,   /* index = file */
    BT_EV_HASH_FAILED, /* index = piece */
    BT_EV_PEER_BANNED, /* text = peer */
    BT_EV_WEB_SEED,    /* text = web seed error */
    BT_EV_ERROR,       /* text = torrent or file error */
    BT_EV_CHECKED,     /* existing data checked */
};
struct bt_event {
    enum bt_event_kind kind;
    int id;
    int64_t index;
    const char *text;
};
/* Waits up to timeout_ms for alerts and calls cb for each event. */
void bt_poll(struct bt_session *s, int timeout_ms, void (*cb)(void *ctx, const struct bt_event *e),
             void *ctx);

#ifdef __cplusplus
}
#endif

#endif
