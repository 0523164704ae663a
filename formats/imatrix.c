/* Importance matrix files (include/ferry/imatrix.h): the GGUF imatrix through the GGUF reader,
 * the legacy .dat parsed here with every length checked against the file, both normalised the
 * way llama-quantize does before it hands the values to the quantizers. */
#include "ferry/imatrix.h"
#include "ferry/ckpt.h"
#include "ferry/gguf.h"
#include "ferry/file.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES (1u << 20)

void ferry_imatrix_free(struct ferry_imatrix *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->entries[i].name);
        free(m->entries[i].values);
    }
    free(m->entries);
    free(m->dataset);
    free(m);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct ferry_imatrix_entry *)a)->name,
                  ((const struct ferry_imatrix_entry *)b)->name);
}

const struct ferry_imatrix_entry *ferry_imatrix_find(const struct ferry_imatrix *m,
                                                     const char *name)
{
    if (!m || !m->n) return NULL;
    struct ferry_imatrix_entry key = {.name = (char *)name};
    return bsearch(&key, m->entries, m->n, sizeof(key), by_name);
}

static int contains_any(const char *name, const char *const *subs, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (strstr(name, subs[k])) return 1;
    return 0;
}

void ferry_imatrix_filter(struct ferry_imatrix *m, const char *const *include, size_t ninclude,
                          const char *const *exclude, size_t nexclude)
{
    size_t kept = 0;
    for (size_t i = 0; i < m->n; i++) {
        struct ferry_imatrix_entry *e = &m->entries[i];
        int keep = !contains_any(e->name, exclude, nexclude) &&
                   (!ninclude || contains_any(e->name, include, ninclude));
        if (keep) {
            m->entries[kept++] = *e;
        } else {
            free(e->name);
            free(e->values);
        }
    }
    m->n = kept;
}

/* a new entry named name (len bytes) with n values, or NULL (out of memory) */
static struct ferry_imatrix_entry *add_entry(struct ferry_imatrix *m, const char *name, size_t len,
                                             uint64_t n)
{
    struct ferry_imatrix_entry *e = &m->entries[m->n];
    e->name = malloc(len + 1);
    e->values = malloc(n * sizeof(float));
    if (!e->name || !e->values) {
        free(e->name);
        free(e->values);
        return NULL;
    }
    memcpy(e->name, name, len);
    e->name[len] = 0;
    e->n = n;
    m->n++;
    return e;
}

/* sorted, no name twice, every value finite (llama-quantize refuses non-finite weights) */
static int finish(struct ferry_imatrix *m, const char *path, struct ferry_error *err)
{
    if (!m->n)
        return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                               "no importance matrix entries in the file");
    qsort(m->entries, m->n, sizeof(*m->entries), by_name);
    for (size_t i = 0; i < m->n; i++) {
        const struct ferry_imatrix_entry *e = &m->entries[i];
        if (i && !strcmp(e->name, m->entries[i - 1].name))
            return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, e->name,
                                   "the entry appears twice");
        for (uint64_t j = 0; j < e->n; j++)
            if (!isfinite(e->values[j]))
                return ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, e->name,
                                       "value %llu is not finite (%g)", (unsigned long long)j,
                                       (double)e->values[j]);
    }
    return 0;
}

/* A bounded reader over the legacy file: every read checks the bytes are there. */
struct cur {
    const uint8_t *p;
    uint64_t size, off;
};

static int take(struct cur *c, void *dst, uint64_t n)
{
    if (n > c->size - c->off) return -1;
    memcpy(dst, c->p + c->off, n);
    c->off += n;
    return 0;
}

static int load_legacy(struct ferry_imatrix *m, const struct ferry_map *f, struct ferry_error *err)
{
    struct cur c = {f->data, f->size, 0};
    const char *path = f->path;
    int32_t n_entries;
    if (take(&c, &n_entries, 4) || n_entries < 1)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL,
                               "not an importance matrix: no GGUF magic and no entry count");
    if ((uint32_t)n_entries > MAX_ENTRIES || (uint64_t)n_entries * 13 > f->size)
        return ferry_error_set(err, FERRY_EMALFORMED, path, 0, NULL,
                               "%d entries cannot fit in a file of %llu bytes", n_entries,
                               (unsigned long long)f->size);
    m->entries = calloc((size_t)n_entries, sizeof(*m->entries));
    if (!m->entries)
        return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    for (int32_t i = 0; i < n_entries; i++) {
        uint64_t at = c.off;
        int32_t len, ncall, nval;
        if (take(&c, &len, 4) || len < 1 || (uint64_t)len > c.size - c.off)
            return ferry_error_set(err, FERRY_EMALFORMED, path, at, NULL,
                                   "entry %d: name length runs past the end of the file", i);
        const char *name = (const char *)c.p + c.off;
        c.off += (uint64_t)len;
        if (memchr(name, 0, (size_t)len))
            return ferry_error_set(err, FERRY_EMALFORMED, path, at, NULL,
                                   "entry %d: the name holds a NUL byte", i);
        at = c.off;
        if (take(&c, &ncall, 4) || take(&c, &nval, 4) || nval < 1 ||
            (uint64_t)nval * 4 > c.size - c.off)
            return ferry_error_set(err, FERRY_EMALFORMED, path, at, NULL,
                                   "entry %d: value count runs past the end of the file", i);
        struct ferry_imatrix_entry *e = add_entry(m, name, (size_t)len, (uint64_t)nval);
        if (!e)
            return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL,
                                   "out of memory");
        take(&c, e->values, (uint64_t)nval * 4);
        /* the sums were divided by the call count at each call and multiplied back by it:
         * divide once more, as llama-quantize does */
        if (ncall > 0)
            for (int32_t j = 0; j < nval; j++) e->values[j] = e->values[j] / (float)ncall;
    }
    int32_t chunks, dlen; /* optional trailer: chunk count and the dataset's name */
    if (!take(&c, &chunks, 4)) {
        m->chunk_count = chunks;
        if (!take(&c, &dlen, 4) && dlen > 0) {
            if ((uint64_t)dlen > c.size - c.off)
                return ferry_error_set(err, FERRY_EMALFORMED, path, c.off - 4, NULL,
                                       "dataset name runs past the end of the file");
            m->dataset = strndup((const char *)c.p + c.off, (size_t)dlen);
            if (!m->dataset)
                return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL,
                                       "out of memory");
        }
    }
    m->legacy = 1;
    return finish(m, path, err);
}

static const struct ferry_kv *key(const struct ferry_ckpt *ck, const char *k, const char *path,
                                  struct ferry_error *err)
{
    const struct ferry_kv *kv = ferry_ckpt_find_kv(ck, k);
    if (!kv)
        ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, k,
                        "no %s: not an importance matrix as llama-imatrix writes it", k);
    return kv;
}

static int ends_with(const char *s, size_t len, const char *suffix, size_t *stem)
{
    size_t n = strlen(suffix);
    if (len <= n || memcmp(s + len - n, suffix, n)) return 0;
    *stem = len - n;
    return 1;
}

static int load_gguf(struct ferry_imatrix *m, const char *path, struct ferry_error *err)
{
    struct ferry_ckpt ck;
    ferry_ckpt_init(&ck);
    int rc = ferry_gguf_read(&ck, path, err);
    if (rc) goto out;
    const struct ferry_kv *ds = key(&ck, "imatrix.datasets", path, err),
                          *cc = ds ? key(&ck, "imatrix.chunk_count", path, err) : NULL,
                          *cs = cc ? key(&ck, "imatrix.chunk_size", path, err) : NULL;
    int64_t chunks = 0, size = 0;
    if (!cs) {
        rc = err ? err->code : FERRY_EMALFORMED;
        goto out;
    }
    if (ferry_value_as_i64(&cc->val, &chunks) || ferry_value_as_i64(&cs->val, &size) ||
        chunks < 0 || chunks > INT32_MAX) {
        rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, "imatrix.chunk_count",
                             "the chunk count and size must be integers");
        goto out;
    }
    m->chunk_count = (int32_t)chunks;
    if (ds->val.type == FERRY_V_ARRAY && ds->val.elem_type == FERRY_V_STRING && ds->val.count) {
        const struct ferry_str *s = ds->val.arr;
        if (!(m->dataset = strndup(s[0].s, (size_t)s[0].len))) {
            rc =
                ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
            goto out;
        }
    }
    m->entries = calloc(ck.ntensors ? ck.ntensors : 1, sizeof(*m->entries));
    if (!m->entries) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < ck.ntensors; i++) {
        const struct ferry_tensor *sums = &ck.tensors[i];
        size_t len = strlen(sums->name), stem;
        if (!ends_with(sums->name, len, ".in_sum2", &stem)) {
            if (ends_with(sums->name, len, ".counts", &stem)) {
                char want[300];
                snprintf(want, sizeof(want), "%.*s.in_sum2", (int)stem, sums->name);
                if (!ferry_ckpt_find_tensor(&ck, want)) {
                    rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, sums->name,
                                         "counts without the sums %s", want);
                    goto out;
                }
            }
            continue;
        }
        char cname[300];
        snprintf(cname, sizeof(cname), "%.*s.counts", (int)stem, sums->name);
        const struct ferry_tensor *counts = ferry_ckpt_find_tensor(&ck, cname);
        if (!counts || sums->dtype != FERRY_DT_F32 || counts->dtype != FERRY_DT_F32 ||
            !counts->nelem || sums->nelem % counts->nelem) {
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, sums->name,
                                 !counts ? "sums without the counts %s"
                                 : sums->dtype != FERRY_DT_F32 || counts->dtype != FERRY_DT_F32
                                     ? "sums and counts (%s) must be F32"
                                     : "the sums are not a whole number of rows of %s",
                                 cname);
            goto out;
        }
        struct ferry_imatrix_entry *e = add_entry(m, sums->name, stem, sums->nelem);
        if (!e) {
            rc =
                ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
            goto out;
        }
        /* one count per expert: each row of sums divided by its count (counts are whole
         * token numbers stored as floats), 1 where nothing was seen */
        uint64_t ne0 = sums->nelem / counts->nelem;
        for (uint64_t j = 0; j < counts->nelem; j++) {
            float cnt, v;
            memcpy(&cnt, counts->data + 4 * j, 4);
            if (!(fabsf(cnt) < 1e15f)) {
                rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, cname,
                                     "count %llu is not a token count (%g)", (unsigned long long)j,
                                     (double)cnt);
                goto out;
            }
            float count = (float)lroundf(cnt);
            for (uint64_t k = 0; k < ne0; k++) {
                memcpy(&v, sums->data + 4 * (j * ne0 + k), 4);
                e->values[j * ne0 + k] = count > 0.0f ? v / count : 1.0f;
            }
        }
    }
    rc = finish(m, path, err);
out:
    ferry_ckpt_free(&ck);
    return rc;
}

int ferry_imatrix_load(const char *path, struct ferry_imatrix **out, struct ferry_error *err)
{
    *out = NULL;
    struct ferry_imatrix *m = calloc(1, sizeof(*m));
    if (!m)
        return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "out of memory");
    struct ferry_map f;
    int rc = ferry_map_open(&f, path, err);
    if (rc) {
        free(m);
        return rc;
    }
    int gguf = f.size >= 4 && !memcmp(f.data, "GGUF", 4);
    rc = gguf ? 0 : load_legacy(m, &f, err);
    ferry_map_close(&f);
    if (gguf) rc = load_gguf(m, path, err);
    if (rc) {
        ferry_imatrix_free(m);
        return rc;
    }
    *out = m;
    return 0;
}
