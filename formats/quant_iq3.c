/* The IQ3 quantizers as llama-quantize runs them (ggml's quantize_iq3_s and quantize_iq3_xxs):
 * per 32 values, signs apart, a search over trial scales in which each group of four magnitudes
 * takes its point of the codebook (512 entries for IQ3_S, 256 for IQ3_XXS), or when it falls off
 * the codebook the nearest of its neighbours there (weighted distance), the scale then fitted by
 * weighted least squares; eight such scales per 256 values as 4-bit odd multiples of a fp16
 * super-block scale. The neighbour lists are ggml's: for every one of the 4096 level patterns
 * off the codebook, the entries at its smallest three (IQ3_S) or two (IQ3_XXS) squared
 * distances, ordered by distance then index. Byte-equal to ggml's, including its quirks (an
 * all-zero IQ3_S sub-block leaves the index and sign cursors where they are). */
#include "ferry/half.h"
#include "quant_grid.h"
#include "quant_lut.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KMAP 4096

/* a codebook's search tables */
struct iq3_grid {
    int n, nwant;         /* entries; distances kept per off-codebook pattern */
    int8_t (*grid)[4];    /* the levels 1, 3, ..., 15 of each entry */
    int kmap[KMAP];       /* pattern -> entry, or -(offset of its neighbour list + 1) */
    uint16_t *neighbours; /* per off-codebook pattern: count, then entries */
};

static int8_t grid512[512][4], grid256[256][4];
static struct iq3_grid g512 = {512, 3, grid512, {0}, NULL}, g256 = {256, 2, grid256, {0}, NULL};
static pthread_once_t once512 = PTHREAD_ONCE_INIT, once256 = PTHREAD_ONCE_INIT;

static int by_distance(const void *a, const void *b)
{
    const int *l = a, *r = b;
    return l[0] < r[0] ? -1 : l[0] > r[0] ? 1 : l[1] < r[1] ? -1 : l[1] > r[1];
}

/* the entries at the nwant smallest distances of pattern i, into out (NULL: count only) */
static int nearest(const struct iq3_grid *g, int i, int *dist2, uint16_t *out)
{
    int8_t pos[4];
    for (int k = 0; k < 4; k++) pos[k] = (int8_t)(2 * ((i >> 3 * k) & 7) + 1);
    for (int j = 0; j < g->n; j++) {
        int d2 = 0;
        for (int k = 0; k < 4; k++) d2 += (g->grid[j][k] - pos[k]) * (g->grid[j][k] - pos[k]);
        dist2[2 * j] = d2, dist2[2 * j + 1] = j;
    }
    qsort(dist2, (size_t)g->n, 2 * sizeof(int), by_distance);
    int n = 0, d2 = dist2[0], nhave = 1;
    for (int j = 0; j < g->n; j++) {
        if (dist2[2 * j] > d2) {
            if (nhave == g->nwant) break;
            d2 = dist2[2 * j];
            nhave++;
        }
        if (out) out[n] = (uint16_t)dist2[2 * j + 1];
        n++;
    }
    return n;
}

static void init(struct iq3_grid *g, const uint16_t *packed)
{
    static int dist2[2 * 512]; /* under the pthread_once of each codebook, one at a time */
    for (int i = 0; i < KMAP; i++) g->kmap[i] = -1;
    for (int j = 0; j < g->n; j++) {
        for (int k = 0; k < 4; k++) g->grid[j][k] = (int8_t)(2 * ((packed[j] >> 3 * k) & 7) + 1);
        g->kmap[packed[j]] = j;
    }
    size_t total = 0;
    for (int i = 0; i < KMAP; i++)
        if (g->kmap[i] < 0) total += 1 + (size_t)nearest(g, i, dist2, NULL);
    uint16_t *nb = malloc(total * sizeof(uint16_t));
    if (!nb) return; /* the quantizers then write zero blocks */
    size_t at = 0;
    for (int i = 0; i < KMAP; i++) {
        if (g->kmap[i] >= 0) continue;
        g->kmap[i] = -(int)(at + 1);
        int n = nearest(g, i, dist2, nb + at + 1);
        nb[at] = (uint16_t)n;
        at += 1 + (size_t)n;
    }
    g->neighbours = nb;
}

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER; /* the shared dist2 */

static void init512(void)
{
    pthread_mutex_lock(&init_lock);
    init(&g512, ferry_iq3s_codebook());
    pthread_mutex_unlock(&init_lock);
}

static void init256(void)
{
    pthread_mutex_lock(&init_lock);
    init(&g256, ferry_iq3xxs_codebook());
    pthread_mutex_unlock(&init_lock);
}

static inline int nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* the neighbour of an off-codebook group (map: its kmap value) nearest to xval/scale (weights
 * w); L gets its levels' indices; returns the entry */
static int best_neighbour(const struct iq3_grid *g, int map, const float *xval, const float *w,
                          float scale, int8_t *L)
{
    const uint16_t *nb = g->neighbours - map - 1;
    float best = FLT_MAX;
    int e = -1;
    for (int j = 1; j <= nb[0]; j++) {
        const int8_t *pg = g->grid[nb[j]];
        float d2 = 0;
        for (int i = 0; i < 4; i++) {
            float diff = scale * (float)pg[i] - xval[i];
            d2 += w[i] * diff * diff;
        }
        if (d2 < best) best = d2, e = nb[j];
    }
    if (e < 0) e = nb[1]; /* every distance NaN (non-finite input): ggml aborts here */
    for (int i = 0; i < 4; i++) L[i] = (int8_t)((g->grid[e][i] - 1) / 2);
    return e;
}

static int group_entry(const struct iq3_grid *g, const int8_t *L)
{
    unsigned u = 0;
    for (int i = 0; i < 4; i++) u |= (unsigned)L[i] << 3 * i;
    return g->kmap[u];
}

static int8_t level_of(float id, float v) /* the level index nearest to id*v, in [0, 7] */
{
    int l = nearest_int(0.5f * (id * v - 1));
    return (int8_t)(l < 0 ? 0 : l > 7 ? 7 : l);
}

/* the weighted least-squares scale of levels L for magnitudes xval */
static void fit(const int8_t *L, const float *xval, const float *weight, float *sumqx, float *sumq2)
{
    float a = 0, b = 0;
    for (int i = 0; i < 32; i++) {
        float q = (float)(2 * L[i] + 1);
        a += weight[i] * xval[i] * q;
        b += weight[i] * q * q;
    }
    *sumqx = a, *sumq2 = b;
}

/* The scale search of one 32-value sub-block, both types: trial scales is = -ntry..ntry (IQ3_S 9,
 * IQ3_XXS 15), then the groups off the codebook placed again under the best scale (IQ3_S does it
 * for every group, as ggml does) and the scale refitted. L gets the level indices. */
static float search(const struct iq3_grid *g, const float *xval, const float *weight,
                    const float *waux, float max, int ntry, int skip_on_grid, int8_t *L)
{
    int8_t Laux[32];
    int on_grid[8], on_grid_aux[8];
    float best = 0, scale = max / 15, sumqx, sumq2;
    for (int k = 0; k < 8; k++) on_grid[k] = skip_on_grid;
    for (int is = -ntry; is <= ntry; is++) {
        float id = (15.0f + (float)is * 0.2f) / max, this_scale = 1 / id;
        for (int k = 0; k < 8; k++) {
            for (int i = 0; i < 4; i++) Laux[4 * k + i] = level_of(id, xval[4 * k + i]);
            int e = group_entry(g, Laux + 4 * k);
            on_grid_aux[k] = e >= 0;
            if (e < 0) best_neighbour(g, e, xval + 4 * k, waux + 4 * k, this_scale, Laux + 4 * k);
        }
        fit(Laux, xval, weight, &sumqx, &sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            memcpy(L, Laux, 32);
            memcpy(on_grid, on_grid_aux, sizeof(on_grid));
        }
    }
    int off_grid = 0;
    for (int k = 0; k < 8; k++) off_grid += !on_grid[k];
    if (off_grid > 0 && scale > 0) {
        float id = 1 / scale;
        for (int k = 0; k < 8; k++) {
            if (skip_on_grid && on_grid[k]) continue;
            int8_t Lk[4];
            for (int i = 0; i < 4; i++) Lk[i] = level_of(id, xval[4 * k + i]);
            int e = group_entry(g, Lk);
            if (e < 0) e = best_neighbour(g, e, xval + 4 * k, waux + 4 * k, scale, L + 4 * k);
            for (int i = 0; i < 4; i++) L[4 * k + i] = (int8_t)((g->grid[e][i] - 1) / 2);
        }
        fit(L, xval, weight, &sumqx, &sumq2);
        if (sumq2 > 0) scale = sumqx / sumq2;
    }
    return scale;
}

/* weights of a sub-block: x^2, or qw * sqrt(sigma2 + x^2); waux their square roots */
static void weights(const float *xb, const float *qw, float sigma2, float *weight, float *waux)
{
    for (int i = 0; i < 32; i++)
        weight[i] = qw ? qw[i] * sqrtf(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
    for (int i = 0; i < 32; i++) waux[i] = sqrtf(weight[i]);
}

static float sigma2_of(const float *x)
{
    float sumx2 = 0;
    for (int i = 0; i < 256; i++) sumx2 += x[i] * x[i];
    return 2 * sumx2 / 256;
}

/* magnitudes of 8 values and their sign bits */
static uint8_t magnitudes(const float *xb, float *xval, int *nflip)
{
    uint8_t s = 0;
    *nflip = 0;
    for (int i = 0; i < 8; i++) {
        if (xb[i] >= 0) {
            xval[i] = xb[i];
        } else {
            xval[i] = -xb[i];
            ++*nflip;
            s |= (uint8_t)(1 << i);
        }
    }
    return s;
}

static float max_of(const float *xval)
{
    float max = xval[0];
    for (int i = 1; i < 32; i++) max = max > xval[i] ? max : xval[i]; /* ggml's MAX */
    return max;
}

static int scale4(float id, float scale) /* a sub-block scale as 4 bits */
{
    int l = nearest_int(0.5f * (id * scale - 1));
    return l < 0 ? 0 : l > 15 ? 15 : l;
}

/* one IQ3_S block: d, qs[64], qh[8], signs[32], scales[4]; 110 bytes */
static void block_s(const float *x, uint8_t *b, const float *qw)
{
    float scales[8], weight[32], waux[32], xval[32], max_scale = 0, sigma2 = sigma2_of(x);
    int8_t L[32];
    uint8_t block_signs[4];
    int nflip;
    memset(b, 0, 110);
    uint8_t *qs = b + 2, *qh = b + 66, *signs = b + 74;
    for (int ib = 0; ib < 8; ib++) {
        const float *xb = x + 32 * ib;
        weights(xb, qw ? qw + 32 * ib : NULL, sigma2, weight, waux);
        for (int k = 0; k < 4; k++) block_signs[k] = magnitudes(xb + 8 * k, xval + 8 * k, &nflip);
        float max = max_of(xval);
        memset(L, 0, 32);
        if (max == 0) { /* ggml leaves its qs and signs cursors in place here */
            scales[ib] = 0;
            continue;
        }
        float scale = search(&g512, xval, weight, waux, max, 9, 0, L);
        if (scale < 0) { /* ggml: never expected; flip the scale and the signs */
            scale = -scale;
            for (int k = 0; k < 4; k++) block_signs[k] = (uint8_t)~block_signs[k];
        }
        for (int k = 0; k < 8; k++) {
            int e = group_entry(&g512, L + 4 * k);
            qs[k] = (uint8_t)(e & 255);
            qh[ib] |= (uint8_t)((e >> 8) << k);
        }
        qs += 8;
        memcpy(signs, block_signs, 4);
        signs += 4;
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0) return;
    float d = max_scale / 31, id = 1 / d;
    ferry_fp16_put_le(b, d * 1.033f);
    for (int ib = 0; ib < 8; ib += 2)
        b[106 + ib / 2] = (uint8_t)(scale4(id, scales[ib]) | (scale4(id, scales[ib + 1]) << 4));
}

/* one IQ3_XXS block: d, 64 entry indices, then per sub-block a 32-bit word of four 7-bit sign
 * fields (an even count of minus signs: an odd one flips the least weighted value) with the
 * 4-bit scale on top; 98 bytes */
static void block_xxs(const float *x, uint8_t *b, const float *qw)
{
    float scales[8], weight[32], waux[32], xval[32], max_scale = 0, sigma2 = sigma2_of(x);
    int8_t L[32];
    uint8_t block_signs[4];
    uint32_t sas[8] = {0};
    int nflip;
    memset(b, 0, 98);
    for (int ib = 0; ib < 8; ib++) {
        const float *xb = x + 32 * ib;
        weights(xb, qw ? qw + 32 * ib : NULL, sigma2, weight, waux);
        for (int k = 0; k < 4; k++) {
            uint8_t s = magnitudes(xb + 8 * k, xval + 8 * k, &nflip);
            if (nflip % 2) {
                int imin = 0;
                float min = weight[8 * k] * xb[8 * k] * xb[8 * k];
                for (int i = 1; i < 8; i++) {
                    float ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                    if (ax < min) min = ax, imin = i;
                }
                xval[8 * k + imin] = -xval[8 * k + imin];
                s ^= (uint8_t)(1 << imin);
            }
            block_signs[k] = s & 127;
        }
        float max = max_of(xval);
        memset(L, 0, 32);
        if (max < 1e-8f) {
            scales[ib] = 0;
            continue;
        }
        float scale = search(&g256, xval, weight, waux, max, 15, 1, L);
        if (scale < 0) {
            scale = -scale;
            for (int k = 0; k < 4; k++) block_signs[k] = (uint8_t)(~block_signs[k] & 127);
        }
        for (int k = 0; k < 8; k++) b[2 + 8 * ib + k] = (uint8_t)group_entry(&g256, L + 4 * k);
        sas[ib] = block_signs[0] | (uint32_t)block_signs[1] << 7 | (uint32_t)block_signs[2] << 14 |
                  (uint32_t)block_signs[3] << 21;
        scales[ib] = scale;
        max_scale = max_scale > scale ? max_scale : scale;
    }
    if (max_scale == 0) {
        memset(b, 0, 98);
        return;
    }
    float d = max_scale / 31, id = 1 / d;
    ferry_fp16_put_le(b, d * 1.0125f);
    for (int ib = 0; ib < 8; ib++) {
        uint32_t w = sas[ib] | (uint32_t)scale4(id, scales[ib]) << 28;
        for (int k = 0; k < 4; k++) b[66 + 4 * ib + k] = (uint8_t)(w >> (8 * k));
    }
}

static void iq3_s(const float *x, void *y, uint64_t n, const float *qw)
{
    pthread_once(&once512, init512);
    uint8_t *b = y;
    for (uint64_t i = 0; i < n / 256; i++, b += 110, x += 256, qw = qw ? qw + 256 : NULL) {
        if (g512.neighbours)
            block_s(x, b, qw);
        else
            memset(b, 0, 110); /* no memory for the search tables: a zero block */
    }
}

static void iq3_xxs(const float *x, void *y, uint64_t n, const float *qw)
{
    pthread_once(&once256, init256);
    uint8_t *b = y;
    for (uint64_t i = 0; i < n / 256; i++, b += 98, x += 256, qw = qw ? qw + 256 : NULL) {
        if (g256.neighbours)
            block_xxs(x, b, qw);
        else
            memset(b, 0, 98);
    }
}

void ferry_quantize_iq3_s(const float *x, void *y, uint64_t n)
{
    iq3_s(x, y, n, NULL);
}

void ferry_quantize_iq3_s_w(const float *x, void *y, uint64_t n, const float *qw)
{
    iq3_s(x, y, n, qw);
}

void ferry_quantize_iq3_xxs(const float *x, void *y, uint64_t n)
{
    iq3_xxs(x, y, n, NULL);
}

void ferry_quantize_iq3_xxs_w(const float *x, void *y, uint64_t n, const float *qw)
{
    iq3_xxs(x, y, n, qw);
}
