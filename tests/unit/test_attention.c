/* Attention over the blocked key cache (inference/attention.c) against a double-precision
 * softmax(q . k * scale) . v computed here from the same keys and values kept the plain way:
 * one to four queries with different position counts (block tails included), head sizes that
 * take the wide path and one that does not, values with a row stride wider than the head. */
#include "attention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t seed = 777;
static float rnd(void)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* worst |got - want| / (sum over p of w_p |v_p| + tiny) over the queries' outputs */
static double ref_error(const float *q, const float *k, const float *v, uint64_t stride,
                        uint32_t hd, uint32_t npos, float scale, const float *out)
{
    double *s = malloc(npos * sizeof(double)), mx = -INFINITY, sum = 0, worst = 0;
    for (uint32_t p = 0; p < npos; p++) {
        double acc = 0;
        for (uint32_t d = 0; d < hd; d++) acc += (double)q[d] * k[p * stride + d];
        s[p] = acc * scale;
        if (s[p] > mx) mx = s[p];
    }
    for (uint32_t p = 0; p < npos; p++) sum += s[p] = exp(s[p] - mx);
    for (uint32_t d = 0; d < hd; d++) {
        double want = 0, mag = 1e-30;
        for (uint32_t p = 0; p < npos; p++) {
            want += s[p] / sum * v[p * stride + d];
            mag += s[p] / sum * fabs(v[p * stride + d]);
        }
        double err = fabs(out[d] - want) / mag;
        if (err > worst) worst = err;
    }
    free(s);
    return worst;
}

static int run(uint32_t hd, uint32_t nq, const uint32_t *npos, int portable)
{
    uint32_t most = 0, stride = hd + 16; /* values and plain keys of two heads side by side */
    for (uint32_t j = 0; j < nq; j++)
        if (npos[j] > most) most = npos[j];
    uint32_t len = kern_kblocks_len(most);
    float *k = malloc((size_t)len * stride * sizeof(float)), *v = malloc((size_t)len * stride * 4),
          *kt = malloc((size_t)len * hd * sizeof(float)), *q = malloc((size_t)nq * hd * 4),
          *out = malloc((size_t)nq * hd * 4), *scratch = malloc(kern_attend_scratch(most) * 4);
    for (uint32_t i = 0; i < len * stride; i++) k[i] = 2 * rnd(), v[i] = rnd();
    for (uint32_t i = 0; i < len * hd; i++) kt[i] = NAN; /* positions never stored stay unseen */
    for (uint32_t p = 0; p < most; p++) kern_store_key(kt, hd, p, k + (size_t)p * stride);
    for (uint32_t i = 0; i < nq * hd; i++) q[i] = rnd();
    struct kern_attend_args a = {.nq = nq, .kt = kt, .v = v, .vstride = stride, .hd = hd};
    a.scale = 1.0f / sqrtf((float)hd);
    for (uint32_t j = 0; j < nq; j++)
        a.q[j] = q + j * hd, a.out[j] = out + j * hd, a.npos[j] = npos[j];
    (portable ? kern_attend_portable : kern_attend)(&a, scratch);
    double worst = 0;
    for (uint32_t j = 0; j < nq; j++) {
        double e = ref_error(q + j * hd, k, v, stride, hd, npos[j], a.scale, out + j * hd);
        if (!(e <= worst)) worst = e; /* a NaN counts as worst */
    }
    int bad = !(worst < 2e-6); /* float sums over a few hundred positions: ~1e-7 */
    printf("%s head %3u queries %u positions %4u..%4u: worst error %.2e%s\n",
           portable ? "portable" : "chosen  ", hd, nq, npos[0], npos[nq - 1], worst,
           bad ? "  FAIL" : "");
    free(k), free(v), free(kt), free(q), free(out), free(scratch);
    return bad;
}

int main(void)
{
    int bad = 0;
    const uint32_t heads[] = {16, 64, 80, 128, 24};
    const uint32_t counts[][KERN_ATTEND_MAX] = {
        {1}, {7, 8}, {16, 17, 18}, {29, 30, 31, 32}, {100, 100, 101, 101}, {515, 516, 517, 518}};
    for (int portable = 0; portable < 2; portable++)
        for (size_t h = 0; h < sizeof(heads) / sizeof(*heads); h++)
            for (size_t c = 0; c < sizeof(counts) / sizeof(*counts); c++) {
                uint32_t nq = 0;
                while (nq < KERN_ATTEND_MAX && counts[c][nq]) nq++;
                bad |= run(heads[h], nq, counts[c], portable);
            }
    printf(bad ? "FAIL\n" : "attention agrees with the reference\n");
    return bad;
}
