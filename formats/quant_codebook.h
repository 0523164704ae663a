/* Search tables of the IQ codebooks (quant_codebook.c), shared by the IQ1, IQ2 and IQ3
 * quantizers: each codebook entry is a group of 4 (IQ3) or 8 (IQ1, IQ2) level indices, and a
 * group of levels that is not an entry is replaced by its nearest entries (ggml's "neighbours").
 * Built once per codebook on first use, as ggml's iq2xs_init_impl / iq3xs_init_impl build them,
 * so that a quantizer searching them picks the entries ggml picks. */
#ifndef FERRY_FORMATS_QUANT_CODEBOOK_H
#define FERRY_FORMATS_QUANT_CODEBOOK_H

#include <stdint.h>

enum ferry_codebook_id {
    FERRY_CB_IQ3XXS, /* 256 entries of 4 3-bit levels; 2 distances kept */
    FERRY_CB_IQ3S,   /* 512 x 4 x 3 bits; 3 */
    FERRY_CB_IQ2XXS, /* 256 x 8 x 2 bits; 2 */
    FERRY_CB_IQ2XS,  /* 512 x 8 x 2 bits; 2 */
    FERRY_CB_IQ2S,   /* 1024 x 8 x 2 bits; 1 */
    FERRY_CB_IQ1S,   /* 2048 x 8 x 2 bits (IQ1_S and IQ1_M); 3 */
    FERRY_CB_COUNT
};

struct ferry_codebook {
    int n, dim, bits, nwant; /* entries, levels per entry, bits per level, distances kept */
    int8_t *grid;            /* n * dim values 2l + 1 of the entries' levels l */
    /* per group pattern (level l_k at bits*k): its entry, or -(offset of its neighbour list + 1)
     * in neighbours (that list: count, then entries by distance, then index) */
    int *kmap;
    uint16_t *neighbours;
    /* each neighbour list's entries again as float levels 2l + 1, eight entries side by side
     * per level (lanes[lanes_at[list offset] + (8 block + level) * 8 + lane]), so that eight
     * distances are computed at once, each in ggml's order */
    float *lanes;
    uint32_t *lanes_at;
};

/* the tables of codebook id; NULL when there was no memory to build them */
const struct ferry_codebook *ferry_codebook(enum ferry_codebook_id id);

/* the pattern of a group of levels (each in [0, 2^bits); other values, which only non-finite
 * input can leave, are cut to their low bits so the pattern stays inside kmap) */
static inline unsigned ferry_codebook_pattern(const struct ferry_codebook *c, const int8_t *L)
{
    unsigned u = 0, mask = (1u << c->bits) - 1;
    for (int i = 0; i < c->dim; i++) u |= ((unsigned)L[i] & mask) << (c->bits * i);
    return u;
}

/* the entry of a group pattern off the codebook (map = its kmap value < 0) nearest to xval at
 * scale, weighted by w: sum w (scale * value(l) - xval)^2 smallest, the first of equals, where
 * value(l) is values[l] or (values NULL) 2l + 1; L gets its level indices */
int ferry_codebook_nearest(const struct ferry_codebook *c, int map, const float *xval,
                           const float *w, float scale, const float *values, int8_t *L);

/* what a scale search does after its trials, as the ggml quantizer it follows */
enum ferry_cb_redo {
    FERRY_CB_REDO_OFF, /* groups that were off the codebook, placed again (IQ3_XXS, IQ2_XS, IQ2_S)
                        */
    FERRY_CB_REDO_ALL_IF_OFF, /* every group, when one was off the codebook (IQ3_S) */
    FERRY_CB_REDO_ALL,        /* every group, always (IQ2_XXS) */
};

/* The scale search of one sub-block of n magnitudes xval (a multiple of the codebook's group
 * size) with weights weight (waux: their square roots, for the neighbour distances): trial
 * scales 1/id, id = (top + is * step) / max for is = -ntry..ntry, each group at the levels
 * nearest to id * xval (or its nearest neighbour on the codebook), the best weighted
 * least-squares fit kept (the first scale: scale0); then the groups placed again under that
 * scale as redo says and the scale refitted. L gets the level indices; returns the scale. */
float ferry_codebook_search(const struct ferry_codebook *c, int n, enum ferry_cb_redo redo,
                            float top, float step, int ntry, const float *xval, const float *weight,
                            const float *waux, float max, float scale0, int8_t *L);

/* a sub-block scale as an odd multiple 2l + 1 of the super-block step 1/id, l in [0, max] */
static inline int ferry_codebook_subscale(float id, float scale, int max);

/* round half to even for |f| < 2^22 (ggml's nearest_int) */
static inline int ferry_nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    __builtin_memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int ferry_codebook_subscale(float id, float scale, int max)
{
    int l = ferry_nearest_int(0.5f * (id * scale - 1));
    return l < 0 ? 0 : l > max ? max : l;
}

#endif
