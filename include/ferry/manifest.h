/* Model manifests: the OpenSSF Model Signing v1.0 statement of a directory (or single file),
 * with ferry's extension fields, built from a parallel walk-and-hash and checked against a
 * directory on verify. */
#ifndef FERRY_MANIFEST_H
#define FERRY_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include "ferry/error.h"

#define FERRY_OMS_PREDICATE    "https://model_signing/signature/v1.0"
#define FERRY_INTOTO_STATEMENT "https://in-toto.io/Statement/v1"
#define FERRY_INTOTO_PAYLOAD   "application/vnd.in-toto+json"

struct ferry_resource {
    char *name; /* POSIX relative path */
    uint8_t sha256[32];
    uint64_t size;
    int has_size;
    uint8_t btv2[32]; /* BEP 52 pieces root (absent for empty files) */
    int has_btv2;
    char role[16]; /* "license", "use-policy", "notice" or "" */
    char *license_id;
    int requires_acceptance;
};

struct ferry_manifest {
    char *subject_name;
    uint8_t root[32]; /* SHA-256 over the raw resource digests in listed order */
    struct ferry_resource *res;
    size_t nres;
    char **ignore_paths; /* as recorded in the serialization */
    size_t nignore;
    int allow_symlinks; /* the serialization's allow_symlinks: links inside the folder followed */
};

void ferry_manifest_free(struct ferry_manifest *m);

struct ferry_walk_opts {
    const char *const *ignore; /* extra paths relative to the model root */
    size_t nignore;
    unsigned threads;       /* 0 = all cores */
    int btv2;               /* compute BEP 52 roots too */
    const char *license_id; /* for LICENSE* files */
    int require_acceptance;
    int walk_only; /* list files and sizes, hash nothing */
    int all_files; /* no default ignores: only opts->ignore (a torrent carries the signatures) */
    void (*progress)(void *ctx, uint64_t bytes); /* may be NULL; called from workers */
    void *progress_ctx;
};

/* Enumerates regular files under root in the reference order (path components compared
 * bytewise), skipping the default ignores (.git, .gitattributes, .github, .gitignore at the top,
 * .cache/huggingface, the signature files) and opts->ignore, refusing symlinks, special files
 * and names that are not valid UTF-8; hashes them and fills m. A root that is a file gives a
 * one-resource manifest named by its basename. */
int ferry_manifest_build(const char *root, const struct ferry_walk_opts *opts,
                         struct ferry_manifest *m, struct ferry_error *err);

/* The files a distribution of root carries (a torrent, an archive, a seed): every regular file
 * but .git and .cache, the signed manifest and its signatures included; names and sizes only. */
int ferry_manifest_list_all(const char *root, struct ferry_manifest *m, struct ferry_error *err);
/* 1 when rel is one of m's recorded ignore paths or lies below one. */
int ferry_manifest_ignores(const struct ferry_manifest *m, const char *rel);

/* The in-toto statement (JSON text, 2-space indent) of m; caller frees. */
char *ferry_manifest_to_json(const struct ferry_manifest *m);

/* Parses a statement; checks _type and predicateType, exactly one subject, resource names
 * (relative, no "..", no empty components) and that the subject digest equals the root
 * recomputed in listed order. */
int ferry_manifest_parse(const char *json, size_t len, const char *what, struct ferry_manifest *m,
                         struct ferry_error *err);

/* Outcome of checking a directory against a manifest. */
struct ferry_check_report {
    char **missing, **extra, **mismatched;
    size_t nmissing, nextra, nmismatched;
    size_t nok;
    uint64_t bytes;
};

void ferry_check_report_free(struct ferry_check_report *r);

/* Hashes the manifest's files (in listed order of assignment, in parallel) under root and
 * lists missing, extra and mismatched files. extra_ignore as in ferry_walk_opts. Returns 0 when
 * the comparison ran (inspect the report), negative on errors that stop it. */
int ferry_manifest_check(const char *root, const struct ferry_manifest *m,
                         const struct ferry_walk_opts *opts, struct ferry_check_report *r,
                         struct ferry_error *err);

/* Computes the SHA-256 root of m->res digests into m->root. */
void ferry_manifest_compute_root(struct ferry_manifest *m);

#endif
