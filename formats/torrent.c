/* Reading and checking .torrent files, and magnet links (see ferry/torrent.h). */
#define _GNU_SOURCE
#include "ferry/codec.h"
#include "ferry/file.h"
#include "ferry/hash.h"
#include "ferry/torrent.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILES (1u << 20)
#define LEAF      16384u

struct rd {
    const char *what;
    struct ferry_error *err;
    struct ferry_torrent_info *t;
    size_t cap;
};

static int bad(struct rd *r, const char *object, const char *why)
{
    return ferry_error_set(r->err, FERRY_EMALFORMED, r->what, FERRY_NO_OFFSET, object, "%s", why);
}

/* A path component a client may create: no separators, NUL, "." or ".." */
static int comp_ok(const uint8_t *s, size_t n)
{
    if (n == 0 || n > 255 || memchr(s, '/', n) || memchr(s, '\\', n) || memchr(s, 0, n)) return 0;
    return !(n <= 2 && s[0] == '.' && (n == 1 || s[1] == '.'));
}

static int add_file(struct rd *r, const char *path, uint64_t size, const uint8_t *root, int pad)
{
    struct ferry_torrent_info *t = r->t;
    if (t->nfiles >= MAX_FILES) return bad(r, path, "more than 2^20 files");
    if (t->nfiles == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        struct ferry_torrent_file *f = realloc(t->files, r->cap * sizeof(*f));
        if (!f)
            return ferry_error_set(r->err, FERRY_EINTERNAL, r->what, FERRY_NO_OFFSET, NULL, "oom");
        t->files = f;
    }
    struct ferry_torrent_file *f = &t->files[t->nfiles];
    memset(f, 0, sizeof(*f));
    if (!(f->path = strdup(path)))
        return ferry_error_set(r->err, FERRY_EINTERNAL, r->what, FERRY_NO_OFFSET, NULL, "oom");
    f->size = size, f->pad = pad;
    if (root) memcpy(f->root, root, 32), f->has_root = 1;
    t->nfiles++;
    return 0;
}

static int walk_tree(struct rd *r, const struct ferry_bnode *d, char *prefix, size_t plen,
                     int depth)
{
    if (!d || d->kind != FERRY_B_DICT || depth > 60)
        return bad(r, prefix, "file tree entry is not a dict");
    for (size_t i = 0; i + 1 < d->n; i += 2) {
        const struct ferry_bnode *k = &d->items[i], *v = &d->items[i + 1];
        if (k->len == 0) {
            const struct ferry_bnode *len = ferry_bdict_get(v, "length");
            const struct ferry_bnode *root = ferry_bdict_get(v, "pieces root");
            if (!plen) return bad(r, NULL, "the file tree's top is a file");
            if (!len || len->kind != FERRY_B_INT || len->i < 0)
                return bad(r, prefix, "file without a valid length");
            if (len->i > 0 && (!root || root->kind != FERRY_B_STR || root->len != 32))
                return bad(r, prefix, "file without a 32-byte pieces root");
            int rc = add_file(r, prefix, (uint64_t)len->i, len->i > 0 ? root->s : NULL, 0);
            if (rc) return rc;
            continue;
        }
        if (!comp_ok(k->s, k->len) || plen + k->len + 2 > 4096)
            return bad(r, prefix[0] ? prefix : NULL,
                       "unsafe path in the file tree (empty, '.', '..', a separator or too long)");
        size_t nl = plen + (plen ? 1 : 0) + k->len;
        if (plen) prefix[plen] = '/';
        memcpy(prefix + plen + (plen ? 1 : 0), k->s, k->len);
        prefix[nl] = 0;
        int rc = walk_tree(r, v, prefix, nl, depth + 1);
        prefix[plen] = 0;
        if (rc) return rc;
    }
    return 0;
}

/* The root a piece layer of n hashes gives, padded with zero-piece roots. */
static int layer_root(const uint8_t *layer, uint64_t n, uint64_t piece, uint8_t out[32])
{
    uint8_t pad[32], *h = malloc(32 * n);
    if (!h) return -1;
    memcpy(h, layer, 32 * n);
    ferry_merkle_zero(piece / LEAF, pad);
    ferry_merkle_fold(h, n, ferry_pow2_at_least(n), pad, out);
    free(h);
    return 0;
}

static int v1_files(struct rd *r, const struct ferry_bnode *files, uint64_t *total)
{
    if (files->kind != FERRY_B_LIST || files->n == 0)
        return bad(r, NULL, "'files' is not a non-empty list");
    char path[4096];
    for (size_t i = 0; i < files->n; i++) {
        const struct ferry_bnode *f = &files->items[i];
        const struct ferry_bnode *len = ferry_bdict_get(f, "length");
        const struct ferry_bnode *pl = ferry_bdict_get(f, "path");
        const struct ferry_bnode *attr = ferry_bdict_get(f, "attr");
        if (!len || len->kind != FERRY_B_INT || len->i < 0 || !pl || pl->kind != FERRY_B_LIST ||
            !pl->n)
            return bad(r, NULL, "a 'files' entry without a valid length and path");
        size_t pn = 0;
        for (size_t k = 0; k < pl->n; k++) {
            const struct ferry_bnode *c = &pl->items[k];
            if (c->kind != FERRY_B_STR || !comp_ok(c->s, c->len) || pn + c->len + 2 > sizeof(path))
                return bad(r, NULL,
                           "unsafe path in 'files' (empty, '.', '..', a separator or too long)");
            if (pn) path[pn++] = '/';
            memcpy(path + pn, c->s, c->len);
            pn += c->len;
        }
        path[pn] = 0;
        if ((uint64_t)len->i > UINT64_MAX / 2 - *total) return bad(r, path, "lengths overflow");
        *total += (uint64_t)len->i;
        int pad = attr && attr->kind == FERRY_B_STR && memchr(attr->s, 'p', attr->len);
        int rc = add_file(r, path, (uint64_t)len->i, NULL, pad);
        if (rc) return rc;
    }
    return 0;
}

static int parse(const uint8_t *p, size_t n, const char *what, struct ferry_torrent_info *t,
                 int need_layers, struct ferry_error *err)
{
    memset(t, 0, sizeof(*t));
    struct rd r = {what, err, t, 0};
    struct ferry_bnode *root = NULL;
    int rc = ferry_bdecode(p, n, what, &root, err);
    if (rc) return rc;
    const struct ferry_bnode *info = ferry_bdict_get(root, "info");
    const struct ferry_bnode *name = ferry_bdict_get(info, "name");
    const struct ferry_bnode *pl = ferry_bdict_get(info, "piece length");
    const struct ferry_bnode *mv = ferry_bdict_get(info, "meta version");
    const struct ferry_bnode *tree = ferry_bdict_get(info, "file tree");
    const struct ferry_bnode *pieces = ferry_bdict_get(info, "pieces");
    const struct ferry_bnode *files = ferry_bdict_get(info, "files");
    const struct ferry_bnode *length = ferry_bdict_get(info, "length");
    char path[4096] = "";
    if (!info || info->kind != FERRY_B_DICT) {
        rc = bad(&r, NULL, "no info dictionary");
        goto out;
    }
    if (!name || name->kind != FERRY_B_STR || !comp_ok(name->s, name->len)) {
        rc = bad(&r, "name", "missing or unsafe name (empty, '.', '..' or a separator)");
        goto out;
    }
    if (!pl || pl->kind != FERRY_B_INT || pl->i < (int64_t)LEAF || pl->i > (1ll << 30) ||
        pl->i % LEAF) {
        rc = bad(&r, "piece length", "piece length is not a multiple of 16 KiB up to 1 GiB");
        goto out;
    }
    t->piece_size = (uint64_t)pl->i;
    if (mv && (mv->kind != FERRY_B_INT || mv->i != 2)) {
        rc = bad(&r, "meta version", "unsupported meta version (only 2 is defined)");
        goto out;
    }
    t->v2 = mv && tree;
    t->v1 = pieces != NULL;
    if (!t->v1 && !t->v2) {
        rc = bad(&r, NULL, "neither v1 pieces nor a v2 file tree");
        goto out;
    }
    if (mv && !tree) {
        rc = bad(&r, "file tree", "meta version 2 without a file tree");
        goto out;
    }
    if (!(t->name = strndup((const char *)name->s, name->len))) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, what, FERRY_NO_OFFSET, NULL, "oom");
        goto out;
    }
    uint8_t md[32];
    SHA1(info->s, info->raw_len, t->btih);
    SHA256(info->s, info->raw_len, md);
    memcpy(t->btmh, md, 32);
    if (t->v2) {
        if ((rc = walk_tree(&r, tree, path, 0, 0))) goto out;
        if (!t->nfiles) {
            rc = bad(&r, "file tree", "empty file tree");
            goto out;
        }
        /* a single-file v2 torrent is {name: {"": ...}} with the name equal to info's */
        t->single = t->nfiles == 1 && !strchr(t->files[0].path, '/') &&
                    strlen(t->files[0].path) == name->len &&
                    !memcmp(t->files[0].path, name->s, name->len) && (!t->v1 || length);
        const struct ferry_bnode *layers = ferry_bdict_get(root, "piece layers");
        uint64_t npieces = 0;
        for (size_t i = 0; i < t->nfiles; i++) {
            const struct ferry_torrent_file *f = &t->files[i];
            uint64_t cnt = (f->size + t->piece_size - 1) / t->piece_size;
            npieces += cnt;
            if (t->piece_size & (t->piece_size - 1)) {
                rc = bad(&r, "piece length", "a v2 piece length must be a power of two");
                goto out;
            }
            if (cnt <= 1 || !need_layers) continue;
            const struct ferry_bnode *layer = NULL;
            for (size_t k = 0; layers && layers->kind == FERRY_B_DICT && k + 1 < layers->n; k += 2)
                if (layers->items[k].len == 32 && !memcmp(layers->items[k].s, f->root, 32))
                    layer = &layers->items[k + 1];
            uint8_t got[32];
            if (!layer || layer->kind != FERRY_B_STR || layer->len != 32 * cnt) {
                rc = bad(&r, f->path, "piece layer missing or of the wrong length");
                goto out;
            }
            if (layer_root(layer->s, cnt, t->piece_size, got)) {
                rc = ferry_error_set(err, FERRY_EINTERNAL, what, FERRY_NO_OFFSET, NULL, "oom");
                goto out;
            }
            if (memcmp(got, f->root, 32)) {
                rc = bad(&r, f->path, "piece layer does not hash to the file's pieces root");
                goto out;
            }
        }
        t->pieces = npieces;
    }
    if (t->v1) {
        uint64_t total = 0;
        size_t v2n = t->nfiles;
        struct ferry_torrent_file *v2files = t->files;
        t->files = NULL, t->nfiles = 0, r.cap = 0;
        if (files && !length)
            rc = v1_files(&r, files, &total);
        else if (length && !files && length->kind == FERRY_B_INT && length->i >= 0) {
            total = (uint64_t)length->i;
            snprintf(path, sizeof(path), "%s", t->name);
            rc = add_file(&r, path, total, NULL, 0);
            t->single = 1;
        } else
            rc = bad(&r, NULL, "info needs exactly one of 'files' and 'length'");
        if (!rc && (pieces->kind != FERRY_B_STR || pieces->len % 20 ||
                    pieces->len / 20 != (total + t->piece_size - 1) / t->piece_size))
            rc = bad(&r, "pieces", "v1 piece hashes do not match the total length");
        if (!rc && v2files) { /* hybrid: the v1 files, pads aside, are the v2 files in order */
            size_t k = 0;
            for (size_t i = 0; !rc && i < t->nfiles; i++) {
                if (t->files[i].pad) continue;
                if (k >= v2n || strcmp(t->files[i].path, v2files[k].path) ||
                    t->files[i].size != v2files[k].size)
                    rc = bad(&r, t->files[i].path, "v1 and v2 file lists disagree");
                else if (v2files[k].has_root)
                    memcpy(t->files[i].root, v2files[k].root, 32), t->files[i].has_root = 1;
                k++;
            }
            if (!rc && k != v2n) rc = bad(&r, NULL, "v1 and v2 file lists disagree");
        }
        for (size_t i = 0; i < v2n; i++) free(v2files[i].path);
        free(v2files);
        if (rc) goto out;
        t->pieces = pieces->len / 20;
    }
    /* sources */
    const struct ferry_bnode *ul = ferry_bdict_get(root, "url-list");
    const struct ferry_bnode *ann = ferry_bdict_get(root, "announce");
    const struct ferry_bnode *al = ferry_bdict_get(root, "announce-list");
    size_t nu = ul ? (ul->kind == FERRY_B_LIST ? ul->n : 1) : 0;
    t->web_seeds = calloc(nu + 1, sizeof(char *));
    for (size_t i = 0; t->web_seeds && i < nu; i++) {
        const struct ferry_bnode *u = ul->kind == FERRY_B_LIST ? &ul->items[i] : ul;
        if (u->kind == FERRY_B_STR && u->len)
            t->web_seeds[t->nweb_seeds++] = strndup((const char *)u->s, u->len);
    }
    size_t na = (ann ? 1 : 0);
    for (size_t i = 0; al && al->kind == FERRY_B_LIST && i < al->n; i++)
        na += al->items[i].kind == FERRY_B_LIST ? al->items[i].n : 0;
    t->trackers = calloc(na + 1, sizeof(char *));
    if (t->trackers && ann && ann->kind == FERRY_B_STR)
        t->trackers[t->ntrackers++] = strndup((const char *)ann->s, ann->len);
    for (size_t i = 0; t->trackers && al && al->kind == FERRY_B_LIST && i < al->n; i++)
        for (size_t k = 0; al->items[i].kind == FERRY_B_LIST && k < al->items[i].n; k++) {
            const struct ferry_bnode *u = &al->items[i].items[k];
            int dup = 0;
            for (size_t q = 0; q < t->ntrackers; q++)
                dup |= strlen(t->trackers[q]) == u->len && !memcmp(t->trackers[q], u->s, u->len);
            if (u->kind == FERRY_B_STR && u->len && !dup)
                t->trackers[t->ntrackers++] = strndup((const char *)u->s, u->len);
        }
out:
    ferry_bnode_free(root);
    if (rc) ferry_torrent_info_free(t);
    return rc;
}

int ferry_torrent_parse(const uint8_t *p, size_t n, const char *what, struct ferry_torrent_info *t,
                        struct ferry_error *err)
{
    return parse(p, n, what, t, 1, err);
}

int ferry_torrent_parse_metadata(const uint8_t *p, size_t n, const char *what,
                                 struct ferry_torrent_info *t, struct ferry_error *err)
{
    return parse(p, n, what, t, 0, err);
}

int ferry_torrent_load(const char *path, struct ferry_torrent_info *t, struct ferry_error *err)
{
    struct ferry_map map;
    memset(t, 0, sizeof(*t));
    int rc = ferry_map_open(&map, path, err);
    if (rc) return rc;
    if (map.size > FERRY_TORRENT_HARD_BYTES) /* libtorrent's limit too */
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                             "%" PRIu64 " bytes is too large for a .torrent (at most %u)",
                             (uint64_t)map.size, FERRY_TORRENT_HARD_BYTES);
    else
        rc = ferry_torrent_parse(map.data, (size_t)map.size, path, t, err);
    ferry_map_close(&map);
    return rc;
}

void ferry_torrent_info_free(struct ferry_torrent_info *t)
{
    for (size_t i = 0; i < t->nfiles; i++) free(t->files[i].path);
    for (size_t i = 0; i < t->nweb_seeds; i++) free(t->web_seeds[i]);
    for (size_t i = 0; i < t->ntrackers; i++) free(t->trackers[i]);
    free(t->files), free(t->web_seeds), free(t->trackers), free(t->name);
    memset(t, 0, sizeof(*t));
}

static void put_escaped(FILE *f, const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            fputc(*p, f);
        else
            fprintf(f, "%%%02X", *p);
}

char *ferry_torrent_magnet(const struct ferry_torrent_info *t)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f) return NULL;
    char hex[65];
    fputs("magnet:?", f);
    if (t->v1) {
        ferry_hex(t->btih, 20, hex);
        fprintf(f, "xt=urn:btih:%s", hex);
    }
    if (t->v2) {
        ferry_hex(t->btmh, 32, hex);
        fprintf(f, "%sxt=urn:btmh:1220%s", t->v1 ? "&" : "", hex);
    }
    fputs("&dn=", f);
    put_escaped(f, t->name);
    for (size_t i = 0; i < t->ntrackers; i++) {
        fputs("&tr=", f);
        put_escaped(f, t->trackers[i]);
    }
    for (size_t i = 0; i < t->nweb_seeds; i++) {
        fputs("&ws=", f);
        put_escaped(f, t->web_seeds[i]);
    }
    if (fclose(f)) {
        free(s);
        return NULL;
    }
    return s;
}
