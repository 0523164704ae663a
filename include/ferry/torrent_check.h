/* Checking a BitTorrent v2 (or hybrid) metainfo against a signed manifest: every file of the
 * torrent's file tree must be a manifest resource with the same length and pieces root. */
#ifndef FERRY_TORRENT_CHECK_H
#define FERRY_TORRENT_CHECK_H

#include "ferry/error.h"
#include "ferry/manifest.h"

/* Fills r->mismatched with files whose roots or sizes differ, r->extra with torrent files the
 * manifest lacks and r->missing with manifest files the torrent lacks. */
int ferry_torrent_check(const char *torrent_path, const struct ferry_manifest *m,
                        struct ferry_check_report *r, struct ferry_error *err);

#endif
