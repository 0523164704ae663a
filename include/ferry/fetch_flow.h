/* Multi-file fetch workflows as library calls: a list of URLs, a hub repository at one commit,
 * a signed manifest fetched from mirrors behind the license gate, Meta's presigned URL
 * template. Each reports through one event model (struct ferry_fetch_events) that a program
 * renders as it likes (the ferry CLI: text, progress bars or NDJSON), and counts outcomes in a
 * tally. Cancellation is the cancel flag of struct ferry_fetch_opts. */
#ifndef FERRY_FETCH_FLOW_H
#define FERRY_FETCH_FLOW_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/error.h"
#include "ferry/fetch.h"
#include "ferry/manifest.h"
#include "ferry/verify.h"

/* Every callback may be NULL; name is the file as the source names it. Called on the thread
 * that made the workflow call, or with o->jobs > 1 on the workers fetching files: one callback
 * at a time in either case, so a renderer needs no lock of its own. */
struct ferry_fetch_events {
    void *ctx;
    /* what the source holds, before any download (files and bytes wanted) */
    void (*plan)(void *ctx, const char *source, uint64_t files, uint64_t bytes);
    /* a fact worth telling the user: the commit a revision resolved to, a verified
     * signature, a link's expiry (expires: Unix time, or 0) */
    void (*note)(void *ctx, const char *text, long long expires);
    void (*start)(void *ctx, const char *name);
    void (*size)(void *ctx, const char *name, uint64_t bytes);     /* once known */
    void (*progress)(void *ctx, const char *name, uint64_t bytes); /* bytes present so far */
    void (*done)(void *ctx, const char *name, const struct ferry_fetch_result *r);
    void (*skipped)(void *ctx, const char *name, uint64_t bytes, const char *reason);
    /* a mirror failed or served other bytes; the next one is tried */
    void (*mirror_skipped)(void *ctx, const char *name, const char *mirror, int wrong_bytes,
                           int last);
    void (*error)(void *ctx, const char *name, const struct ferry_error *err);
    /* The manifest requires a license acceptance that no record gives: the program may show
     * the texts (now in dir, verified), ask, and record one with ferry_license_accept. Return
     * 0 when it did; anything else stops the fetch before the weights. */
    int (*license_needed)(void *ctx, const char *dir, const struct ferry_manifest *m,
                          const struct ferry_license_report *r);
};

struct ferry_fetch_tally {
    unsigned ok, failed, skipped;
    uint64_t bytes, downloaded;
    int code; /* the FERRY_E* code the outcome calls for (an interruption wins), or 0 */
};

/* One URL into dir/name, reported under label. 0 or a FERRY_E* code (also in the tally). */
int ferry_fetch_file(const char *url, const char *dir, const char *name, const char *label,
                     const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                     struct ferry_fetch_tally *t);

struct ferry_fetch_item {
    const char *url, *dir, *name, *label;
};
/* Several URLs, o->jobs of them at once (as aria2's -j and huggingface_hub's max_workers),
 * each as ferry_fetch_file. Returns t->code. */
int ferry_fetch_files(const struct ferry_fetch_item *items, size_t n,
                      const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                      struct ferry_fetch_tally *t);

struct ferry_fetch_hub_opts {
    const char *const *include, *const *exclude; /* fnmatch globs over repository paths */
    size_t ninclude, nexclude;
    int hf_cache; /* dir is a huggingface_hub cache root: blobs, refs, snapshots */
};
/* hf://ORG/NAME[@REV][/PATH]: the files of the commit the revision names, each checked against
 * the tree listing (LFS SHA-256 or git blob SHA-1); files present and matching are skipped.
 * The token is o->bearer, else HF_TOKEN or $HF_HOME/token. Returns t->code. */
int ferry_fetch_hub(const char *spec, const char *dir, const struct ferry_fetch_hub_opts *h,
                    const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                    struct ferry_fetch_tally *t);
/* The default cache root: $HF_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub or
 * ~/.cache/huggingface/hub. */
void ferry_fetch_hub_default_cache(char *buf, size_t n);

struct ferry_fetch_manifest_opts {
    const char *manifest; /* URL or path of model.manifest.json (.minisig beside it) or model.sig */
    struct ferry_signature_opts sig;
    const char *const *mirrors; /* base URLs, tried in order */
    size_t nmirrors;
    const char *accept; /* the license text's SHA-256 (or a prefix of 16+ hex digits) */
    struct ferry_acceptor who;
    struct ferry_license_opts license;
};
/* Brings the manifest and its signature into dir and verifies them before anything else; then
 * the license texts it names; then, when it marks a text as requiring acceptance, checks for a
 * record that counts (ferry_license_status), records one when accept names the text, or asks
 * ev->license_needed; then every other file, from the first mirror that serves the signed
 * bytes (a failing mirror is reported and skipped). Returns t->code. */
int ferry_fetch_manifest(const char *dir, const struct ferry_fetch_manifest_opts *mo,
                         const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                         struct ferry_fetch_tally *t);

/* An archive URL (.tar, .tar.gz/.tgz/.bz2/.xz/.zst, .zip) fetched like any file (resumable;
 * kept in dir/.ferry-extract-download until unpacked) and unpacked into dir: members go to a
 * staging folder first (with ferry/archive.h's checks), are checked against the signed manifest
 * inside when sig->pubkey is given, and get their final names only when all is well. */
int ferry_fetch_extract(const char *url, const char *dir, const struct ferry_signature_opts *sig,
                        const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                        struct ferry_fetch_tally *t);

/* 'https://host/PATTERN?Policy=...' with one '*' in PATTERN, replaced by each of the
 * comma-separated files: Meta's presigned links. The CloudFront policy's expiry is decoded and
 * reported (an expired link is refused, FERRY_EPERM); the query is never reported. */
int ferry_fetch_template(const char *tmpl, const char *files, const char *dir,
                         const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                         struct ferry_fetch_tally *t);

#endif
