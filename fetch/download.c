/* ferry_fetch_url (see ferry/fetch.h). A probe learns size, ETag and Range support; then up to
 * N segment transfers run in one curl multi handle, each writing with pwrite at its own offset
 * only after its status and Content-Range were checked. A finished segment is fdatasync'ed and
 * recorded in the state file before it counts. SHA-256 runs over the file in order on its own
 * thread (seg_sync.c), reading each segment back from the page cache once it and all before it
 * are written; a single-stream transfer hashes straight from the network buffer. */
#define _GNU_SOURCE
#include "fetch_state.h"
#include "git_blob.h"
#include "http.h"
#include "seg_sync.h"
#include "ferry/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct seg {
    uint64_t idx, first, last; /* inclusive byte range */
    uint64_t written;          /* bytes stored by the current attempt chain */
    uint64_t written_before;   /* written when the current attempt started */
    unsigned tries;
    double not_before;
    int active, bad; /* bad: the response was refused (wrong status or range) */
    int finished;    /* all bytes written (durability and hashing: seg_sync) */
    CURL *h;
    struct curl_slist *hdrs;
    struct resp r;
    struct job *job;
    char why[160];
};

struct job {
    const char *url, *part;
    const char *shown; /* url without its query, for messages */
    const struct ferry_fetch_opts *o;
    int fd;
    uint64_t size;
    char etag[256];          /* strong validator for If-Range, or "" */
    EVP_MD_CTX *md, *md_git; /* SHA-256; git blob SHA-1 when one is expected */
    uint64_t hashed;         /* file offset up to which md has consumed bytes */
    uint64_t got;            /* bytes present (resumed + downloaded), for progress */
    int changed;             /* a 200 answered our If-Range: the object changed */
    int ignored_range;       /* a 200 without If-Range: the server ignores Range */
    int io_errno;
};

static void progress(struct job *j)
{
    if (j->o->progress) j->o->progress(j->o->progress_ctx, j->got);
}

/* the in-order written prefix of a ranged transfer: every finished segment up to the first
 * unfinished one, and what that one has written so far */
static void report_prefix(const struct job *j, const struct seg *segs, uint64_t nsegs)
{
    if (!j->o->prefix) return;
    uint64_t p = 0;
    for (uint64_t k = 0; k < nsegs; k++) {
        if (!segs[k].finished) {
            p = segs[k].first + segs[k].written;
            break;
        }
        p = segs[k].last + 1;
    }
    j->o->prefix(j->o->prefix_ctx, p);
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    struct seg *s = ud;
    struct job *j = s->job;
    size_t len = size * n;
    if (s->r.status == 200) { /* refuse a whole-object answer to a ranged request */
        if (j->etag[0])
            j->changed = 1;
        else
            j->ignored_range = 1;
        snprintf(s->why, sizeof(s->why), "HTTP 200 to a Range request");
        s->bad = 1;
        return 0;
    }
    if (j->etag[0] && s->r.etag[0] && strcmp(s->r.etag, j->etag) != 0) { /* If-Range ignored */
        j->changed = 1;
        snprintf(s->why, sizeof(s->why), "ETag changed from %.60s to %.60s", j->etag, s->r.etag);
        s->bad = 1;
        return 0;
    }
    uint64_t want_first = s->first + s->written;
    if (s->r.status != 206 || !s->r.have_range || s->r.r_first != want_first ||
        s->r.r_last != s->last || s->r.r_total != j->size) {
        snprintf(s->why, sizeof(s->why),
                 "HTTP %ld with Content-Range %llu-%llu/%llu, asked %llu-%llu/%llu", s->r.status,
                 (unsigned long long)s->r.r_first, (unsigned long long)s->r.r_last,
                 (unsigned long long)s->r.r_total, (unsigned long long)want_first,
                 (unsigned long long)s->last, (unsigned long long)j->size);
        s->bad = 1;
        return 0;
    }
    uint64_t off = s->first + s->written;
    if (len > s->last + 1 - off) {
        snprintf(s->why, sizeof(s->why), "more bytes than the range holds");
        s->bad = 1;
        return 0;
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = pwrite(j->fd, buf + done, len - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            j->io_errno = w < 0 ? errno : EIO;
            return 0;
        }
        done += (size_t)w;
    }
    s->r.r_first += len; /* the next bytes of this response continue the range */
    s->written += len;
    j->got += len;
    return len;
}

static void seg_start(struct seg *s, CURLM *m)
{
    struct job *j = s->job;
    char range[64], ifr[300];
    snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)(s->first + s->written),
             (unsigned long long)s->last);
    s->hdrs = curl_slist_append(NULL, "Accept-Encoding: identity");
    if (j->etag[0]) {
        snprintf(ifr, sizeof(ifr), "If-Range: %s", j->etag);
        s->hdrs = curl_slist_append(s->hdrs, ifr);
    }
    s->h = curl_easy_init();
    http_common_opts(s->h, j->url, j->o, s->hdrs);
    curl_easy_setopt(s->h, CURLOPT_RANGE, range);
    curl_easy_setopt(s->h, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(s->h, CURLOPT_HEADERDATA, &s->r);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->h, CURLOPT_BUFFERSIZE, 512L * 1024);
    memset(&s->r, 0, sizeof(s->r));
    s->written_before = s->written;
    s->bad = 0;
    s->why[0] = 0;
    s->active = 1;
    curl_multi_add_handle(m, s->h);
}

static void seg_stop(struct seg *s, CURLM *m)
{
    if (!s->active) return;
    curl_multi_remove_handle(m, s->h);
    curl_easy_cleanup(s->h);
    curl_slist_free_all(s->hdrs);
    s->h = NULL, s->hdrs = NULL, s->active = 0;
}

/* Runs every unfinished segment to completion. 0, or an error (state kept for a rerun). */
static int run_segments(struct job *j, struct fetch_state *st, const char *state_path,
                        struct ferry_fetch_result *res, unsigned *seed, struct ferry_error *err)
{
    const struct ferry_fetch_opts *o = j->o;
    unsigned conns = o->connections ? o->connections : 4,
             max_tries = o->max_tries ? o->max_tries : 6;
    struct seg *segs = calloc(st->nsegs, sizeof(*segs));
    if (!segs) return ferry_error_set(err, FERRY_EINTERNAL, j->part, FERRY_NO_OFFSET, NULL, "oom");
    uint64_t next = 0, remaining = 0;
    for (uint64_t i = 0; i < st->nsegs; i++) {
        segs[i].idx = i, segs[i].job = j, segs[i].first = i * st->segment;
        segs[i].last = (i + 1 == st->nsegs ? j->size : (i + 1) * st->segment) - 1;
        segs[i].finished = st->done[i];
        remaining += !st->done[i];
    }
    struct seg_sync y = {.fd = j->fd,
                         .size = j->size,
                         .part = j->part,
                         .url = j->url,
                         .state_path = state_path,
                         .st = st,
                         .md = j->md,
                         .md_git = j->md_git};
    int rc = seg_sync_start(&y, err);
    if (rc) {
        free(segs);
        return rc;
    }
    CURLM *m = curl_multi_init();
    unsigned running = 0;
    /* failed attempts in a row, over all segments, with no progress anywhere: a server that
     * trickles every range would otherwise be tried --tries times per segment, one by one */
    unsigned stalls = 0;
    while (remaining && !rc) {
        if (seg_sync_failed(&y)) break;
        if (o->cancel && *o->cancel) {
            rc = ferry_error_set(err, FERRY_EINTR, j->part, FERRY_NO_OFFSET, NULL,
                                 "interrupted; run the same command again to resume");
            break;
        }
        double t = http_now();
        for (uint64_t k = 0; k < st->nsegs && running < conns; k++) { /* fill free connections */
            uint64_t i = (next + k) % st->nsegs;
            struct seg *s = &segs[i];
            if (s->finished || s->active || s->not_before > t) continue;
            seg_start(s, m);
            running++;
            next = i + 1;
        }
        int still = 0;
        curl_multi_perform(m, &still);
        report_prefix(j, segs, st->nsegs);
        CURLMsg *msg;
        int left, finished_any = 0;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            struct seg *s = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode cc = msg->data.result;
            long status = s->r.status;
            seg_stop(s, m);
            running--;
            finished_any = 1;
            if (j->io_errno) {
                rc = ferry_error_set(err, FERRY_EIO, j->part, s->first + s->written, NULL,
                                     "write: %s", strerror(j->io_errno));
                break;
            }
            if (j->changed || j->ignored_range) break; /* handled by the caller */
            if (cc == CURLE_OK && !s->bad && s->first + s->written == s->last + 1) {
                s->finished = 1;
                remaining--;
                seg_sync_push(&y, s->idx);
                progress(j);
                stalls = 0;
                continue;
            }
            if (status && status != 206 && status != 200 && !http_retryable(status)) {
                rc = http_status_error(&s->r, j->url, err);
                break;
            }
            /* Progress resets the count, so only stalls count -- but not a trickle: an attempt
             * the low-speed limit ended is a failure however many bytes it moved, and so is one
             * that moved less than a second's worth at that limit and less than half of what
             * was left; else a server sending 1 byte/s, or a byte per connection, would keep
             * the fetch alive forever. (Timing-free, so a slow client is judged as a fast one.) */
            int slow = cc == CURLE_OPERATION_TIMEDOUT;
            uint64_t moved = s->written - s->written_before,
                     rest = s->last + 1 - (s->first + s->written_before);
            long limit = o->low_speed_limit ? o->low_speed_limit : 1024L;
            if (!slow && moved && (moved >= (uint64_t)limit || moved * 2 >= rest))
                s->tries = 0, stalls = 0;
            else
                stalls++;
            if (++s->tries >= max_tries || stalls >= max_tries * conns) {
                char why[200];
                if (slow)
                    snprintf(why, sizeof(why),
                             "too slow (under %ld bytes/s for %ld s; --speed-limit, --speed-time)",
                             o->low_speed_limit ? o->low_speed_limit : 1024L,
                             o->low_speed_time_s ? o->low_speed_time_s : 30L);
                rc = ferry_error_set(
                    err, FERRY_EUNAVAIL, j->shown, s->first + s->written, NULL,
                    "bytes %llu-%llu failed %u times (%u attempts in a row without "
                    "progress), last: %s; run again to resume",
                    (unsigned long long)s->first, (unsigned long long)s->last, s->tries, stalls,
                    slow             ? why
                    : s->why[0]      ? s->why
                    : cc != CURLE_OK ? curl_easy_strerror(cc)
                                     : "short body");
                break;
            }
            res->retries++;
            s->not_before = http_now() + http_backoff(s->tries - 1, s->r.retry_after, seed);
        }
        if (j->changed || j->ignored_range) break;
        /* a freed connection is refilled at once; otherwise wait for data (or a retry's time) */
        if (!rc && remaining && !finished_any && running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
        else if (!rc && remaining && !running)
            usleep(10000);
    }
    for (uint64_t i = 0; i < st->nsegs; i++) seg_stop(&segs[i], m);
    curl_multi_cleanup(m);
    free(segs);
    struct ferry_error yerr;
    ferry_error_clear(&yerr);
    int yrc = seg_sync_finish(&y, &yerr); /* records what finished, even when cancelled */
    j->hashed = y.hashed;
    if (yrc && !rc) {
        if (err) *err = yerr;
        rc = yrc;
    }
    return rc;
}

struct single {
    struct job *j;
    struct resp r;
    uint64_t off;
    int bad;
};

static size_t on_single(char *buf, size_t size, size_t n, void *ud)
{
    struct single *s = ud;
    size_t len = size * n;
    if (s->r.status != 200 || (s->j->size != UINT64_MAX && len > s->j->size - s->off)) {
        s->bad = 1;
        return 0;
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = pwrite(s->j->fd, buf + done, len - done, (off_t)(s->off + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            s->j->io_errno = w < 0 ? errno : EIO;
            return 0;
        }
        done += (size_t)w;
    }
    EVP_DigestUpdate(s->j->md, buf, len);
    if (s->j->md_git) EVP_DigestUpdate(s->j->md_git, buf, len);
    s->off += len;
    s->j->got = s->off;
    progress(s->j);
    if (s->j->o->prefix) s->j->o->prefix(s->j->o->prefix_ctx, s->off);
    if (s->j->o->cancel && *s->j->o->cancel) return 0;
    return len;
}

/* The whole object in one GET (servers without Range support); no resume possible. */
static int run_single(struct job *j, struct ferry_fetch_result *res, unsigned *seed,
                      struct ferry_error *err)
{
    unsigned max_tries = j->o->max_tries ? j->o->max_tries : 6;
    for (unsigned t = 0;; t++) {
        struct single s = {.j = j};
        EVP_DigestInit_ex(j->md, EVP_sha256(), NULL);
        if (j->md_git) git_blob_init(j->md_git, j->size);
        if (ftruncate(j->fd, 0) != 0)
            return ferry_error_set(err, FERRY_EIO, j->part, FERRY_NO_OFFSET, NULL, "truncate: %s",
                                   strerror(errno));
        CURL *h = curl_easy_init();
        struct curl_slist *hdrs = curl_slist_append(NULL, "Accept-Encoding: identity");
        http_common_opts(h, j->url, j->o, hdrs);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &s.r);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_single);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
        CURLcode cc = curl_easy_perform(h);
        curl_easy_cleanup(h);
        curl_slist_free_all(hdrs);
        if (j->o->cancel && *j->o->cancel)
            return ferry_error_set(err, FERRY_EINTR, j->shown, s.off, NULL,
                                   "interrupted (this server does not "
                                   "support Range, so a rerun starts over)");
        if (j->io_errno)
            return ferry_error_set(err, FERRY_EIO, j->part, s.off, NULL, "write: %s",
                                   strerror(j->io_errno));
        if (cc == CURLE_OK && !s.bad && (j->size == UINT64_MAX || s.off == j->size)) {
            j->size = s.off;
            j->hashed = s.off;
            res->downloaded += s.off;
            return 0;
        }
        if (s.r.status && s.r.status != 200 && !http_retryable(s.r.status))
            return http_status_error(&s.r, j->url, err);
        if (t + 1 >= max_tries)
            return ferry_error_set(err, FERRY_EUNAVAIL, j->shown, s.off, NULL,
                                   "whole-file transfer failed %u "
                                   "times: %s",
                                   t + 1, s.bad ? "unexpected response" : curl_easy_strerror(cc));
        res->retries++;
        usleep((useconds_t)(http_backoff(t, s.r.retry_after, seed) * 1e6));
    }
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Everything after the lock is held: probe, segment, verify, rename. */
static int fetch_locked(const char *url, const char *dir, const char *final, const char *part,
                        const char *state_path, const struct ferry_fetch_opts *o,
                        struct ferry_fetch_result *r, struct ferry_error *err)
{
    char shown[512];
    http_shown(url, shown, sizeof(shown));
    unsigned seed = (unsigned)getpid() ^ (unsigned)(uint64_t)(http_now() * 1e6);
    for (int attempt = 0; attempt < 3;
         attempt++) { /* restarts when the object changes underneath */
        struct http_probe p;
        int rc = http_probe(url, o, &p, &r->retries, &seed, err);
        if (rc) return rc;
        /* RFC 9110 14.4: first <= last < complete length; a "bytes 0-0/0" would make an empty
         * file of a failed probe, and a length past 2^63 is no object a server really holds */
        if (p.r.status == 206 && !p.r.have_range)
            return ferry_error_set(err, FERRY_EUNAVAIL, shown, FERRY_NO_OFFSET, NULL,
                                   "the server answered a request for byte 0 with HTTP 206 but "
                                   "no valid Content-Range (\"bytes FIRST-LAST/TOTAL\")");
        if (p.r.status == 206 && p.r.have_range &&
            (p.r.r_first != 0 || p.r.r_first > p.r.r_last || p.r.r_total == 0 ||
             p.r.r_last >= p.r.r_total || p.r.r_total > (uint64_t)INT64_MAX))
            return ferry_error_set(err, FERRY_EUNAVAIL, shown, FERRY_NO_OFFSET, NULL,
                                   "the server answered a request for byte 0 with an invalid "
                                   "Content-Range: bytes %llu-%llu/%llu",
                                   (unsigned long long)p.r.r_first, (unsigned long long)p.r.r_last,
                                   (unsigned long long)p.r.r_total);
        struct job j = {.url = url, .shown = shown, .part = part, .o = o, .fd = -1};
        int ranged = p.r.status == 206 && p.r.have_range && p.r.r_first == 0;
        j.size = ranged                                 ? p.r.r_total
                 : p.r.status == 200 && p.r.length >= 0 ? (uint64_t)p.r.length
                                                        : UINT64_MAX;
        if (strncmp(p.r.etag, "W/", 2) != 0) snprintf(j.etag, sizeof(j.etag), "%s", p.r.etag);
        snprintf(r->etag, sizeof(r->etag), "%s", p.r.etag);
        uint8_t want[32];
        int have_want = 0;
        if (o->sha256)
            memcpy(want, o->sha256, 32), have_want = 1, r->verified_by = 1;
        else if (!ferry_unhex(p.r.linked_etag, want, 32, 0))
            have_want = 1, r->verified_by = 2;

        struct statvfs vfs = {0}; /* before anything is allocated for a size the server claims */
        if (j.size != UINT64_MAX &&
            (j.size > (uint64_t)INT64_MAX ||
             (statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < j.size))) {
            uint64_t have_part = 0;
            struct stat ps;
            if (stat(part, &ps) == 0)
                have_part = (uint64_t)ps.st_size; /* an earlier run's bytes count */
            if (j.size > (uint64_t)INT64_MAX ||
                (uint64_t)vfs.f_bavail * vfs.f_frsize + have_part < j.size)
                return ferry_error_set(
                    err, FERRY_ECANTCREAT, dir, FERRY_NO_OFFSET, NULL,
                    "not enough free space: the file has %llu bytes, %llu available",
                    (unsigned long long)j.size, (unsigned long long)vfs.f_bavail * vfs.f_frsize);
        }
        struct fetch_state st = {.size = j.size,
                                 .segment = o->segment_size ? o->segment_size : 16u << 20};
        if (ranged && st.segment <= UINT64_MAX / FERRY_FETCH_MAX_SEGMENTS &&
            j.size > st.segment * FERRY_FETCH_MAX_SEGMENTS) { /* sizes are <= INT64_MAX here */
            uint64_t span = st.segment * FERRY_FETCH_MAX_SEGMENTS;
            st.segment *= (j.size + span - 1) / span;
        }
        snprintf(st.etag, sizeof(st.etag), "%s", j.etag);
        st.nsegs = ranged ? (j.size + st.segment - 1) / st.segment : 0;
        st.done = calloc(st.nsegs ? st.nsegs : 1, 1);
        if (!st.done)
            return ferry_error_set(err, FERRY_EINTERNAL, part, FERRY_NO_OFFSET, NULL, "oom");
        int resume = ranged && j.etag[0] &&
                     fetch_state_load(state_path, j.size, j.etag, st.segment, &st) == 0;
        if (!resume) memset(st.done, 0, st.nsegs ? st.nsegs : 1);
        j.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC | (resume ? 0 : O_TRUNC), 0644);
        if (j.fd < 0) {
            free(st.done);
            return ferry_error_set(err, FERRY_ECANTCREAT, part, FERRY_NO_OFFSET, NULL, "%s",
                                   strerror(errno));
        }
        uint64_t have = 0;
        for (uint64_t i = 0; i < st.nsegs; i++)
            if (st.done[i]) have += (i + 1 == st.nsegs ? j.size - i * st.segment : st.segment);
        r->resumed = have > 0;
        if (ranged && ftruncate(j.fd, (off_t)j.size) != 0) {
            rc =
                ferry_error_set(err, FERRY_EIO, part, FERRY_NO_OFFSET, NULL, "%s", strerror(errno));
            goto out;
        }
        j.md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(j.md, EVP_sha256(), NULL);
        if (o->git_sha1) {
            if (j.size == UINT64_MAX) {
                rc = ferry_error_set(
                    err, FERRY_EUNAVAIL, shown, FERRY_NO_OFFSET, NULL,
                    "the server gives no size, so the git blob hash cannot be checked");
                goto out;
            }
            j.md_git = EVP_MD_CTX_new();
            git_blob_init(j.md_git, j.size);
        }
        j.got = have;
        if (o->progress_total && j.size != UINT64_MAX) o->progress_total(o->progress_ctx, j.size);
        if (o->progress) o->progress(o->progress_ctx, j.got); /* what an earlier run left */
        if (ranged) {
            uint64_t before = have;
            rc = run_segments(&j, &st, state_path, r, &seed, err);
            r->downloaded += j.got > before ? j.got - before : 0;
            if (!rc && j.ignored_range) { /* the probe got 206 but transfers got 200: go single */
                r->single_stream = 1;
                unlink(state_path);
                rc = run_single(&j, r, &seed, err);
            }
        } else if (!ranged) {
            r->single_stream = 1;
            unlink(state_path);
            rc = run_single(&j, r, &seed, err);
        }
        if (!rc && j.changed) { /* new ETag: start over with the new object */
            EVP_MD_CTX_free(j.md);
            EVP_MD_CTX_free(j.md_git);
            close(j.fd);
            free(st.done);
            unlink(state_path);
            unlink(part);
            r->resumed = 0;
            continue;
        }
        if (!rc) {
            unsigned int n = 32;
            EVP_DigestFinal_ex(j.md, r->sha256, &n);
            r->size = j.size;
            struct stat sb;
            if (fstat(j.fd, &sb) != 0 || (uint64_t)sb.st_size != j.size || j.hashed != j.size)
                rc = ferry_error_set(err, FERRY_EMISMATCH, shown, FERRY_NO_OFFSET, NULL,
                                     "size: have %llu bytes, expected %llu",
                                     (unsigned long long)sb.st_size, (unsigned long long)j.size);
            else if (have_want && memcmp(want, r->sha256, 32) != 0) {
                char a[65], b[65];
                ferry_hex(r->sha256, 32, a);
                ferry_hex(want, 32, b);
                rc = ferry_error_set(err, FERRY_EMISMATCH, shown, FERRY_NO_OFFSET, NULL,
                                     "SHA-256 %s, expected %s (%s); the download was discarded", a,
                                     b, r->verified_by == 1 ? "expected" : "X-Linked-Etag");
            }
            uint8_t git[20];
            unsigned int gn = 20;
            if (!rc && j.md_git &&
                (EVP_DigestFinal_ex(j.md_git, git, &gn), memcmp(git, o->git_sha1, 20) != 0)) {
                char a[41], b[41];
                ferry_hex(git, 20, a);
                ferry_hex(o->git_sha1, 20, b);
                rc = ferry_error_set(err, FERRY_EMISMATCH, shown, FERRY_NO_OFFSET, NULL,
                                     "git blob SHA-1 %s, expected %s; the download was discarded",
                                     a, b);
            } else if (!rc && j.md_git && !have_want) {
                r->verified_by = 3;
            }
            if (!rc && o->btv2_root) { /* pages are hot: merkle tasks on all cores */
                uint8_t root[32];
                int has = 0;
                rc = ferry_btv2_root_fd(j.fd, j.size, part, root, &has, err);
                if (!rc && (!has || memcmp(root, o->btv2_root, 32) != 0)) {
                    char a[65], b[65];
                    ferry_hex(root, 32, a);
                    ferry_hex(o->btv2_root, 32, b);
                    rc = ferry_error_set(err, FERRY_EMISMATCH, shown, FERRY_NO_OFFSET, NULL,
                                         "BEP 52 root %s, expected %s; the download was discarded",
                                         has ? a : "none", b);
                }
                r->btv2_checked = !rc;
            }
            if (rc) { /* wrong bytes never stay around */
                unlink(part);
                unlink(state_path);
            } else if (fsync(j.fd) != 0) {
                rc = ferry_error_set(err, FERRY_EIO, part, FERRY_NO_OFFSET, NULL, "fsync: %s",
                                     strerror(errno));
            } else if (!o->force && access(final, F_OK) == 0) {
                rc = ferry_error_set(err, FERRY_ECANTCREAT, final, FERRY_NO_OFFSET, NULL,
                                     "exists (use --force to replace it)");
            } else if (rename(part, final) != 0) {
                rc = ferry_error_set(err, FERRY_ECANTCREAT, final, FERRY_NO_OFFSET, NULL,
                                     "rename: %s", strerror(errno));
            } else {
                unlink(state_path);
                fsync_dir(dir);
            }
        }
    out:
        EVP_MD_CTX_free(j.md);
        EVP_MD_CTX_free(j.md_git);
        close(j.fd);
        free(st.done);
        return rc;
    }
    return ferry_error_set(err, FERRY_EUNAVAIL, shown, FERRY_NO_OFFSET, NULL,
                           "the file kept changing on the server (ETag) during the download");
}

int ferry_fetch_url(const char *url, const char *dir, const char *name,
                    const struct ferry_fetch_opts *o, struct ferry_fetch_result *r,
                    struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    if (!name[0] || name[0] == '.' || strchr(name, '/'))
        return ferry_error_set(
            err, FERRY_EUSAGE, dir, FERRY_NO_OFFSET, NULL,
            "refusing output name \"%s\" (empty, hidden or with a directory part)", name);
    char final[4096], part[4096], state[4200], lock[4096];
    snprintf(final, sizeof(final), "%s/%s", dir, name);
    snprintf(part, sizeof(part), "%s/.%s.part", dir, name);
    snprintf(state, sizeof(state), "%s.json", part);
    /* one lock per file, so two fetches of one file never write the same .part, and the files
     * of one directory can be fetched at once (--jobs) */
    snprintf(lock, sizeof(lock), "%s/.%s.lock", dir, name);
    if (!o->force && access(final, F_OK) == 0)
        return ferry_error_set(err, FERRY_ECANTCREAT, final, FERRY_NO_OFFSET, NULL,
                               "exists (use --force to replace it)");
    int lfd = -1;
    for (int tries = 0; lfd < 0; tries++) { /* the lock file goes away after each fetch */
        lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lfd < 0)
            return ferry_error_set(err, FERRY_ECANTCREAT, lock, FERRY_NO_OFFSET, NULL, "%s",
                                   strerror(errno));
        if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
            close(lfd);
            return ferry_error_set(err, FERRY_ECANTCREAT, dir, FERRY_NO_OFFSET, NULL,
                                   "another ferry fetch is writing this file (lock %s)", lock);
        }
        struct stat a, b; /* locked the file that is still there, not one just unlinked? */
        if (fstat(lfd, &a) != 0 || stat(lock, &b) != 0 || a.st_ino != b.st_ino ||
            a.st_dev != b.st_dev) {
            close(lfd);
            lfd = -1;
            if (tries > 100)
                return ferry_error_set(err, FERRY_ECANTCREAT, lock, FERRY_NO_OFFSET, NULL,
                                       "cannot take the lock");
        }
    }
    int rc = fetch_locked(url, dir, final, part, state, o, r, err);
    unlink(lock); /* while still holding it: a waiting fetch notices the inode changed */
    close(lfd);
    return rc;
}
