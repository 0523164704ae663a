/* Torrent files against a manifest (see ferry/torrent_check.h). */
#define _GNU_SOURCE
#include "ferry/torrent_check.h"
#include "ferry/torrent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void push(char ***list, size_t *n, const char *s)
{
    char **p = realloc(*list, (*n + 1) * sizeof(char *));
    if (p && (p[*n] = strdup(s))) {
        *list = p;
        (*n)++;
    }
}

int ferry_torrent_check_info(const struct ferry_torrent_info *t, const struct ferry_manifest *m,
                             int need_roots, struct ferry_check_report *r, struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    char *seen = calloc(m->nres + 1, 1);
    if (!seen) return ferry_error_set(err, FERRY_EINTERNAL, t->name, FERRY_NO_OFFSET, NULL, "oom");
    for (size_t i = 0; i < t->nfiles; i++) {
        const struct ferry_torrent_file *f = &t->files[i];
        if (f->pad) continue;
        size_t j = 0;
        while (j < m->nres && strcmp(m->res[j].name, f->path)) j++;
        if (j == m->nres) {
            /* signatures and other recorded ignores may travel along */
            if (!ferry_manifest_ignores(m, f->path)) push(&r->extra, &r->nextra, f->path);
            continue;
        }
        const struct ferry_resource *res = &m->res[j];
        seen[j] = 1;
        int ok = !res->has_size || f->size == res->size;
        if (ok && t->v2 && f->size && (res->has_btv2 || need_roots))
            ok = f->has_root && res->has_btv2 && !memcmp(f->root, res->btv2, 32);
        if (ok) {
            r->nok++;
            r->bytes += f->size;
        } else {
            char msg[4200];
            snprintf(msg, sizeof(msg), "%s (torrent %s differs from the manifest's)", f->path,
                     res->has_size && f->size != res->size ? "length" : "BEP 52 pieces root");
            push(&r->mismatched, &r->nmismatched, msg);
        }
    }
    for (size_t j = 0; j < m->nres; j++)
        if (!seen[j]) push(&r->missing, &r->nmissing, m->res[j].name);
    free(seen);
    return 0;
}

int ferry_torrent_check(const char *torrent_path, const struct ferry_manifest *m,
                        struct ferry_check_report *r, struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    struct ferry_torrent_info t;
    int rc = ferry_torrent_load(torrent_path, &t, err);
    if (rc) return rc;
    if (!t.v2)
        rc = ferry_error_set(err, FERRY_EMALFORMED, torrent_path, FERRY_NO_OFFSET, NULL,
                             "not a BitTorrent v2 or hybrid torrent (no meta version 2 file tree)");
    else
        rc = ferry_torrent_check_info(&t, m, 1, r, err);
    ferry_torrent_info_free(&t);
    return rc;
}
