/* ferry diff's library part: both sides opened as Llama models (any layout) when they are
 * ones, else as plain tensor dictionaries; every common tensor compared as float32 rows. */
#include "ferry/pool.h"
#include "ferry/diff.h"
#include "ferry/ckpt.h"
#include "ferry/quant.h"
#include "llama.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ferry_diff_report_free(struct ferry_diff_report *r)
{
    free(r->e);
    memset(r, 0, sizeof(*r));
}

/* A side: either a plan of a Llama model or a plain checkpoint wrapped as one-part plans. */
struct side {
    struct ferry_llama m;
    struct ferry_ckpt ck;
    int model;
    struct ferry_plan_tensor *t;
    uint64_t nt;
};

static int open_side(struct side *s, const char *path, int try_model, struct ferry_error *err)
{
    memset(s, 0, sizeof(*s));
    struct ferry_error e;
    ferry_error_clear(&e);
    if (try_model && ferry_llama_open(&s->m, path, &e) == 0) {
        s->model = 1;
        s->t = s->m.t;
        s->nt = s->m.nt;
        return 0;
    }
    ferry_llama_close(&s->m);
    ferry_ckpt_init(&s->ck);
    int rc = ferry_ckpt_open(&s->ck, path, err);
    if (rc) return rc;
    s->t = calloc(s->ck.ntensors + 1, sizeof(*s->t));
    if (!s->t) return ferry_error_set(err, FERRY_EINTERNAL, path, FERRY_NO_OFFSET, NULL, "oom");
    for (uint64_t i = 0; i < s->ck.ntensors; i++) {
        const struct ferry_tensor *t = &s->ck.tensors[i];
        struct ferry_plan_tensor *p = &s->t[s->nt];
        if (!ferry_can_read(t->dtype))
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, t->name,
                                 "ferry cannot dequantize %s", ferry_dtype_name(t->dtype));
        else if (strlen(t->name) >= sizeof(p->name))
            rc = ferry_error_set(err, FERRY_EMALFORMED, path, FERRY_NO_OFFSET, NULL,
                                 "tensor name of %zu bytes is longer than ferry compares",
                                 strlen(t->name));
        if (rc) {
            free(s->t);
            ferry_ckpt_free(&s->ck);
            return rc;
        }
        snprintf(p->name, sizeof(p->name), "%s", t->name);
        p->ndim = t->ndim;
        for (uint32_t d = 0; d < t->ndim && d < 4; d++) p->shape[d] = t->shape[d];
        p->cols = t->ndim ? t->shape[t->ndim - 1] : 1;
        p->rows = p->cols ? t->nelem / p->cols : 0;
        p->parts[0].t = t;
        p->nparts = 1;
        s->nt++;
    }
    return 0;
}

static void close_side(struct side *s)
{
    if (s->model)
        ferry_llama_close(&s->m);
    else {
        free(s->t);
        ferry_ckpt_free(&s->ck);
    }
}

static const struct ferry_plan_tensor *find(const struct side *s, const char *name)
{
    for (uint64_t i = 0; i < s->nt; i++)
        if (!strcmp(s->t[i].name, name)) return &s->t[i];
    return NULL;
}

static enum ferry_dtype dtype_of(const struct ferry_plan_tensor *p)
{
    return p->generated ? FERRY_DT_F32 : p->parts[0].t->dtype;
}

struct work {
    const struct side *a, *b;
    struct ferry_diff_entry *e;
    const struct ferry_plan_tensor **pa, **pb;
    uint64_t n;
    atomic_uint_fast64_t next;
    atomic_int failed;
    struct ferry_error err;
    pthread_mutex_t lock;
};

static int compare(const struct work *w, uint64_t k, struct ferry_error *err)
{
    const struct ferry_plan_tensor *pa = w->pa[k], *pb = w->pb[k];
    struct ferry_diff_entry *e = &w->e[k];
    uint64_t cols = pa->cols;
    float *ra = malloc(cols * sizeof(float)), *rb = malloc(cols * sizeof(float));
    uint8_t *sa = malloc(ferry_llama_source_row_bytes(pa) + 1),
            *sb = malloc(ferry_llama_source_row_bytes(pb) + 1);
    int rc = ra && rb && sa && sb
                 ? 0
                 : ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, e->name, "oom");
    for (uint64_t r = 0; !rc && r < pa->rows; r++) {
        if ((rc = ferry_llama_read_row(&w->a->m, pa, r, ra, sa, err)) ||
            (rc = ferry_llama_read_row(&w->b->m, pb, r, rb, sb, err)))
            break;
        for (uint64_t c = 0; c < cols; c++) {
            uint32_t x, y;
            memcpy(&x, &ra[c], 4);
            memcpy(&y, &rb[c], 4);
            if (x == y) continue;
            e->ndiff++;
            double d = fabs((double)ra[c] - (double)rb[c]);
            if (isnan(d)) d = INFINITY;
            double m = fmax(fabs((double)ra[c]), fabs((double)rb[c]));
            if (d > e->max_abs) e->max_abs = d;
            if (m > 0 && d / m > e->max_rel) e->max_rel = d / m;
        }
    }
    e->status = e->ndiff ? FERRY_DIFF_DIFFERENT : FERRY_DIFF_IDENTICAL;
    free(ra), free(rb), free(sa), free(sb);
    return rc;
}

static void worker(void *arg, unsigned self, unsigned nthreads)
{
    (void)self, (void)nthreads; /* every thread takes items from the shared queue */
    struct work *w = arg;
    struct ferry_error e;
    for (;;) {
        uint64_t k = atomic_fetch_add(&w->next, 1);
        if (k >= w->n || atomic_load(&w->failed)) break;
        if (!w->pa[k]) continue;
        ferry_error_clear(&e);
        if (compare(w, k, &e)) {
            pthread_mutex_lock(&w->lock);
            if (!atomic_exchange(&w->failed, 1)) w->err = e;
            pthread_mutex_unlock(&w->lock);
        }
    }
    return;
}

int ferry_diff(const char *a, const char *b, unsigned threads, struct ferry_diff_report *r,
               struct ferry_error *err)
{
    memset(r, 0, sizeof(*r));
    struct side sa, sb;
    int rc = open_side(&sa, a, 1, err);
    if (rc) return rc;
    if ((rc = open_side(&sb, b, sa.model, err))) {
        close_side(&sa);
        return rc;
    }
    if (sa.model != sb.model) { /* compare like with like */
        close_side(&sa);
        if ((rc = open_side(&sa, a, 0, err))) {
            close_side(&sb);
            return rc;
        }
    }
    r->model = sa.model;
    uint64_t cap = sa.nt + sb.nt + 1;
    r->e = calloc(cap, sizeof(*r->e));
    struct work w = {.a = &sa, .b = &sb, .e = r->e};
    w.pa = calloc(cap, sizeof(*w.pa));
    w.pb = calloc(cap, sizeof(*w.pb));
    if (!r->e || !w.pa || !w.pb) {
        rc = ferry_error_set(err, FERRY_EINTERNAL, NULL, FERRY_NO_OFFSET, NULL, "oom");
        goto out;
    }
    for (uint64_t i = 0; i < sa.nt; i++) {
        const struct ferry_plan_tensor *pa = &sa.t[i], *pb = find(&sb, pa->name);
        struct ferry_diff_entry *e = &r->e[r->n];
        snprintf(e->name, sizeof(e->name), "%s", pa->name);
        e->a = dtype_of(pa);
        e->nelem = pa->rows * pa->cols;
        if (!pb)
            e->status = FERRY_DIFF_ONLY_A;
        else {
            e->b = dtype_of(pb);
            if (pa->rows != pb->rows || pa->cols != pb->cols)
                e->status = FERRY_DIFF_SHAPE;
            else
                w.pa[r->n] = pa, w.pb[r->n] = pb;
        }
        r->n++;
    }
    for (uint64_t i = 0; i < sb.nt; i++)
        if (!find(&sa, sb.t[i].name)) {
            struct ferry_diff_entry *e = &r->e[r->n++];
            snprintf(e->name, sizeof(e->name), "%s", sb.t[i].name);
            e->status = FERRY_DIFF_ONLY_B;
            e->b = dtype_of(&sb.t[i]);
        }
    w.n = r->n;
    atomic_init(&w.next, 0);
    atomic_init(&w.failed, 0);
    pthread_mutex_init(&w.lock, NULL);
    if (!threads) threads = 1;
    ferry_parallel(threads < 64 ? threads : 64, worker, &w);
    pthread_mutex_destroy(&w.lock);
    if (atomic_load(&w.failed)) {
        if (err) *err = w.err;
        rc = w.err.code ? w.err.code : FERRY_EINTERNAL;
    }
out:
    free(w.pa);
    free(w.pb);
    close_side(&sa);
    close_side(&sb);
    if (rc) ferry_diff_report_free(r);
    return rc;
}
