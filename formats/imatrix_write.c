/* Writing a computed importance matrix as llama-imatrix's GGUF file (include/ferry/imatrix.h):
 * the keys llama-quantize needs, and per weight its column sums and token count. */
#include "ferry/imatrix.h"
#include "ferry/ckpt.h"
#include "ferry/gguf.h"

#include <stdlib.h>
#include <string.h>

struct source {
    const struct ferry_imatrix_sums **sorted; /* entry of tensor pair i / 2 */
    float *counts;                            /* its count as a float */
};

/* tensor 2k: the sums of entry k as floats; 2k+1: its count (the writer asks for whole
 * elements) */
static int tensor_bytes(void *ctx, uint64_t i, uint64_t off, uint64_t n, void *dst,
                        struct ferry_error *err)
{
    (void)err;
    const struct source *s = ctx;
    if (i % 2) {
        memcpy(dst, (const uint8_t *)&s->counts[i / 2] + off, n);
        return 0;
    }
    const double *sums = s->sorted[i / 2]->sums;
    for (uint64_t k = 0; k < n / 4; k++) {
        float v = (float)sums[off / 4 + k];
        memcpy((uint8_t *)dst + 4 * k, &v, 4);
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const struct ferry_imatrix_sums *const *)a)->name,
                  (*(const struct ferry_imatrix_sums *const *)b)->name);
}

static struct ferry_kv *kv(struct ferry_ckpt *ck, const char *key, enum ferry_vtype t)
{
    struct ferry_kv *k = ferry_ckpt_add_kv(ck, key, strlen(key));
    if (k) k->val.type = t;
    return k;
}

static int keys(struct ferry_ckpt *d, const struct ferry_imatrix_acc *a, const char *dataset)
{
    struct ferry_kv *type = kv(d, "general.type", FERRY_V_STRING);
    if (!type || ferry_ckpt_kv_set_string(type, "imatrix", 7)) return -1;
    struct ferry_kv *ds = kv(d, "imatrix.datasets", FERRY_V_ARRAY);
    if (!ds) return -1;
    ds->val.elem_type = FERRY_V_STRING;
    struct ferry_str *names = calloc(1, sizeof(*names));
    if (!(ds->val.arr = names)) return -1;
    if (dataset) {
        if (ferry_str_set(&names[0], dataset, strlen(dataset))) return -1;
        ds->val.count = 1;
    }
    struct ferry_kv *cc = kv(d, "imatrix.chunk_count", FERRY_V_U32),
                    *cs = cc ? kv(d, "imatrix.chunk_size", FERRY_V_U32) : NULL;
    if (!cs) return -1;
    cc->val.v.u = (uint64_t)(a->chunks > 0 ? a->chunks : 0);
    cs->val.v.u = a->chunk_size;
    return 0;
}

int ferry_imatrix_write(const char *path, const struct ferry_imatrix_acc *a, const char *dataset,
                        int force, struct ferry_error *err)
{
    struct ferry_ckpt d;
    ferry_ckpt_init(&d);
    struct source s = {calloc(a->n + 1, sizeof(*s.sorted)), calloc(a->n + 1, sizeof(float))};
    int rc = s.sorted && s.counts && !keys(&d, a, dataset)
                 ? 0
                 : ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
    for (size_t i = 0; !rc && i < a->n; i++) s.sorted[i] = &a->e[i];
    if (!rc) qsort(s.sorted, a->n, sizeof(*s.sorted), by_name);
    for (size_t i = 0; !rc && i < a->n; i++) {
        const struct ferry_imatrix_sums *e = s.sorted[i];
        s.counts[i] = (float)e->count;
        char name[300];
        for (int half = 0; !rc && half < 2; half++) {
            snprintf(name, sizeof(name), "%s.%s", e->name, half ? "counts" : "in_sum2");
            struct ferry_tensor *t = ferry_ckpt_add_tensor(&d, name, strlen(name));
            if (!t) {
                rc = ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
                break;
            }
            t->dtype = FERRY_DT_F32;
            t->ndim = 2; /* ggml's (n, 1) and (1, 1): one matrix, no experts */
            t->shape[0] = 1;
            t->shape[1] = half ? 1 : e->n;
            t->nelem = t->shape[1];
            t->nbytes = t->nelem * 4;
        }
    }
    if (!rc) rc = ferry_gguf_write(&d, path, force, tensor_bytes, &s, err);
    ferry_ckpt_free(&d);
    free(s.sorted);
    free(s.counts);
    return rc;
}
