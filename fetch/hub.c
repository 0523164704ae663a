/* Hub references, tokens and the file list (see ferry/hub.h). The API answers are small JSON
 * documents fetched into memory (capped), with the same retry policy as downloads. */
#define _GNU_SOURCE
#include "ferry/hub.h"
#include "ferry/fetch.h"
#include "ferry/hash.h"
#include "http.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define API_MAX_BYTES (64u << 20)

int ferry_hub_parse(const char *spec, struct ferry_hub_repo *r, struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    const char *ep = getenv("HF_ENDPOINT");
    snprintf(r->endpoint, sizeof(r->endpoint), "%s", ep && *ep ? ep : "https://huggingface.co");
    size_t el = strlen(r->endpoint);
    while (el && r->endpoint[el - 1] == '/') r->endpoint[--el] = 0;
    if (strncmp(spec, "hf://", 5) != 0)
        return ferry_error_set(err, FERRY_EUSAGE, spec, FERRY_NO_OFFSET, NULL,
                               "not an hf:// reference");
    const char *p = spec + 5, *slash = strchr(p, '/');
    if (!slash || slash == p)
        return ferry_error_set(err, FERRY_EUSAGE, spec, FERRY_NO_OFFSET, NULL,
                               "expected hf://ORG/NAME[@REV][/PATH]");
    const char *name = slash + 1;
    size_t nlen = strcspn(name, "@/");
    if (!nlen || (size_t)(name + nlen - p) >= sizeof(r->repo))
        return ferry_error_set(err, FERRY_EUSAGE, spec, FERRY_NO_OFFSET, NULL,
                               "expected hf://ORG/NAME[@REV][/PATH]");
    memcpy(r->repo, p, (size_t)(name + nlen - p));
    const char *rest = name + nlen;
    snprintf(r->revision, sizeof(r->revision), "main");
    if (*rest == '@') { /* a revision may contain '/' only when percent-encoded (refs%2Fpr%2F1) */
        size_t rl = strcspn(rest + 1, "/");
        if (!rl || rl >= sizeof(r->revision))
            return ferry_error_set(err, FERRY_EUSAGE, spec, FERRY_NO_OFFSET, NULL,
                                   "empty or long revision");
        memcpy(r->revision, rest + 1, rl);
        r->revision[rl] = 0;
        rest += 1 + rl;
    }
    if (*rest == '/') snprintf(r->path, sizeof(r->path), "%s", rest + 1);
    for (const char *c = r->repo; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("-_./", *c))
            return ferry_error_set(err, FERRY_EUSAGE, spec, FERRY_NO_OFFSET, NULL,
                                   "bad repository name");
    if (strstr(r->repo, "..") || strstr(r->revision, ".."))
        return ferry_error_set(err, FERRY_EUSAGE, spec, FERRY_NO_OFFSET, NULL,
                               "'..' in repository or revision");
    return 0;
}

const char *ferry_hub_token(char *buf, size_t n)
{
    const char *t = getenv("HF_TOKEN");
    if (t && *t) {
        snprintf(buf, n, "%s", t);
        return buf;
    }
    char path[1024];
    const char *home = getenv("HF_HOME");
    if (home && *home)
        snprintf(path, sizeof(path), "%s/token", home);
    else {
        const char *xdg = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
        if (xdg && *xdg)
            snprintf(path, sizeof(path), "%s/huggingface/token", xdg);
        else
            snprintf(path, sizeof(path), "%s/.cache/huggingface/token", h ? h : "");
    }
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t got = fread(buf, 1, n - 1, f);
    fclose(f);
    buf[got] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    return buf[0] ? buf : NULL;
}

void ferry_hub_resolve_url(const struct ferry_hub_repo *r, const char *path, char *buf, size_t n)
{
    char p[3072];
    ferry_url_escape(path, 1, p, sizeof(p));
    snprintf(buf, n, "%s/%s/resolve/%s/%s", r->endpoint, r->repo, r->commit, p);
}

struct body {
    char *data;
    size_t len, cap;
    struct resp r;
    char next[2048]; /* Link: <...>; rel="next" */
};

static size_t on_api_header(char *buf, size_t size, size_t n, void *ud)
{
    struct body *b = ud;
    size_t len = size * n;
    if (len > 5 && !strncasecmp(buf, "link:", 5)) {
        char line[4096];
        size_t l = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
        memcpy(line, buf, l);
        line[l] = 0;
        char *lt = strchr(line, '<'), *gt = lt ? strchr(lt, '>') : NULL;
        if (lt && gt && strstr(gt, "rel=\"next\"") && (size_t)(gt - lt - 1) < sizeof(b->next)) {
            memcpy(b->next, lt + 1, (size_t)(gt - lt - 1));
            b->next[gt - lt - 1] = 0;
        }
    }
    if (len > 5 && !strncmp(buf, "HTTP/", 5)) b->next[0] = 0;
    return http_on_header(buf, size, n, &b->r);
}

static size_t on_api_body(char *p, size_t size, size_t n, void *ud)
{
    struct body *b = ud;
    size_t len = size * n;
    if (b->len + len > API_MAX_BYTES) return 0;
    if (b->len + len + 1 > b->cap) {
        size_t cap = (b->len + len + 1) * 2;
        char *d = realloc(b->data, cap);
        if (!d) return 0;
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = 0;
    return len;
}

/* GET url into a parsed JSON document, retried like downloads. */
static int api_get(const char *url, const char *token, json_t **out, struct body *b,
                   struct ferry_error *err)
{
    struct ferry_fetch_opts o = {.bearer = token};
    unsigned seed = (unsigned)getpid(), retries = 0;
    for (unsigned t = 0;; t++) {
        free(b->data);
        memset(b, 0, sizeof(*b));
        CURL *h = curl_easy_init();
        struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
        http_common_opts(h, url, &o, hdrs);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_api_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, b);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_api_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
        CURLcode cc = curl_easy_perform(h);
        curl_easy_cleanup(h);
        curl_slist_free_all(hdrs);
        if (cc == CURLE_OK && b->r.status == 200) break;
        if (b->r.status && b->r.status != 200 && !http_retryable(b->r.status)) {
            int rc = http_status_error(&b->r, url, err);
            if (b->r.status == 401 && strcmp(b->r.error_code, "GatedRepo") != 0)
                snprintf(err->cause, sizeof(err->cause),
                         "HTTP 401: repository not found, or private and the "
                         "token (HF_TOKEN or $HF_HOME/token) is missing or has no access");
            return rc;
        }
        if (t + 1 >= 4) {
            char shown[512];
            if (b->r.status) return http_status_error(&b->r, url, err);
            return ferry_error_set(err, FERRY_EUNAVAIL, http_shown(url, shown, sizeof(shown)),
                                   FERRY_NO_OFFSET, NULL, "%s", curl_easy_strerror(cc));
        }
        retries++;
        usleep((useconds_t)(http_backoff(t, b->r.retry_after, &seed) * 1e6));
    }
    json_error_t je;
    *out = b->data ? json_loadb(b->data, b->len, 0, &je) : NULL;
    if (!*out) {
        char shown[512];
        return ferry_error_set(err, FERRY_EMALFORMED, http_shown(url, shown, sizeof(shown)),
                               FERRY_NO_OFFSET, NULL,
                               "the hub answered with something that is not JSON");
    }
    return 0;
}

/* A repository path we are willing to create under an output folder. */
static int safe_path(const char *p)
{
    if (!*p || *p == '/' || strlen(p) > 1000) return 0;
    for (const char *s = p; *s;) {
        size_t l = strcspn(s, "/");
        if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.')) return 0;
        s += l;
        if (*s == '/') s++;
        if (!*s && s[-1] == '/') return 0;
    }
    for (const unsigned char *s = (const unsigned char *)p; *s; s++)
        if (*s < 0x20 || *s == '\\') return 0;
    return 1;
}

static int add_entry(struct ferry_hub_repo *r, json_t *e, const char *url, struct ferry_error *err)
{
    const char *type = json_string_value(json_object_get(e, "type"));
    if (!type || strcmp(type, "file") != 0) return 0; /* folders are implied by paths */
    const char *path = json_string_value(json_object_get(e, "path"));
    json_t *lfs = json_object_get(e, "lfs");
    json_t *size = json_object_get(lfs ? lfs : e, "size");
    char shown[512];
    http_shown(url, shown, sizeof(shown));
    if (!path || !safe_path(path))
        return ferry_error_set(err, FERRY_EMALFORMED, shown, FERRY_NO_OFFSET, path ? path : NULL,
                               "unsafe or missing path in the tree listing");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return ferry_error_set(err, FERRY_EMALFORMED, shown, FERRY_NO_OFFSET, path,
                               "missing or bad size");
    struct ferry_hub_file f = {.size = (uint64_t)json_integer_value(size), .lfs = lfs != NULL};
    if (lfs ? ferry_unhex(json_string_value(json_object_get(lfs, "oid")), f.sha256, 32, 0)
            : ferry_unhex(json_string_value(json_object_get(e, "oid")), f.git_sha1, 20, 0))
        return ferry_error_set(err, FERRY_EMALFORMED, shown, FERRY_NO_OFFSET, path,
                               lfs ? "lfs.oid is not a SHA-256" : "oid is not a git SHA-1");
    if (r->path[0]) { /* keep the asked file, or the files inside the asked folder */
        size_t pl = strlen(r->path);
        while (pl && r->path[pl - 1] == '/') pl--;
        if (strncmp(path, r->path, pl) != 0 || (path[pl] && path[pl] != '/')) return 0;
    }
    for (size_t i = 0; i < r->nfiles; i++)
        if (!strcmp(r->files[i].path, path))
            return ferry_error_set(err, FERRY_EMALFORMED, shown, FERRY_NO_OFFSET, path,
                                   "listed twice");
    struct ferry_hub_file *nf = realloc(r->files, (r->nfiles + 1) * sizeof(*nf));
    if (!nf || !(f.path = strdup(path))) {
        if (nf) r->files = nf;
        return ferry_error_set(err, FERRY_EINTERNAL, shown, FERRY_NO_OFFSET, NULL, "oom");
    }
    r->files = nf;
    r->files[r->nfiles++] = f;
    return 0;
}

int ferry_hub_list(struct ferry_hub_repo *r, const char *token, struct ferry_error *err)
{
    char url[4096], rev[768];
    struct body b = {0};
    json_t *j = NULL;
    ferry_url_escape(r->revision, 0, rev, sizeof(rev));
    snprintf(url, sizeof(url), "%s/api/models/%s/revision/%s", r->endpoint, r->repo, rev);
    int rc = api_get(url, token, &j, &b, err);
    if (rc) goto out;
    const char *sha = json_string_value(json_object_get(j, "sha"));
    uint8_t tmp[20];
    if (!sha || ferry_unhex(sha, tmp, 20, 0)) {
        rc = ferry_error_set(err, FERRY_EMALFORMED, url, FERRY_NO_OFFSET, NULL,
                             "no commit (sha) in the answer");
        goto out;
    }
    if (b.r.repo_commit[0] && strcasecmp(b.r.repo_commit, sha) != 0) {
        rc = ferry_error_set(err, FERRY_EMALFORMED, url, FERRY_NO_OFFSET, NULL,
                             "X-Repo-Commit %s disagrees with the revision's sha %s",
                             b.r.repo_commit, sha);
        goto out;
    }
    snprintf(r->commit, sizeof(r->commit), "%s", sha);
    for (char *c = r->commit; *c; c++) *c = (char)tolower((unsigned char)*c);
    snprintf(url, sizeof(url), "%s/api/models/%s/tree/%s?recursive=true&expand=false", r->endpoint,
             r->repo, r->commit);
    for (int page = 0; page < 10000; page++) {
        json_decref(j);
        j = NULL;
        if ((rc = api_get(url, token, &j, &b, err))) goto out;
        if (!json_is_array(j)) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, url, FERRY_NO_OFFSET, NULL,
                                 "tree listing is not an array");
            goto out;
        }
        for (size_t i = 0; i < json_array_size(j) && !rc; i++)
            rc = add_entry(r, json_array_get(j, i), url, err);
        if (rc || !b.next[0]) break;
        if (strncmp(b.next, r->endpoint, strlen(r->endpoint)) != 0) { /* stay on the hub */
            rc = ferry_error_set(err, FERRY_EMALFORMED, url, FERRY_NO_OFFSET, NULL,
                                 "next page link leaves the hub: %s", b.next);
            goto out;
        }
        snprintf(url, sizeof(url), "%s", b.next);
    }
    if (!rc && r->path[0] && !r->nfiles)
        rc = ferry_error_set(err, FERRY_ENOINPUT, r->path, FERRY_NO_OFFSET, NULL, "not in %s at %s",
                             r->repo, r->commit);
out:
    json_decref(j);
    free(b.data);
    return rc;
}

void ferry_hub_free(struct ferry_hub_repo *r)
{
    for (size_t i = 0; i < r->nfiles; i++) free(r->files[i].path);
    free(r->files);
    r->files = NULL, r->nfiles = 0;
}
