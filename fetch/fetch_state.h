/* The resume record of a download: which segments of DIR/.NAME.part are complete, for which
 * object (size and ETag). Saved atomically after every finished segment. */
#ifndef FERRY_FETCH_STATE_H
#define FERRY_FETCH_STATE_H

#include <stdint.h>
#include "ferry/error.h"

struct fetch_state {
    uint64_t size, segment;
    char etag[256];
    uint8_t *done; /* one byte per segment */
    uint64_t nsegs;
};

/* 0 when path holds a record for exactly this object and segmenting; -1 otherwise. */
int fetch_state_load(const char *path, uint64_t size, const char *etag, uint64_t segment,
                     struct fetch_state *s);
int fetch_state_save(const char *path, const char *url, const struct fetch_state *s,
                     struct ferry_error *err);

#endif
