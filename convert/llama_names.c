/* Tensor names of Llama checkpoints: Hugging Face, Meta and GGUF names of the same tensor,
 * with the order llama.cpp's converter writes them in. One table row per tensor kind. */
#include "llama_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct llama_name names[] = {
    /* gguf suffix, hf suffix, meta suffix, per-layer, order */
    {"token_embd.weight", "model.embed_tokens.weight", "tok_embeddings.weight", 0, 1},
    {"attn_norm.weight", "input_layernorm.weight", "attention_norm.weight", 1, 10},
    {"attn_q.weight", "self_attn.q_proj.weight", "attention.wq.weight", 1, 11},
    {"attn_k.weight", "self_attn.k_proj.weight", "attention.wk.weight", 1, 12},
    {"attn_v.weight", "self_attn.v_proj.weight", "attention.wv.weight", 1, 13},
    {"attn_output.weight", "self_attn.o_proj.weight", "attention.wo.weight", 1, 14},
    {"ffn_norm.weight", "post_attention_layernorm.weight", "ffn_norm.weight", 1, 15},
    {"ffn_gate.weight", "mlp.gate_proj.weight", "feed_forward.w1.weight", 1, 16},
    {"ffn_up.weight", "mlp.up_proj.weight", "feed_forward.w3.weight", 1, 17},
    {"ffn_down.weight", "mlp.down_proj.weight", "feed_forward.w2.weight", 1, 18},
    {"output_norm.weight", "model.norm.weight", "norm.weight", 0, 90},
    {"output.weight", "lm_head.weight", "output.weight", 0, 91},
};

#define NNAMES (sizeof(names) / sizeof(names[0]))

/* Splits "PREFIX.N.REST" when name starts with prefix followed by a layer number. */
static int layer_of(const char *name, const char *prefix, int *layer, const char **rest)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0) return 0;
    char *end;
    long l = strtol(name + pl, &end, 10);
    if (end == name + pl || *end != '.' || l < 0 || l > 100000) return 0;
    *layer = (int)l;
    *rest = end + 1;
    return 1;
}

const struct llama_name *llama_name_lookup(const char *name, enum name_style style, int *layer)
{
    const char *prefix = style == NAME_HF     ? "model.layers."
                         : style == NAME_META ? "layers."
                                              : "blk.";
    const char *rest;
    int l;
    int layered = layer_of(name, prefix, &l, &rest);
    for (size_t i = 0; i < NNAMES; i++) {
        const char *suffix = style == NAME_HF     ? names[i].hf
                             : style == NAME_META ? names[i].meta
                                                  : names[i].gguf;
        if (names[i].per_layer && layered && !strcmp(rest, suffix)) {
            *layer = l;
            return &names[i];
        }
        if (!names[i].per_layer && !layered && !strcmp(name, suffix)) {
            *layer = -1;
            return &names[i];
        }
    }
    return NULL;
}

void llama_name_format(const struct llama_name *n, enum name_style style, int layer, char *out,
                       size_t len)
{
    const char *suffix = style == NAME_HF ? n->hf : style == NAME_META ? n->meta : n->gguf;
    const char *prefix = style == NAME_HF     ? "model.layers."
                         : style == NAME_META ? "layers."
                                              : "blk.";
    if (n->per_layer)
        snprintf(out, len, "%s%d.%s", prefix, layer, suffix);
    else
        snprintf(out, len, "%s", suffix);
}

int llama_name_skipped(const char *name)
{
    size_t n = strlen(name);
    static const char *suffixes[] = {".rotary_emb.inv_freq", ".attention.masked_bias",
                                     ".attention.bias"};
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(suffixes[i]);
        if (n >= l && !strcmp(name + n - l, suffixes[i])) return 1;
    }
    return !strcmp(name, "rope.freqs") || !strcmp(name, "rope_freqs.weight");
}
