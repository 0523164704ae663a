/* `ferry fetch hf://ORG/NAME[@REV][/PATH]`: every file of a hub repository at one commit, each
 * checked against the tree listing's SHA-256 (LFS) or git blob SHA-1, into a plain folder or
 * the huggingface_hub cache layout. */
#ifndef FERRY_CLI_FETCH_HUB_H
#define FERRY_CLI_FETCH_HUB_H

#include "fetch_one.h"

struct fetch_hub_opts {
    const char **include, **exclude; /* fnmatch globs over repository paths */
    int ninclude, nexclude;
    int hf_cache;
};

/* The default cache root: $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub. */
void fetch_hub_default_cache(char *buf, size_t n);
void fetch_hub(const char *spec, const char *dir, const struct fetch_hub_opts *h, struct ferry_fetch_opts *o,
               struct fetch_tally *t);

#endif
