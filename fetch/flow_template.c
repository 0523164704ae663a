/* ferry_fetch_template (see ferry/fetch_flow.h): Meta's presigned download links. */
#include "flow.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Expiry (AWS:EpochTime of DateLessThan) of a CloudFront custom policy in the query, or -1. */
static long long policy_expiry(const char *query)
{
    const char *p = strstr(query, "Policy=");
    if (!p) return -1;
    p += 7;
    size_t n = strcspn(p, "&#");
    if (n == 0 || n > 8192) return -1;
    char b64[8200];
    for (size_t i = 0; i < n; i++) /* CloudFront-safe base64 back to the standard alphabet */
        b64[i] = p[i] == '-' ? '+' : p[i] == '_' ? '=' : p[i] == '~' ? '/' : p[i];
    while (n % 4) b64[n++] = '=';
    b64[n] = 0;
    unsigned char json[6200];
    int len = EVP_DecodeBlock(json, (const unsigned char *)b64, (int)n);
    if (len <= 0) return -1;
    while (len > 0 && json[len - 1] == 0) len--; /* padding decodes to NULs */
    json_error_t je;
    json_t *j = json_loadb((const char *)json, (size_t)len, 0, &je);
    json_t *e = json_object_get(
        json_object_get(
            json_object_get(json_array_get(json_object_get(j, "Statement"), 0), "Condition"),
            "DateLessThan"),
        "AWS:EpochTime");
    long long v = json_is_integer(e) ? (long long)json_integer_value(e) : -1;
    json_decref(j);
    return v;
}

struct template_job {
    const char *tmpl, *star, *dir;
    const char *const *names;
    const struct ferry_fetch_opts *o;
    const struct ferry_fetch_events *ev;
    struct ferry_fetch_tally *t;
};

/* One file of the list (flow_each runs these o->jobs at a time) */
static void template_file(void *ctx, size_t i)
{
    struct template_job *j = ctx;
    const char *name = j->names[i];
    struct ferry_error err;
    ferry_error_clear(&err);
    if (!*name || name[0] == '/' || strstr(name, "..") || strchr(name, '?') || strchr(name, '#')) {
        ferry_error_set(&err, FERRY_EUSAGE, name, FERRY_NO_OFFSET, NULL,
                        "not a relative file path");
        flow_fail(j->ev, j->t, name, &err);
        return;
    }
    char esc[4096], url[16384], fdir[4096], base[1024];
    if (ferry_url_escape(name, 1, esc, sizeof(esc)) ||
        (size_t)snprintf(url, sizeof(url), "%.*s%s%s", (int)(j->star - j->tmpl), j->tmpl, esc,
                         j->star + 1) >= sizeof(url)) {
        ferry_error_set(&err, FERRY_EUSAGE, name, FERRY_NO_OFFSET, NULL, "URL too long");
        flow_fail(j->ev, j->t, name, &err);
        return;
    }
    if (flow_place(j->dir, name, fdir, sizeof(fdir), base, sizeof(base), &err) ||
        flow_one(url, fdir, base, name, j->o, j->ev, j->t, &err))
        flow_fail(j->ev, j->t, name, &err);
}

int ferry_fetch_template(const char *tmpl, const char *files, const char *dir,
                         const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                         struct ferry_fetch_tally *t)
{
    const char *star = strchr(tmpl, '*'), *q = strchr(tmpl, '?');
    struct ferry_error err;
    ferry_error_clear(&err);
    if (!star || (q && star > q)) {
        ferry_error_set(&err, FERRY_EUSAGE, "--url-template", FERRY_NO_OFFSET, NULL,
                        "needs one '*' in its path where each file name goes");
        flow_fail(ev, t, "--url-template", &err);
        return t->code;
    }
    if (flow_dir(dir, ev, t)) return t->code;
    long long exp = policy_expiry(q ? q : "");
    time_t now = time(NULL);
    char text[256];
    if (exp > 0) {
        char when[64];
        time_t e = (time_t)exp;
        struct tm tm;
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime_r(&e, &tm));
        if (exp <= (long long)now) {
            ferry_error_set(&err, FERRY_EPERM, "--url-template", FERRY_NO_OFFSET, NULL,
                            "the signed link expired at %s; request a new one", when);
            flow_fail(ev, t, "--url-template", &err);
            return t->code;
        }
        snprintf(text, sizeof(text), "signed link valid until %s (%.1f hours from now)", when,
                 (double)(exp - (long long)now) / 3600.0);
    } else {
        snprintf(text, sizeof(text),
                 "--url-template: no CloudFront policy expiry found in the link");
    }
    if (ev && ev->note) ev->note(ev->ctx, text, exp > 0 ? exp : 0);
    char *list = strdup(files);
    size_t n = 0, cap = 1;
    for (const char *p = files; *p; p++) cap += *p == ',';
    char **names = calloc(cap, sizeof(*names));
    if (!list || !names) {
        free(list), free(names);
        ferry_error_set(&err, FERRY_EINTERNAL, "--files", FERRY_NO_OFFSET, NULL, "out of memory");
        flow_fail(ev, t, "--files", &err);
        return t->code;
    }
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
         name = strtok_r(NULL, ",", &save))
        names[n++] = name;
    struct template_job j = {tmpl, star, dir, (const char *const *)names, o, ev, t};
    flow_each(o, n, template_file, &j);
    free(names);
    free(list);
    return t->code;
}
