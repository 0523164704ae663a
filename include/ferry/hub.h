/* Hugging Face-compatible hubs: hf://ORG/NAME[@REV][/PATH] references, the revision pinned
 * to a commit, the file list with expected hashes from the tree API, resolve URLs, and the
 * huggingface_hub cache layout (blobs, refs, snapshots with relative symlinks). */
#ifndef FERRY_HUB_H
#define FERRY_HUB_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/error.h"

struct ferry_hub_file {
    char *path; /* relative, checked: no "..", no empty or absolute parts */
    uint64_t size;
    int lfs; /* 1: sha256 holds the LFS object id; 0: git_sha1 holds the blob id */
    uint8_t sha256[32];
    uint8_t git_sha1[20];
};

struct ferry_hub_repo {
    char endpoint[512]; /* HF_ENDPOINT or https://huggingface.co, no trailing slash */
    char repo[256];     /* ORG/NAME */
    char revision[256]; /* as asked (default "main") */
    char path[1024];    /* file or folder inside the repo, "" for all */
    char commit[41];    /* the revision resolved to a commit */
    struct ferry_hub_file *files;
    size_t nfiles;
};

/* Parses hf://ORG/NAME[@REV][/PATH]; endpoint from HF_ENDPOINT. */
int ferry_hub_parse(const char *spec, struct ferry_hub_repo *r, struct ferry_error *err);
/* Token from HF_TOKEN, else $HF_HOME/token (HF_HOME default ~/.cache/huggingface); NULL if none. */
const char *ferry_hub_token(char *buf, size_t n);
/* Resolves the revision to a commit (the revision API, cross-checked with X-Repo-Commit) and
 * lists the files of that commit under r->path (tree API, all pages). */
int ferry_hub_list(struct ferry_hub_repo *r, const char *token, struct ferry_error *err);
/* {endpoint}/{repo}/resolve/{commit}/{path}, path percent-encoded except '/'. */
void ferry_hub_resolve_url(const struct ferry_hub_repo *r, const char *path, char *buf, size_t n);
void ferry_hub_free(struct ferry_hub_repo *r);

/* Cache layout under root (a hub cache, e.g. ~/.cache/huggingface/hub): the folder of blobs
 * for this repo (created), the blob name of a file (sha256 or git sha1 hex), and the snapshot
 * link snapshots/COMMIT/PATH -> ../../blobs/NAME (relative, replaced atomically). */
int ferry_hub_cache_blobs(const char *root, const struct ferry_hub_repo *r, char *dir, size_t n,
                          struct ferry_error *err);
void ferry_hub_blob_name(const struct ferry_hub_file *f, char out[65]);
int ferry_hub_cache_link(const char *root, const struct ferry_hub_repo *r,
                         const struct ferry_hub_file *f, struct ferry_error *err);
/* refs/REVISION holding the commit (skipped when the revision is the commit itself). */
int ferry_hub_cache_ref(const char *root, const struct ferry_hub_repo *r, struct ferry_error *err);

/* huggingface_hub's record of a file fetched into a plain folder:
 * dir/.cache/huggingface/download/PATH.metadata (commit, etag, time). */
int ferry_hub_local_record(const char *dir, const struct ferry_hub_repo *r,
                           const struct ferry_hub_file *f, struct ferry_error *err);
/* The commit a plain folder's records name (all must agree), as 40 hex digits. */
int ferry_hub_local_commit(const char *dir, char commit[41], struct ferry_error *err);

#endif
