/* Torrent v2 file roots against a manifest (see ferry/torrent_check.h). */
#define _GNU_SOURCE
#include "ferry/torrent_check.h"
#include "ferry/bencode.h"
#include "ferry/file.h"
#include "ferry/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tctx {
    const struct ferry_manifest *m;
    struct ferry_check_report *r;
    char *seen; /* per manifest resource */
    const char *path;
    struct ferry_error *err;
};

static void push(char ***list, size_t *n, const char *s)
{
    char **p = realloc(*list, (*n + 1) * sizeof(char *));
    if (p && (p[*n] = strdup(s))) {
        *list = p;
        (*n)++;
    }
}

static int walk(struct tctx *c, const struct ferry_bnode *tree, char *prefix, size_t plen, int depth)
{
    if (!tree || tree->kind != FERRY_B_DICT || depth > 64)
        return ferry_error_set(c->err, FERRY_EMALFORMED, c->path, FERRY_NO_OFFSET, NULL,
                               "file tree is not a dict");
    for (size_t i = 0; i + 1 < tree->n; i += 2) {
        const struct ferry_bnode *k = &tree->items[i], *v = &tree->items[i + 1];
        if (k->len == 0) { /* a file: {"": {length, pieces root}} */
            const struct ferry_bnode *len = ferry_bdict_get(v, "length");
            const struct ferry_bnode *root = ferry_bdict_get(v, "pieces root");
            if (!plen || !len || len->kind != FERRY_B_INT || len->i < 0)
                return ferry_error_set(c->err, FERRY_EMALFORMED, c->path, FERRY_NO_OFFSET, prefix,
                                       "file entry without a length");
            int ignored = 0;
            for (size_t g = 0; g < c->m->nignore && !ignored; g++) {
                size_t gl = strlen(c->m->ignore_paths[g]);
                ignored = !strncmp(prefix, c->m->ignore_paths[g], gl) && (prefix[gl] == 0 || prefix[gl] == '/');
            }
            if (ignored) continue; /* signatures and other recorded ignores may travel along */
            size_t j = 0;
            while (j < c->m->nres && strcmp(c->m->res[j].name, prefix)) j++;
            if (j == c->m->nres) {
                push(&c->r->extra, &c->r->nextra, prefix);
                continue;
            }
            const struct ferry_resource *res = &c->m->res[j];
            c->seen[j] = 1;
            char msg[600];
            int ok = (!res->has_size || (uint64_t)len->i == res->size);
            if (ok && len->i > 0)
                ok = root && root->kind == FERRY_B_STR && root->len == 32 && res->has_btv2 &&
                     memcmp(root->s, res->btv2, 32) == 0;
            if (ok) c->r->nok++;
            else {
                snprintf(msg, sizeof(msg), "%s (torrent pieces root or length differs from the manifest)", prefix);
                push(&c->r->mismatched, &c->r->nmismatched, msg);
            }
            continue;
        }
        if (memchr(k->s, '/', k->len) || memchr(k->s, 0, k->len) || (k->len <= 2 && k->s[0] == '.' && (k->len == 1 || k->s[1] == '.')) ||
            plen + k->len + 2 > 4096)
            return ferry_error_set(c->err, FERRY_EMALFORMED, c->path, FERRY_NO_OFFSET, NULL,
                                   "unsafe path component in the file tree");
        size_t nl = plen + (plen ? 1 : 0) + k->len;
        if (plen) prefix[plen] = '/';
        memcpy(prefix + plen + (plen ? 1 : 0), k->s, k->len);
        prefix[nl] = 0;
        int rc = walk(c, v, prefix, nl, depth + 1);
        prefix[plen] = 0;
        if (rc) return rc;
    }
    return 0;
}

int ferry_torrent_check(const char *torrent_path, const struct ferry_manifest *m,
                        struct ferry_check_report *r, struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    struct ferry_map map;
    int rc = ferry_map_open(&map, torrent_path, err);
    if (rc) return rc;
    struct ferry_bnode *root = NULL;
    rc = ferry_bdecode(map.data, (size_t)map.size, torrent_path, &root, err);
    const struct ferry_bnode *info = rc ? NULL : ferry_bdict_get(root, "info");
    const struct ferry_bnode *mv = ferry_bdict_get(info, "meta version");
    const struct ferry_bnode *tree = ferry_bdict_get(info, "file tree");
    if (!rc && (!mv || mv->kind != FERRY_B_INT || mv->i != 2 || !tree))
        rc = ferry_error_set(err, FERRY_EMALFORMED, torrent_path, FERRY_NO_OFFSET, NULL,
                             "not a BitTorrent v2 or hybrid torrent (no meta version 2 file tree)");
    struct tctx c = {m, r, calloc(m->nres + 1, 1), torrent_path, err};
    char prefix[4096] = "";
    if (!rc && !c.seen) rc = ferry_error_set(err, FERRY_EINTERNAL, torrent_path, FERRY_NO_OFFSET, NULL, "oom");
    /* a single-file torrent's tree is {name: {"": ...}}; a directory's is {name-less entries} */
    if (!rc) rc = walk(&c, tree, prefix, 0, 0);
    for (size_t j = 0; !rc && j < m->nres; j++)
        if (!c.seen[j]) push(&r->missing, &r->nmissing, m->res[j].name);
    free(c.seen);
    ferry_bnode_free(root);
    ferry_map_close(&map);
    return rc;
}
