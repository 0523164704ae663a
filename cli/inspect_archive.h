/* `ferry inspect ARCHIVE`: the members of a model archive. */
#ifndef FERRY_CLI_INSPECT_ARCHIVE_H
#define FERRY_CLI_INSPECT_ARCHIVE_H

/* Prints the archive's members (text, or JSON with g_opts.json); returns the exit code. */
int inspect_archive(const char *path);

#endif
