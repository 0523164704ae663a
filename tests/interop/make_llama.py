#!/usr/bin/python3
"""Writes small Llama checkpoints with Debian's python3-torch, for conversion and inference tests:
a Hugging Face directory (config.json, safetensors written here from the format description or
pytorch_model.bin, optionally sharded with an index) and the Meta layout of the same weights
(params.json, consolidated.NN.pth model-parallel shards, split as Meta splits them).
usage (as a module): write_hf(dir, weights, cfg, ...), write_meta(dir, weights, cfg, shards)"""
import json
import math
import os
import struct

import torch


def demo_tokenizer(ferry, work):
    """the 512-piece sentencepiece tokenizer.model `ferry demo` generates (in work/demo), or
    None: a tokenizer for generated models in tests that need text"""
    import glob
    import subprocess
    demo = os.path.join(work, "demo")
    subprocess.run([ferry, "demo", "--dir", demo], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found = sorted(glob.glob(os.path.join(demo, "**", "tokenizer.model"), recursive=True))
    return found[0] if found else None


def config(dim=64, layers=2, heads=4, kv_heads=2, ff=96, vocab=320, ctx=128, tied=False, llama3=False,
           theta=10000.0):
    c = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": dim,
         "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
         "intermediate_size": ff, "vocab_size": vocab, "max_position_embeddings": ctx,
         "rms_norm_eps": 1e-5, "rope_theta": theta, "tie_word_embeddings": tied,
         "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
    if llama3:
        c["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    return c


def hf_to_meta_permute(w, n_heads):
    """Inverse of transformers' Meta->HF permute: HF rotate-half rows back to interleaved."""
    rows, cols = w.shape
    return w.view(n_heads, 2, rows // n_heads // 2, cols).transpose(1, 2).reshape(rows, cols)


def weights(cfg, seed=0, dtype=torch.float32):
    """HF-named weights (rotate-half Q/K layout), deterministic."""
    g = torch.Generator().manual_seed(seed)
    d, ff, v, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    h, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = d // h
    r = lambda *s: (torch.randn(*s, generator=g) * 0.1).to(dtype)
    w = {"model.embed_tokens.weight": r(v, d)}
    for i in range(L):
        p = "model.layers.%d." % i
        w[p + "input_layernorm.weight"] = (1 + torch.randn(d, generator=g) * 0.1).to(dtype)
        w[p + "self_attn.q_proj.weight"] = r(h * hd, d)
        w[p + "self_attn.k_proj.weight"] = r(kv * hd, d)
        w[p + "self_attn.v_proj.weight"] = r(kv * hd, d)
        w[p + "self_attn.o_proj.weight"] = r(d, h * hd)
        w[p + "post_attention_layernorm.weight"] = (1 + torch.randn(d, generator=g) * 0.1).to(dtype)
        w[p + "mlp.gate_proj.weight"] = r(ff, d)
        w[p + "mlp.up_proj.weight"] = r(ff, d)
        w[p + "mlp.down_proj.weight"] = r(d, ff)
    w["model.norm.weight"] = (1 + torch.randn(d, generator=g) * 0.1).to(dtype)
    if not cfg.get("tie_word_embeddings"):
        w["lm_head.weight"] = r(v, d)
    return w


ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def write_safetensors(path, tensors):
    header, off, blobs = {}, 0, []
    for name, t in tensors.items():
        t = t.contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def write_hf(d, w, cfg, fmt="safetensors", shards=1, tokenizer=None):
    os.makedirs(d, exist_ok=True)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    names = list(w)
    parts = [names[i::shards] for i in range(shards)] if shards > 1 else [names]
    ext = "safetensors" if fmt == "safetensors" else "bin"
    base = "model" if fmt == "safetensors" else "pytorch_model"
    wm = {}
    for i, part in enumerate(parts):
        fn = "%s.%s" % (base, ext) if shards == 1 else "%s-%05d-of-%05d.%s" % (base, i + 1, shards, ext)
        sub = {k: w[k] for k in part}
        if fmt == "safetensors":
            write_safetensors(os.path.join(d, fn), sub)
        else:
            torch.save(sub, os.path.join(d, fn))
        wm.update({k: fn for k in part})
    if shards > 1:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wm},
                  open(os.path.join(d, "%s.%s.index.json" % (base, ext)), "w"))
    if tokenizer:
        with open(tokenizer, "rb") as src, open(os.path.join(d, "tokenizer.model"), "wb") as dst:
            dst.write(src.read())


def write_meta(d, w, cfg, shards=2, tokenizer=None):
    """Meta names, interleaved Q/K, model-parallel shards: wq/wk/wv/w1/w3/output split by rows,
    wo/w2 and (Llama 1/2) the embedding split by columns, norms replicated."""
    os.makedirs(d, exist_ok=True)
    h, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    params = {"dim": cfg["hidden_size"], "n_layers": cfg["num_hidden_layers"], "n_heads": h,
              "n_kv_heads": kv, "vocab_size": cfg["vocab_size"], "norm_eps": cfg["rms_norm_eps"],
              "rope_theta": cfg["rope_theta"], "max_seq_len": cfg["max_position_embeddings"],
              "multiple_of": 32}
    json.dump(params, open(os.path.join(d, "params.json"), "w"))
    meta = {"tok_embeddings.weight": (w["model.embed_tokens.weight"], 1),
            "norm.weight": (w["model.norm.weight"], None),
            "output.weight": (w.get("lm_head.weight", w["model.embed_tokens.weight"]), 0)}
    for i in range(cfg["num_hidden_layers"]):
        p, m = "model.layers.%d." % i, "layers.%d." % i
        meta[m + "attention_norm.weight"] = (w[p + "input_layernorm.weight"], None)
        meta[m + "attention.wq.weight"] = (hf_to_meta_permute(w[p + "self_attn.q_proj.weight"], h), 0)
        meta[m + "attention.wk.weight"] = (hf_to_meta_permute(w[p + "self_attn.k_proj.weight"], kv), 0)
        meta[m + "attention.wv.weight"] = (w[p + "self_attn.v_proj.weight"], 0)
        meta[m + "attention.wo.weight"] = (w[p + "self_attn.o_proj.weight"], 1)
        meta[m + "ffn_norm.weight"] = (w[p + "post_attention_layernorm.weight"], None)
        meta[m + "feed_forward.w1.weight"] = (w[p + "mlp.gate_proj.weight"], 0)
        meta[m + "feed_forward.w3.weight"] = (w[p + "mlp.up_proj.weight"], 0)
        meta[m + "feed_forward.w2.weight"] = (w[p + "mlp.down_proj.weight"], 1)
    for s in range(shards):
        sd = {}
        for name, (t, axis) in meta.items():
            sd[name] = t.clone() if axis is None else torch.chunk(t, shards, dim=axis)[s].clone()
        torch.save(sd, os.path.join(d, "consolidated.%02d.pth" % s))
    if tokenizer:
        with open(tokenizer, "rb") as src, open(os.path.join(d, "tokenizer.model"), "wb") as dst:
            dst.write(src.read())


def forward(w, cfg, ids, seen=None):
    """Float64 Llama over HF-layout weights (rotate-half rope): the logits of every position
    (numpy). seen(name, x), when given, gets the input of each weight matrix product by the
    weight's GGUF name (blk.L.attn_q.weight, ...), x of shape [tokens, columns]."""
    seen = seen or (lambda name, x: None)
    W = {k: v.double() for k, v in w.items()}
    d, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = d // H
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    rs = cfg.get("rope_scaling")
    if rs:
        f, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        wl = 2 * math.pi / inv
        smooth = (old / wl - lo) / (hi - lo)
        inv = torch.where(wl < old / hi, inv, torch.where(wl > old / lo, inv / f, (1 - smooth) * inv / f + smooth * inv))
    T = len(ids)
    pos = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = torch.cat([pos.cos()] * 2, -1), torch.cat([pos.sin()] * 2, -1)

    def rot(x):  # x [T, heads, hd]
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos[:, None, :] + torch.cat([-x2, x1], -1) * sin[:, None, :]

    def norm(x, g):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * g

    x = W["model.embed_tokens.weight"][ids]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for l in range(L):
        p = "model.layers.%d." % l
        a = norm(x, W[p + "input_layernorm.weight"])
        for n in ("attn_q", "attn_k", "attn_v"):
            seen("blk.%d.%s.weight" % (l, n), a)
        q = rot((a @ W[p + "self_attn.q_proj.weight"].T).view(T, H, hd))
        k = rot((a @ W[p + "self_attn.k_proj.weight"].T).view(T, KV, hd))
        v = (a @ W[p + "self_attn.v_proj.weight"].T).view(T, KV, hd)
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        s = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + mask
        o = torch.einsum("hts,shd->thd", torch.softmax(s, -1), v).reshape(T, H * hd)
        seen("blk.%d.attn_output.weight" % l, o)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        f = norm(x, W[p + "post_attention_layernorm.weight"])
        seen("blk.%d.ffn_gate.weight" % l, f)
        seen("blk.%d.ffn_up.weight" % l, f)
        g = f @ W[p + "mlp.gate_proj.weight"].T
        h = torch.nn.functional.silu(g) * (f @ W[p + "mlp.up_proj.weight"].T)
        seen("blk.%d.ffn_down.weight" % l, h)
        x = x + h @ W[p + "mlp.down_proj.weight"].T
    x = norm(x, W["model.norm.weight"])
    out = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return (x @ out.T).numpy()
