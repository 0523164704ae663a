/* The IQ codebooks' search tables (quant_codebook.h). For every group pattern that is not a
 * codebook entry, its neighbour list holds the entries at the nwant smallest squared distances
 * (levels 2l + 1), ordered by distance, then index: what ggml gets by sorting all entries by
 * (distance, index) and keeping those up to the nwant-th distinct distance. Here the nwant
 * distances are found in one pass and the entries collected per distance in index order, the
 * same lists without a sort. Only patterns whose levels the quantizers can produce get a list:
 * the 2-bit codebooks' searches clamp levels to [0, 2], so patterns holding a 3 are never
 * looked up (their kmap value is INT_MIN). */
#include "quant_codebook.h"
#include "quant_grid.h"

#include <float.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static struct ferry_codebook books[FERRY_CB_COUNT] = {
    [FERRY_CB_IQ3XXS] = {.n = 256, .dim = 4, .bits = 3, .nwant = 2},
    [FERRY_CB_IQ3S] = {.n = 512, .dim = 4, .bits = 3, .nwant = 3},
    [FERRY_CB_IQ2XXS] = {.n = 256, .dim = 8, .bits = 2, .nwant = 2},
    [FERRY_CB_IQ2XS] = {.n = 512, .dim = 8, .bits = 2, .nwant = 2},
    [FERRY_CB_IQ2S] = {.n = 1024, .dim = 8, .bits = 2, .nwant = 1},
    [FERRY_CB_IQ1S] = {.n = 2048, .dim = 8, .bits = 2, .nwant = 3},
};
static atomic_int built[FERRY_CB_COUNT];
static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;

/* whether the 2-bit pattern u has a level 3 in it (never produced by a search) */
static int has_level3(const struct ferry_codebook *c, unsigned u)
{
    if (c->bits != 2) return 0;
    for (int k = 0; k < c->dim; k++)
        if (((u >> 2 * k) & 3) == 3) return 1;
    return 0;
}

/* the neighbours of pattern u into out (NULL: count only); dist gets every entry's distance */
static int neighbours_of(const struct ferry_codebook *c, unsigned u, int *dist, uint16_t *out)
{
    int pos[8], want[3], nhave = 0, mask = (1 << c->bits) - 1;
    for (int k = 0; k < c->dim; k++) pos[k] = 2 * (int)((u >> (c->bits * k)) & (unsigned)mask) + 1;
    for (int j = 0; j < c->n; j++) {
        const int8_t *g = c->grid + (size_t)j * (size_t)c->dim;
        int d2 = 0;
        for (int k = 0; k < c->dim; k++) d2 += (g[k] - pos[k]) * (g[k] - pos[k]);
        dist[j] = d2;
        int at = nhave; /* keep the nwant smallest distinct distances, ascending */
        while (at > 0 && want[at - 1] > d2) at--;
        if ((at > 0 && want[at - 1] == d2) || at == c->nwant) continue;
        if (nhave < c->nwant) nhave++;
        for (int m = nhave - 1; m > at; m--) want[m] = want[m - 1];
        want[at] = d2;
    }
    int count = 0;
    for (int m = 0; m < nhave; m++)
        for (int j = 0; j < c->n; j++)
            if (dist[j] == want[m]) {
                if (out) out[count] = (uint16_t)j;
                count++;
            }
    return count;
}

static int build_lanes(struct ferry_codebook *c, const uint16_t *nb, size_t total)
{
    size_t nfloat = 0;
    for (size_t at = 0; at < total; at += 1 + nb[at])
        nfloat += (nb[at] + 7u) / 8 * 8 * (size_t)c->dim;
    c->lanes = calloc(nfloat ? nfloat : 1, sizeof(float));
    c->lanes_at = malloc(total * sizeof(uint32_t));
    if (!c->lanes || !c->lanes_at || nfloat > UINT32_MAX) {
        free(c->lanes), free(c->lanes_at);
        c->lanes = NULL, c->lanes_at = NULL;
        return -1;
    }
    size_t to = 0;
    for (size_t at = 0; at < total; at += 1 + nb[at]) {
        c->lanes_at[at] = (uint32_t)to;
        size_t dim = (size_t)c->dim;
        for (size_t j = 0; j < nb[at]; j++)
            for (size_t i = 0; i < dim; i++)
                c->lanes[to + (j / 8 * dim + i) * 8 + j % 8] =
                    (float)c->grid[nb[at + 1 + j] * dim + i];
        to += (nb[at] + 7u) / 8 * 8 * (size_t)c->dim;
    }
    return 0;
}

static void build(struct ferry_codebook *c, const uint16_t *packed)
{
    size_t npat = (size_t)1 << (c->bits * c->dim), total = 0, at = 0;
    int mask = (1 << c->bits) - 1;
    int8_t *grid = malloc((size_t)c->n * (size_t)c->dim);
    int *kmap = malloc(npat * sizeof(int)), *dist = malloc((size_t)c->n * sizeof(int));
    uint16_t *nb = NULL;
    if (!grid || !kmap || !dist) goto out;
    c->grid = grid;
    for (size_t i = 0; i < npat; i++) kmap[i] = -1;
    for (int j = 0; j < c->n; j++) {
        for (int k = 0; k < c->dim; k++)
            grid[j * c->dim + k] = (int8_t)(2 * ((packed[j] >> (c->bits * k)) & mask) + 1);
        kmap[packed[j]] = j;
    }
    for (size_t u = 0; u < npat; u++)
        if (kmap[u] < 0 && !has_level3(c, (unsigned)u))
            total += 1 + (size_t)neighbours_of(c, (unsigned)u, dist, NULL);
    if (!(nb = malloc(total * sizeof(uint16_t)))) goto out;
    for (size_t u = 0; u < npat; u++) {
        if (kmap[u] >= 0) continue;
        if (has_level3(c, (unsigned)u)) {
            kmap[u] = INT_MIN;
            continue;
        }
        kmap[u] = -(int)(at + 1);
        int n = neighbours_of(c, (unsigned)u, dist, nb + at + 1);
        nb[at] = (uint16_t)n;
        at += 1 + (size_t)n;
    }
    if (build_lanes(c, nb, total)) goto out;
    c->kmap = kmap, c->neighbours = nb;
    kmap = NULL, grid = NULL, nb = NULL;
out:
    free(nb);
    if (grid) c->grid = NULL;
    free(grid);
    free(kmap);
    free(dist);
}

static const uint16_t *packed_of(enum ferry_codebook_id id)
{
    switch (id) {
    case FERRY_CB_IQ3XXS: return ferry_iq3xxs_codebook();
    case FERRY_CB_IQ3S: return ferry_iq3s_codebook();
    case FERRY_CB_IQ2XXS: return ferry_iq2xxs_codebook();
    case FERRY_CB_IQ2XS: return ferry_iq2xs_codebook();
    case FERRY_CB_IQ2S: return ferry_iq2s_codebook();
    default: return ferry_iq1s_codebook();
    }
}

const struct ferry_codebook *ferry_codebook(enum ferry_codebook_id id)
{
    struct ferry_codebook *c = &books[id];
    if (!atomic_load_explicit(&built[id], memory_order_acquire)) {
        pthread_mutex_lock(&build_lock);
        if (!atomic_load_explicit(&built[id], memory_order_relaxed)) {
            build(c, packed_of(id));
            atomic_store_explicit(&built[id], 1, memory_order_release);
        }
        pthread_mutex_unlock(&build_lock);
    }
    return c->neighbours ? c : NULL;
}

/* The searches below are written once for any group size D and sub-block size N and inlined
 * with both constant (groups of 4 levels of 3 bits, or of 8 levels of 2 bits clamped to [0, 2]),
 * so the compiler unrolls the groups as ggml's per-type copies are. */
#define INLINE static inline __attribute__((always_inline))

/* the nearest of a neighbour list at levels 2l + 1, eight distances at a time (the lanes) */
INLINE int nearest_lanes(const struct ferry_codebook *c, int map, const float *xval, const float *w,
                         float scale, const int D)
{
    const uint16_t *nb = c->neighbours - map - 1;
    const float *S = c->lanes + c->lanes_at[-map - 1];
    float best = FLT_MAX;
    int e = -1, n = nb[0];
    for (int b0 = 0; b0 < n; b0 += 8, S += 8 * D) {
        float d2[8] = {0};
        for (int i = 0; i < D; i++)
            for (int l = 0; l < 8; l++) {
                float diff = scale * S[8 * i + l] - xval[i];
                d2[l] += w[i] * diff * diff;
            }
        for (int l = 0; l < 8 && b0 + l < n; l++)
            if (d2[l] < best) best = d2[l], e = nb[1 + b0 + l];
    }
    return e;
}

/* the nearest of a neighbour list: at levels 2l + 1 through the lanes, or (IQ1) at values[l]
 * one entry at a time */
INLINE int nearest_d(const struct ferry_codebook *c, int map, const float *xval, const float *w,
                     float scale, const float *values, int8_t *L, const int D)
{
    const uint16_t *nb = c->neighbours - map - 1;
    float best = FLT_MAX;
    int e = values ? -1 : nearest_lanes(c, map, xval, w, scale, D);
    for (int j = 1; values && j <= nb[0]; j++) {
        const int8_t *g = c->grid + (size_t)nb[j] * (size_t)D;
        float d2 = 0;
        for (int i = 0; i < D; i++) {
            float diff = scale * values[(g[i] - 1) / 2] - xval[i];
            d2 += w[i] * diff * diff;
        }
        if (d2 < best) best = d2, e = nb[j];
    }
    if (e < 0) e = nb[1]; /* every distance NaN (non-finite input): ggml aborts here */
    const int8_t *g = c->grid + (size_t)e * (size_t)D;
    for (int i = 0; i < D; i++) L[i] = (int8_t)((g[i] - 1) / 2);
    return e;
}

int ferry_codebook_nearest(const struct ferry_codebook *c, int map, const float *xval,
                           const float *w, float scale, const float *values, int8_t *L)
{
    return c->dim == 8 ? nearest_d(c, map, xval, w, scale, values, L, 8)
                       : nearest_d(c, map, xval, w, scale, values, L, 4);
}

/* the weighted least-squares sums of levels L for magnitudes xval */
INLINE void fit(const int8_t *L, const float *xval, const float *weight, float *sumqx, float *sumq2,
                const int N)
{
    float a = 0, b = 0;
    for (int i = 0; i < N; i++) {
        float q = (float)(2 * L[i] + 1);
        a += weight[i] * xval[i] * q;
        b += weight[i] * q * q;
    }
    *sumqx = a, *sumq2 = b;
}

/* the levels of group k nearest to id * xval (level indices 2l + 1 in [0, maxl]), or those of
 * its nearest entry at scale; *entry gets the entry; returns whether the levels were an entry
 * themselves */
INLINE int place(const struct ferry_codebook *c, int k, float id, float scale, const float *xval,
                 const float *waux, int8_t *L, int *entry, const int D)
{
    const int bits = D == 8 ? 2 : 3, maxl = D == 8 ? 2 : 7;
    unsigned u = 0;
    for (int i = 0; i < D; i++) {
        int l = ferry_nearest_int(0.5f * (id * xval[D * k + i] - 1));
        l = l < 0 ? 0 : l > maxl ? maxl : l;
        L[D * k + i] = (int8_t)l;
        u |= (unsigned)l << (bits * i);
    }
    int e = c->kmap[u];
    *entry = e >= 0 ? e : nearest_d(c, e, xval + D * k, waux + D * k, scale, NULL, L + D * k, D);
    return e >= 0;
}

INLINE float search_d(const struct ferry_codebook *c, enum ferry_cb_redo redo, float top,
                      float step, int ntry, const float *xval, const float *weight,
                      const float *waux, float max, float scale0, int8_t *L, const int N,
                      const int D)
{
    int8_t Laux[32];
    int on_grid[8], on_grid_aux[8], e;
    float best = 0, scale = scale0, sumqx, sumq2;
    for (int k = 0; k < N / D; k++) on_grid[k] = redo == FERRY_CB_REDO_OFF;
    for (int is = -ntry; is <= ntry; is++) {
        float id = (top + (float)is * step) / max, this_scale = 1 / id;
        for (int k = 0; k < N / D; k++)
            on_grid_aux[k] = place(c, k, id, this_scale, xval, waux, Laux, &e, D);
        fit(Laux, xval, weight, &sumqx, &sumq2, N);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            memcpy(L, Laux, (size_t)N);
            memcpy(on_grid, on_grid_aux, sizeof(int) * (size_t)(N / D));
        }
    }
    int off_grid = 0;
    for (int k = 0; k < N / D; k++) off_grid += !on_grid[k];
    if ((off_grid > 0 || redo == FERRY_CB_REDO_ALL) && scale > 0) {
        float id = 1 / scale;
        for (int k = 0; k < N / D; k++) {
            if (redo == FERRY_CB_REDO_OFF && on_grid[k]) continue;
            int8_t Lk[32];
            place(c, k, id, scale, xval, waux, Lk, &e, D);
            const int8_t *g = c->grid + (size_t)e * (size_t)D;
            for (int i = 0; i < D; i++) L[D * k + i] = (int8_t)((g[i] - 1) / 2);
        }
        fit(L, xval, weight, &sumqx, &sumq2, N);
        if (sumq2 > 0) scale = sumqx / sumq2;
    }
    return scale;
}

float ferry_codebook_search(const struct ferry_codebook *c, int n, enum ferry_cb_redo redo,
                            float top, float step, int ntry, const float *xval, const float *weight,
                            const float *waux, float max, float scale0, int8_t *L)
{
    if (c->dim == 4) /* IQ3: 32 values */
        return search_d(c, redo, top, step, ntry, xval, weight, waux, max, scale0, L, 32, 4);
    if (n == 32) /* IQ2_XXS */
        return search_d(c, redo, top, step, ntry, xval, weight, waux, max, scale0, L, 32, 8);
    return search_d(c, redo, top, step, ntry, xval, weight, waux, max, scale0, L, 16, 8);
}
