/* Internal HTTP helpers of the fetch engine (libcurl). */
#ifndef FERRY_FETCH_HTTP_H
#define FERRY_FETCH_HTTP_H

#include <curl/curl.h>
#include <stdint.h>
#include "ferry/error.h"
#include "ferry/fetch.h"

/* Response facts gathered by the header callback; reset at each status line (redirects). */
struct resp {
    long status;
    int have_range;
    uint64_t r_first, r_last, r_total;
    int64_t length;
    char etag[256], linked_etag[128];
    char repo_commit[48], error_code[48]; /* Hub: X-Repo-Commit, X-Error-Code */
    long retry_after;
};

struct http_probe {
    struct resp r;
    char final_url[4096];
};

double http_now(void);
size_t http_on_header(char *buf, size_t size, size_t n, void *ud); /* ud: struct resp */
int http_retryable(long status);
/* Seconds to wait before try number tries+1: jittered exponential, or Retry-After. */
double http_backoff(unsigned tries, long retry_after, unsigned *seed);
void http_common_opts(CURL *h, const char *url, const struct ferry_fetch_opts *o, struct curl_slist *hdrs);
/* url without query and fragment (presigned links carry their signature there), into buf. */
const char *http_shown(const char *url, char *buf, size_t n);
/* Error for a final HTTP status; names the URL without its query. */
int http_status_error(const struct resp *r, const char *url, struct ferry_error *err);
/* GET with Range: bytes=0-0, retried; fills p on 200 or 206. */
int http_probe(const char *url, const struct ferry_fetch_opts *o, struct http_probe *p, unsigned *retries,
               unsigned *seed, struct ferry_error *err);

#endif
