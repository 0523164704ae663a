/* See fetch_template.h. */
#include "fetch_template.h"
#include "fetch_hub.h"
#include "output.h"
#include "ferry/file.h"

#include <errno.h>
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
    json_t *e = json_object_get(json_object_get(json_object_get(json_array_get(json_object_get(j, "Statement"), 0),
                                                                "Condition"),
                                                "DateLessThan"),
                                "AWS:EpochTime");
    long long v = json_is_integer(e) ? (long long)json_integer_value(e) : -1;
    json_decref(j);
    return v;
}

void fetch_template(const char *tmpl, const char *files, const char *dir, struct ferry_fetch_opts *o,
                    struct fetch_tally *t)
{
    const char *star = strchr(tmpl, '*'), *q = strchr(tmpl, '?');
    struct ferry_error err;
    ferry_error_clear(&err);
    if (!star || (q && star > q)) {
        ferry_error_set(&err, FERRY_EUSAGE, "--url-template", FERRY_NO_OFFSET, NULL,
                        "needs one '*' in its path where each file name goes");
        fetch_fail(t, "--url-template", &err);
        t->worst = 64;
        return;
    }
    long long exp = policy_expiry(q ? q : "");
    time_t now = time(NULL);
    if (exp > 0) {
        char when[64];
        time_t e = (time_t)exp;
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&e));
        if (exp <= (long long)now) {
            ferry_error_set(&err, FERRY_EPERM, "--url-template", FERRY_NO_OFFSET, NULL,
                            "the signed link expired at %s; request a new one", when);
            fetch_fail(t, "--url-template", &err);
            return;
        }
        notef("signed link valid until %s (%.1f hours from now)", when, (double)(exp - (long long)now) / 3600.0);
        if (g_opts.json) fetch_event("link", NULL, json_pack("{s:I}", "expires", (json_int_t)exp));
    } else {
        warnf("--url-template: no CloudFront policy expiry found in the link");
    }
    char *list = strdup(files);
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name && !g_fetch_cancel;
         name = strtok_r(NULL, ",", &save)) {
        if (!*name || name[0] == '/' || strstr(name, "..") || strchr(name, '?') || strchr(name, '#')) {
            ferry_error_set(&err, FERRY_EUSAGE, name, FERRY_NO_OFFSET, NULL, "not a relative file path");
            fetch_fail(t, name, &err);
            continue;
        }
        char esc[4096], url[16384], fdir[4096], label[4096];
        ferry_url_escape(name, 1, esc, sizeof(esc));
        snprintf(url, sizeof(url), "%.*s%s%s", (int)(star - tmpl), tmpl, esc, star + 1);
        const char *slash = strrchr(name, '/');
        if (slash) snprintf(fdir, sizeof(fdir), "%s/%.*s", dir, (int)(slash - name), name);
        else snprintf(fdir, sizeof(fdir), "%s", dir);
        snprintf(label, sizeof(label), "%s", name);
        if (ferry_mkdirs(fdir, 0755) != 0) {
            ferry_error_set(&err, FERRY_ECANTCREAT, fdir, FERRY_NO_OFFSET, NULL, "mkdir: %s", strerror(errno));
            fetch_fail(t, name, &err);
            continue;
        }
        fetch_one(url, fdir, slash ? slash + 1 : name, label, o, t);
    }
    free(list);
}
