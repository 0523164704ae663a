/* `ferry fetch --url-template 'https://host/PATTERN?Policy=...' --files a,b,c`: Meta's presigned
 * download links (PATTERN holds one '*', replaced by each file name). The policy's expiry is
 * decoded and shown; the query string (a credential) is never printed. */
#ifndef FERRY_CLI_FETCH_TEMPLATE_H
#define FERRY_CLI_FETCH_TEMPLATE_H

#include "fetch_one.h"

void fetch_template(const char *tmpl, const char *files, const char *dir, struct ferry_fetch_opts *o,
                    struct fetch_tally *t);

#endif
