/* Importance matrices computed with the forward pass (include/ferry/imatrix.h), as
 * llama-imatrix computes them: the text cut into chunks of the context length, each evaluated
 * from position 0 with BOS first, and every weight's input squared and summed per column. */
#include "ferry/imatrix.h"
#include "ferry/model.h"

#include <stdlib.h>
#include <string.h>

void ferry_imatrix_acc_free(struct ferry_imatrix_acc *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->e[i].name);
        free(a->e[i].sums);
    }
    free(a->e);
    free(a);
}

/* the entry of a weight, made on first sight; NULL when out of memory */
static struct ferry_imatrix_sums *entry(struct ferry_imatrix_acc *a, const char *name,
                                        uint64_t cols)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->e[i].name, name)) return a->e[i].n == cols ? &a->e[i] : NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        struct ferry_imatrix_sums *e = realloc(a->e, cap * sizeof(*e));
        if (!e) return NULL;
        a->e = e, a->cap = cap;
    }
    struct ferry_imatrix_sums *e = &a->e[a->n];
    memset(e, 0, sizeof(*e));
    e->name = strdup(name);
    e->sums = calloc(cols ? cols : 1, sizeof(double));
    if (!e->name || !e->sums) {
        free(e->name);
        free(e->sums);
        return NULL;
    }
    e->n = cols;
    a->n++;
    return e;
}

/* the model's observer: llama-imatrix takes matrix products of 16 tokens or more over the
 * blocks' weights (output.weight only on request, which ferry does not offer) */
static void observe(void *ctx, const char *weight, const float *x, uint32_t T, uint64_t cols)
{
    struct ferry_imatrix_acc *a = ctx;
    if (T < 16 || strncmp(weight, "blk.", 4)) return;
    struct ferry_imatrix_sums *e = entry(a, weight, cols);
    if (!e) {
        a->failed = 1;
        return;
    }
    for (uint32_t t = 0; t < T; t++) {
        const float *row = x + (size_t)t * cols;
        for (uint64_t j = 0; j < cols; j++) e->sums[j] += (double)row[j] * row[j];
    }
    e->count += T;
}

int ferry_imatrix_compute(struct ferry_model *m, const int32_t *tokens, size_t ntokens, int32_t bos,
                          uint32_t ctx, uint32_t max_chunks,
                          void (*progress)(void *pctx, uint32_t done, uint32_t chunks), void *pctx,
                          struct ferry_imatrix_acc **out, struct ferry_error *err)
{
    *out = NULL;
    uint32_t n_ctx = ferry_model_get_info(m)->n_ctx_alloc;
    if (ctx < 16 || ctx > n_ctx)
        return ferry_error_set(err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL,
                               "a context of %u tokens: it must be 16 to %u", ctx, n_ctx);
    if (ntokens < 2 * (size_t)ctx)
        return ferry_error_set(err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL,
                               "the text has %zu tokens: at least %u (two chunks of %u) are needed",
                               ntokens, 2 * ctx, ctx);
    uint32_t chunks = (uint32_t)(ntokens / ctx);
    if (max_chunks && max_chunks < chunks) chunks = max_chunks;
    struct ferry_imatrix_acc *a = calloc(1, sizeof(*a));
    int32_t *w = malloc((size_t)ctx * sizeof(*w));
    float *logits = malloc((size_t)ferry_model_get_info(m)->n_vocab * sizeof(float));
    int rc = a && w && logits
                 ? 0
                 : ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
    if (!rc) {
        a->chunk_size = ctx;
        ferry_model_set_observer(m, observe, a);
    }
    for (uint32_t c = 0; !rc && c < chunks; c++) {
        memcpy(w, tokens + (size_t)c * ctx, (size_t)ctx * sizeof(*w));
        if (bos >= 0) w[0] = bos;
        rc = ferry_model_eval(m, w, ctx, 0, logits, 0, err);
        if (!rc && a->failed)
            rc = ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
        if (!rc) a->chunks = (int32_t)(c + 1);
        if (!rc && progress) progress(pctx, c + 1, chunks);
    }
    ferry_model_set_observer(m, NULL, NULL);
    free(w);
    free(logits);
    if (rc) {
        ferry_imatrix_acc_free(a);
        return rc;
    }
    *out = a;
    return 0;
}
