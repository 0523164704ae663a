/* `ferry inspect F.torrent`: what a metainfo file holds. */
#ifndef FERRY_CLI_INSPECT_TORRENT_H
#define FERRY_CLI_INSPECT_TORRENT_H

int is_torrent_file(const char *path);
/* Prints the torrent (text, or JSON with g_opts.json); returns the exit code. */
int inspect_torrent(const char *path);

#endif
