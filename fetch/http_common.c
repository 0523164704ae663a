/* HTTP pieces shared by every transfer: response header parsing, retry policy, the options
 * every handle gets, and the probe request that learns size, ETag and Range support. */
#define _GNU_SOURCE
#include "http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

void ferry_fetch_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

double http_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A decimal number (at most 2^64-1) at *p, moving *p past it; no sign, no spaces: sscanf and
 * strtoll would take "-1" (as 2^64-1) and stop quietly at junk. */
static int take_number(const char **p, unsigned long long *v)
{
    const char *s = *p;
    unsigned long long x = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (x > (ULLONG_MAX - d) / 10) return -1;
        x = x * 10 + d;
    }
    if (s == *p) return -1;
    *p = s, *v = x;
    return 0;
}

/* The rest of a header value is only spaces or tabs. */
static int at_end(const char *s)
{
    return s[strspn(s, " \t")] == 0;
}

/* "bytes FIRST-LAST/TOTAL" (RFC 9110 14.4); other forms ("*" for either part) and any junk
 * leave the response without a range. */
static void take_range(const char *v, struct resp *r)
{
    unsigned long long a, b, t;
    v += strspn(v, " \t");
    if (strncasecmp(v, "bytes", 5) || (v[5] != ' ' && v[5] != '\t')) return;
    v += 5;
    v += strspn(v, " \t");
    if (take_number(&v, &a) || *v++ != '-' || take_number(&v, &b) || *v++ != '/' ||
        take_number(&v, &t) || !at_end(v))
        return;
    r->have_range = 1, r->r_first = a, r->r_last = b, r->r_total = t;
}

size_t http_on_header(char *buf, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = size * n;
    char line[1024];
    size_t l = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
    memcpy(line, buf, l);
    line[l] = 0;
    line[strcspn(line, "\r\n")] = 0;
    if (!strncmp(line, "HTTP/", 5)) {
        memset(r, 0, sizeof(*r));
        r->length = -1;
        const char *sp = strchr(line, ' ');
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
    } else if (!strncasecmp(line, "content-range:", 14)) {
        take_range(line + 14, r);
    } else if (!strncasecmp(line, "content-length:", 15)) {
        const char *v = line + 15 + strspn(line + 15, " \t");
        unsigned long long cl;
        r->length = take_number(&v, &cl) || !at_end(v) || cl > INT64_MAX ? -1 : (int64_t)cl;
    } else if (!strncasecmp(line, "etag:", 5)) {
        const char *v = line + 5;
        while (*v == ' ') v++;
        snprintf(r->etag, sizeof(r->etag), "%.255s", v);
    } else if (!strncasecmp(line, "x-linked-etag:", 14)) {
        const char *v = line + 14;
        while (*v == ' ' || *v == '"') v++;
        snprintf(r->linked_etag, sizeof(r->linked_etag), "%.127s", v);
        r->linked_etag[strcspn(r->linked_etag, "\"")] = 0;
    } else if (!strncasecmp(line, "x-repo-commit:", 14)) {
        sscanf(line + 14, " %47s", r->repo_commit);
    } else if (!strncasecmp(line, "x-error-code:", 13)) {
        sscanf(line + 13, " %47s", r->error_code);
    } else if (!strncasecmp(line, "retry-after:", 12)) {
        r->retry_after = strtol(line + 12, NULL, 10);
    }
    return len;
}

int http_retryable(long status)
{
    return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504 || status == 0;
}

/* Backoff with full jitter: up to 0.5 s * 2^tries, capped at 8 s, or Retry-After. */
double http_backoff(unsigned tries, long retry_after, unsigned *seed)
{
    if (retry_after > 0) return retry_after > 60 ? 60.0 : (double)retry_after;
    double cap = fmin(8.0, 0.5 * pow(2.0, tries));
    return cap * (double)rand_r(seed) / RAND_MAX;
}

void http_common_opts(CURL *h, const char *url, const struct ferry_fetch_opts *o,
                      struct curl_slist *hdrs)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                     (long)CURL_HTTP_VERSION_1_1); /* real parallel streams */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     o->connect_timeout_ms ? o->connect_timeout_ms : 15000L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_limit ? o->low_speed_limit : 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s ? o->low_speed_time_s : 30L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ferry/" FERRY_VERSION);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (o->bearer) { /* libcurl drops it on redirects to another host or port */
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, o->bearer);
    }
}

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
    (void)p, (void)ud;
    return s * n > 1 << 16 ? 0 : s * n; /* a 200 to the probe: headers are enough */
}

int ferry_url_escape(const char *s, int keep_slash, char *out, size_t n)
{
    size_t k = 0;
    if (n == 0) return -1;
    for (; *s; s++) {
        if (k + 4 > n) { /* room for %XX and the NUL: a truncated URL would name another file */
            out[0] = 0;
            return -1;
        }
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || strchr("-._~", c) || (keep_slash && c == '/'))
            out[k++] = (char)c;
        else
            k += (size_t)snprintf(out + k, n - k, "%%%02X", c);
    }
    out[k] = 0;
    return 0;
}

const char *http_shown(const char *url, char *buf, size_t n)
{
    snprintf(buf, n, "%.*s", (int)strcspn(url, "?#"), url);
    return buf;
}

int http_status_error(const struct resp *r, const char *url_full, struct ferry_error *err)
{
    char url[512];
    long status = r->status;
    http_shown(url_full, url, sizeof(url));
    if ((status == 401 || status == 403) && !strcmp(r->error_code, "GatedRepo"))
        return ferry_error_set(
            err, FERRY_EPERM, url, FERRY_NO_OFFSET, NULL, "HTTP %ld: gated repository: %s", status,
            status == 401 ? "send a token (HF_TOKEN or $HF_HOME/token) of an account that "
                            "was granted access on the repository's page"
                          : "this token's account has not been granted access yet; "
                            "request it on the repository's page and wait for approval");
    if (status == 401 || status == 403)
        return ferry_error_set(
            err, FERRY_EPERM, url, FERRY_NO_OFFSET, NULL,
            "HTTP %ld: access denied (gated model, missing or expired token, or an "
            "expired signed link)",
            status);
    if (status == 404 || status == 410)
        return ferry_error_set(err, FERRY_ENOINPUT, url, FERRY_NO_OFFSET, NULL,
                               "HTTP %ld: not found", status);
    return ferry_error_set(err, FERRY_EUNAVAIL, url, FERRY_NO_OFFSET, NULL, "HTTP %ld", status);
}

int http_probe(const char *url, const struct ferry_fetch_opts *o, struct http_probe *p,
               unsigned *retries, unsigned *seed, struct ferry_error *err)
{
    unsigned max = o->max_tries ? o->max_tries : 6;
    for (unsigned t = 0;; t++) {
        CURL *h = curl_easy_init();
        struct curl_slist *hdrs = curl_slist_append(NULL, "Accept-Encoding: identity");
        memset(p, 0, sizeof(*p));
        http_common_opts(h, url, o, hdrs);
        curl_easy_setopt(h, CURLOPT_RANGE, "0-0");
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &p->r);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        CURLcode cc = curl_easy_perform(h);
        char *eff = NULL;
        curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff);
        snprintf(p->final_url, sizeof(p->final_url), "%s", eff ? eff : url);
        curl_easy_cleanup(h);
        curl_slist_free_all(hdrs);
        /* 416: nothing satisfies bytes=0-0, i.e. an empty object; fetched as one (empty) stream */
        int ok_status = p->r.status == 206 || p->r.status == 200 || p->r.status == 416;
        if (ok_status && (cc == CURLE_OK || cc == CURLE_WRITE_ERROR)) return 0;
        if (p->r.status && !http_retryable(p->r.status)) return http_status_error(&p->r, url, err);
        if (t + 1 >= max || (o->cancel && *o->cancel)) {
            if (p->r.status) return http_status_error(&p->r, url, err);
            char shown[512];
            return ferry_error_set(err, FERRY_EUNAVAIL, http_shown(url, shown, sizeof(shown)),
                                   FERRY_NO_OFFSET, NULL, "%s", curl_easy_strerror(cc));
        }
        (*retries)++;
        usleep((useconds_t)(http_backoff(t, p->r.retry_after, seed) * 1e6));
    }
}
