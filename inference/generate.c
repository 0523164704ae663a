/* ferry_generate (see ferry/generate.h). */
#include "ferry/generate.h"

#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int ferry_generate(struct ferry_model *m, const int32_t *prompt, uint32_t n,
                   const struct ferry_generate_opts *o, struct ferry_generate_result *r,
                   struct ferry_error *err)
{
    *r = (struct ferry_generate_result){0};
    const struct ferry_model_info *in = ferry_model_get_info(m);
    if (n == 0)
        return ferry_error_set(err, FERRY_EUSAGE, NULL, FERRY_NO_OFFSET, NULL, "an empty prompt");
    float *logits = malloc((size_t)in->n_vocab * sizeof(float));
    r->tokens = malloc(((size_t)o->max_tokens + 1) * sizeof(int32_t));
    if (!logits || !r->tokens) {
        free(logits);
        free(r->tokens);
        r->tokens = NULL;
        return ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "out of memory");
    }
    double t0 = now();
    int rc = ferry_model_eval(m, prompt, n, 0, logits, 0, err);
    double t1 = now();
    uint32_t pos = n;
    while (!rc && r->n < o->max_tokens) {
        int32_t next = ferry_sample(o->sampler, logits, in->n_vocab);
        r->tokens[r->n++] = next;
        int stop = 0;
        for (unsigned k = 0; k < o->nstop; k++) stop |= o->stop[k] >= 0 && next == o->stop[k];
        if (stop) {
            r->why = FERRY_GEN_STOP_TOKEN;
            break;
        }
        if (o->on_token) o->on_token(o->ctx, next);
        if (r->n == o->max_tokens) break;
        if (pos >= in->n_ctx_alloc) {
            r->why = FERRY_GEN_CONTEXT_FULL;
            break;
        }
        rc = ferry_model_eval(m, &next, 1, pos++, logits, 0, err);
    }
    r->prompt_seconds = t1 - t0;
    r->gen_seconds = now() - t1;
    free(logits);
    return rc;
}
