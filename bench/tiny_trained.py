"""A small Llama trained here, for measurements that need trained weights with rows whole
256-element super-blocks (the testdata's only trained model, stories260K, is 64 wide, so the
K, IQ2 and IQ3 types fall back to 32-block types on almost every tensor of it). The model
(dim 256, 2 layers, 4 heads over 2 KV heads, FFN 768, stories260K's 512-token vocabulary) learns
next-token prediction on texts sampled from stories260K, in float32 PyTorch with the usual
Llama layers (RMSNorm, rotate-half rope as Hugging Face's layout, SwiGLU), and is written as a
Hugging Face folder by make_llama. Debian's PyTorch multiplies with the generic BLAS (about 4
GFLOP/s here), so the training is short: 240 steps of 6 x 64 tokens, a few minutes."""
import math

import torch

import make_llama  # noqa: E402 (tests/interop is on the path)


def config():
    return make_llama.config(dim=256, layers=2, heads=4, kv_heads=2, ff=768, vocab=512, ctx=256)


def _forward(w, cfg, x_ids):
    d, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, (B, T) = d // H, x_ids.shape
    inv = 1.0 / cfg["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd)
    a = torch.arange(T).float()[:, None] * inv[None]
    cos, sin = torch.cat([a.cos()] * 2, -1), torch.cat([a.sin()] * 2, -1)

    def rot(x):  # [B, T, heads, hd]
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos[None, :, None] + torch.cat([-x2, x1], -1) * sin[None, :, None]

    def norm(x, g):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + cfg["rms_norm_eps"]) * g

    mask = torch.full((T, T), float("-inf")).triu(1)
    x = w["model.embed_tokens.weight"][x_ids]
    for layer in range(L):
        p = "model.layers.%d." % layer
        h = norm(x, w[p + "input_layernorm.weight"])
        q = rot((h @ w[p + "self_attn.q_proj.weight"].T).view(B, T, H, hd))
        k = rot((h @ w[p + "self_attn.k_proj.weight"].T).view(B, T, KV, hd))
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(B, T, KV, hd)
        k, v = k.repeat_interleave(H // KV, 2), v.repeat_interleave(H // KV, 2)
        s = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(hd) + mask
        o = torch.einsum("bhts,bshd->bthd", torch.softmax(s, -1), v).reshape(B, T, d)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        f = norm(x, w[p + "post_attention_layernorm.weight"])
        g = torch.nn.functional.silu(f @ w[p + "mlp.gate_proj.weight"].T) * (f @ w[p + "mlp.up_proj.weight"].T)
        x = x + g @ w[p + "mlp.down_proj.weight"].T
    return norm(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


def train(texts, out_dir, steps=240, seq=64, batch=6, seed=0):
    """trains on the token lists `texts`, writes the model to out_dir; returns the first and
    last training losses"""
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    cfg = config()
    w = make_llama.weights(cfg, seed=seed)
    for k in w:  # smaller starting weights than make_llama's test values
        w[k] = (w[k] * (0.5 if "norm" not in k else 1.0)).clone().requires_grad_(True)
    data = torch.tensor([t for text in texts for t in text])
    opt = torch.optim.AdamW(list(w.values()), lr=3e-3, weight_decay=0.01)
    losses = []
    for step in range(steps):
        starts = torch.randint(0, len(data) - seq - 1, (batch,))
        xb = torch.stack([data[s:s + seq] for s in starts])
        yb = torch.stack([data[s + 1:s + seq + 1] for s in starts])
        for group in opt.param_groups:
            group["lr"] = 3e-3 * min(1.0, (step + 1) / 30) * (0.1 + 0.9 * (1 - step / steps))
        loss = torch.nn.functional.cross_entropy(_forward(w, cfg, xb).reshape(-1, cfg["vocab_size"]), yb.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    make_llama.write_hf(out_dir, {k: v.detach().contiguous() for k, v in w.items()}, cfg)
    return losses[0], sum(losses[-10:]) / 10
