/* Checking a torrent against a signed manifest: every file of the torrent must be a manifest
 * resource (or a path the manifest records as ignored, such as its signatures) with the same
 * length and, for v2 and hybrid torrents, the same BEP 52 pieces root. */
#ifndef FERRY_TORRENT_CHECK_H
#define FERRY_TORRENT_CHECK_H

#include "ferry/error.h"
#include "ferry/manifest.h"
#include "ferry/torrent.h"

/* Fills r->mismatched with files whose roots or sizes differ, r->extra with torrent files the
 * manifest lacks and r->missing with manifest files the torrent lacks. A v1-only torrent has
 * no roots: only its lengths are compared; so are files the manifest gives no root for (one
 * made by another signer) unless need_roots. */
int ferry_torrent_check_info(const struct ferry_torrent_info *t, const struct ferry_manifest *m,
                             int need_roots, struct ferry_check_report *r, struct ferry_error *err);
/* The same for a .torrent file, which must be v2 or hybrid. */
int ferry_torrent_check(const char *torrent_path, const struct ferry_manifest *m,
                        struct ferry_check_report *r, struct ferry_error *err);

#endif
