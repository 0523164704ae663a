/* The BitTorrent step of `ferry demo`: a torrent of the signed model, `ferry seed` serving it on
 * loopback, and `ferry fetch` of the torrent checked against the signed manifest. */
#ifndef FERRY_CLI_DEMO_TORRENT_H
#define FERRY_CLI_DEMO_TORRENT_H

#include <stddef.h>

/* 0 when the model came back over BitTorrent and verified, 1 when a step failed. The copy goes
 * to out (n bytes); verifying it again is the caller's step. */
int demo_torrent(const char *dir, const char *model, const char *pub, const char *license_sha256,
                 char *out, size_t n);

#endif
