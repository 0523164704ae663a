/* Directory enumeration for manifests (see ferry/manifest.h for the rules). */
#ifndef FERRY_VERIFY_WALK_H
#define FERRY_VERIFY_WALK_H

#include <stddef.h>
#include "ferry/error.h"

struct walk_list {
    char **paths; /* relative, '/'-separated, in reference order */
    size_t n, cap;
    int links; /* symbolic links were followed */
};

/* A symbolic link is followed when it resolves to a regular file inside the model's
 * repository folder: root itself, or for a huggingface_hub cache snapshot
 * (REPO/snapshots/COMMIT, whose files link to REPO/blobs/HASH) the REPO folder. 1 with the
 * resolved path in out (PATH_MAX bytes), 0 when the link must be refused. */
int walk_link_target(const char *root, const char *full, char *out);

/* Lists regular files under root; `ignore` entries (relative paths) exclude whole subtrees, as
 * do the default ignores when `defaults` is set. */
int walk_dir(const char *root, const char *const *ignore, size_t nignore, int defaults,
             struct walk_list *out, struct ferry_error *err);
void walk_free(struct walk_list *l);

/* Component-wise path order of the reference implementation. */
int walk_path_cmp(const char *a, const char *b);
/* 1 if every byte sequence is valid UTF-8 (no overlongs, surrogates, > U+10FFFF). */
int walk_utf8_valid(const char *s);
/* 1 if a manifest name is a safe relative path: not empty, no leading '/', no '.' or '..' or
 * empty components, no backslash-free tricks like NUL (strings here are NUL-terminated). */
int walk_name_safe(const char *name);
/* Default ignores plus the signature file names. */
extern const char *const walk_default_ignores[];
extern const size_t walk_default_nignores;

#endif
