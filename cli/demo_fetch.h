/* The fetch step of `ferry demo`: Debian's nginx serves the demo folder on a loopback port and
 * `ferry fetch --manifest` brings the signed model back (signature first, license gate, hashes). */
#ifndef FERRY_CLI_DEMO_FETCH_H
#define FERRY_CLI_DEMO_FETCH_H

/* 0 when the model was fetched and verified, 1 when a step failed, -1 when nginx is missing. */
int demo_fetch(const char *dir, const char *model_name, const char *pub, const char *accept_flag);

#endif
