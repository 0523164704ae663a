/* Checksum lists: md5sum/sha256sum output ("HEX  NAME" or "HEX *NAME", as Meta's
 * checklist.chk and SHA256SUMS) and BSD style ("SHA256 (NAME) = HEX"). Integrity only: a list
 * fetched beside the files proves nothing about who made them. */
#ifndef FERRY_CHECKLIST_H
#define FERRY_CHECKLIST_H

#include "ferry/error.h"
#include "ferry/manifest.h"

/* Checks every listed file under dir; fills r (missing, mismatched, nok). The algorithm is
 * chosen per line by digest length (32 MD5, 40 SHA-1, 64 SHA-256, 128 SHA-512). */
int ferry_checklist_check(const char *dir, const char *list_path, unsigned threads,
                          struct ferry_check_report *r, struct ferry_error *err);

/* The same for the members of an archive (below its one top folder when it has one), hashed as
 * the archive streams, nothing extracted. */
int ferry_checklist_check_archive(const char *archive, const char *list_path,
                                  struct ferry_check_report *r, struct ferry_error *err);

#endif
