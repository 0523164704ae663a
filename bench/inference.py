#!/usr/bin/python3
"""Benchmark: prompt processing and token generation of a generated 134M-parameter Llama
(dim 768, 12 layers, vocab 32000) in F32, F16, Q8_0, Q4_0, Q4_K_M and Q6_K with 2 threads, beside a PyTorch
float32 forward pass with a KV cache (2 threads) and llama.cpp itself (its prebuilt CPU libraries
from npm, tests/interop/llamacpp.mjs, 2 threads) on the same weights and files, in the same run.
Prints `case  ferry=tok/s  peer=tok/s  ratio=ferry/peer` (higher = ferry faster; for speeds the
ratio is ferry over peer), the share of the llama.cpp anchor (80 % of llama.cpp's
59/120/196/327 tokens/s for F32/F16/Q8_0/Q4_0 on this class of machine, issue 4), and the weight
bytes generation streams per second beside the machine's streaming read bandwidth measured in
the same run (bench/membw.c): generation is memory-bound, and the host's bandwidth varies.
usage: bench/inference.py FERRY"""
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
import make_llama  # noqa: E402

FERRY = sys.argv[1]
ANCHOR = {"f32": 59, "f16": 120, "q8_0": 196, "q4_0": 327}
PROMPT, GEN = 64, 128


def torch_speed(w, cfg):
    torch.set_num_threads(2)
    d, L, H, KV = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = d // H
    inv = 1.0 / cfg["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd)

    def norm(x, g):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * g

    def rot(x, pos):
        a = pos[:, None].float() * inv[None]
        c, s = torch.cat([a.cos()] * 2, -1)[:, None], torch.cat([a.sin()] * 2, -1)[:, None]
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * c + torch.cat([-x2, x1], -1) * s

    cache = [[None, None] for _ in range(L)]

    @torch.no_grad()
    def step(ids, start):
        T = len(ids)
        pos = torch.arange(start, start + T)
        x = w["model.embed_tokens.weight"][ids]
        for l in range(L):
            p = "model.layers.%d." % l
            a = norm(x, w[p + "input_layernorm.weight"])
            q = rot((a @ w[p + "self_attn.q_proj.weight"].T).view(T, H, hd), pos)
            k = rot((a @ w[p + "self_attn.k_proj.weight"].T).view(T, KV, hd), pos)
            v = (a @ w[p + "self_attn.v_proj.weight"].T).view(T, KV, hd)
            if cache[l][0] is not None:
                k, v = torch.cat([cache[l][0], k]), torch.cat([cache[l][1], v])
            cache[l] = [k, v]
            kk, vv = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
            s = torch.einsum("thd,shd->hts", q, kk) / math.sqrt(hd)
            mask = torch.full((T, len(kk)), float("-inf")).triu(start + 1)
            o = torch.einsum("hts,shd->thd", torch.softmax(s + mask, -1), vv).reshape(T, d)
            x = x + o @ w[p + "self_attn.o_proj.weight"].T
            f = norm(x, w[p + "post_attention_layernorm.weight"])
            x = x + (torch.nn.functional.silu(f @ w[p + "mlp.gate_proj.weight"].T) * (f @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
        return norm(x[-1:], w["model.norm.weight"]) @ w["lm_head.weight"].T

    ids = torch.arange(1, PROMPT + 1)
    t0 = time.perf_counter()
    logits = step(ids, 0)
    t1 = time.perf_counter()
    nxt = int(logits.argmax())
    for i in range(GEN):
        nxt = int(step(torch.tensor([nxt]), PROMPT + i).argmax())
    t2 = time.perf_counter()
    return PROMPT / (t1 - t0), GEN / (t2 - t1)


def ferry_speed(model):
    ids = ",".join(str(i) for i in range(1, PROMPT + 1))
    p = subprocess.run([FERRY, "run", model, "--ids", ids, "--temp", "0", "-n", str(GEN), "--threads", "2"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = re.search(r"prompt: \d+ tokens, ([\d.]+) tokens/s; generation: \d+ tokens, ([\d.]+) tokens/s", p.stderr)
    return (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)


def membw():
    """The machine's 2-thread streaming read bandwidth now (GB/s, bench/membw.c), or 0."""
    exe = os.path.join(tempfile.gettempdir(), "ferry-membw")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "membw.c")
    if subprocess.run(["cc", "-O2", "-march=native", "-o", exe, src, "-lpthread"], capture_output=True).returncode:
        return 0.0
    p = subprocess.run([exe, "2"], capture_output=True, text=True)
    return float(p.stdout or 0)


def bytes_per_token(model):
    """Weight bytes a generated token reads: every tensor but the embedding table (one row)."""
    d = json.loads(subprocess.run([FERRY, "inspect", "--json", model], capture_output=True, text=True).stdout)
    names = {t["name"] for t in d["tensors"]}
    return sum(int(t["nbytes"]) for t in d["tensors"] if t["name"] != "token_embd.weight" or "output.weight" not in names)


INTEROP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop")


def llamacpp_speed(model):
    """llama.cpp's own prompt and generation speed on the same file, 2 threads (tests/interop/
    llamacpp.mjs over the prebuilt CPU libraries of npm @node-llama-cpp/linux-x64), or None."""
    p = subprocess.run(["node", os.path.join(INTEROP, "llamacpp.mjs"), "speed", model, str(PROMPT), str(GEN), "2"],
                       capture_output=True, text=True)
    if p.returncode or not p.stdout.strip():
        return None
    d = json.loads(p.stdout.strip().splitlines()[-1])
    return d["prompt_tok_s"], d["gen_tok_s"]


def main():
    tmp = tempfile.mkdtemp(prefix="ferry-bench-inf-")
    cfg = make_llama.config(dim=768, layers=12, heads=12, kv_heads=12, ff=2048, vocab=32000, ctx=2048)
    w = make_llama.weights(cfg, seed=0)
    src = os.path.join(tmp, "hf")
    # llama.cpp needs a vocabulary: the Llama 2 tokenizer of the test data fits the 32000 rows
    testdata = os.environ.get("FERRY_TESTDATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                             "shared", "testdata"))
    spm = os.path.join(testdata, "llama2-tokenizer", "tokenizer.model")
    have_llamacpp = os.path.exists(spm) and os.path.isdir(os.path.join(INTEROP, "node_modules", "node-llama-cpp"))
    make_llama.write_hf(src, w, cfg, tokenizer=spm if have_llamacpp else None)
    if not have_llamacpp:
        print("# llama.cpp peer skipped: needs the test data's Llama 2 tokenizer and tests/interop/node_modules")
    print("# %.1fM parameters, prompt %d, generate %d, 2 threads" % (sum(t.numel() for t in w.values()) / 1e6, PROMPT, GEN))
    tpp, ttg = torch_speed(w, cfg)
    bw = membw()
    print("# streaming read bandwidth of this machine now, 2 threads: %.1f GB/s (bench/membw.c)" % bw)
    for kind in ("f32", "f16", "q8_0", "q4_0", "q4_k_m", "q6_k"):
        g = os.path.join(tmp, kind + ".gguf")
        subprocess.run([FERRY, "convert", src, "-o", g, "--type", kind, "-q"] + ([] if have_llamacpp else ["--no-vocab"]),
                       check=True)
        best = (0.0, 0.0)
        for _ in range(3):
            s = ferry_speed(g)
            best = (max(best[0], s[0]), max(best[1], s[1]))
        anchor = "  (%.0f%% of 0.8 x llama.cpp %d)" % (100 * best[1] / (0.8 * ANCHOR[kind]), ANCHOR[kind]) \
            if kind in ANCHOR else "  (no llama.cpp anchor given)"
        gbs = bytes_per_token(g) * best[1] / 1e9
        anchor += "  weights read %.1f GB/s%s" % (gbs, " = %.0f%% of the bandwidth now" % (100 * gbs / bw) if bw else "")
        print("gen-%s-vs-torch-f32  ferry=%.1f  peer=%.1f  ratio=%.2f%s" % (kind, best[1], ttg, best[1] / ttg, anchor))
        print("prompt-%s-vs-torch-f32  ferry=%.1f  peer=%.1f  ratio=%.2f" % (kind, best[0], tpp, best[0] / tpp))
        if have_llamacpp:
            runs = [r for r in (llamacpp_speed(g) for _ in range(3)) if r]
            if runs:
                lpp, ltg = max(r[0] for r in runs), max(r[1] for r in runs)
                print("gen-%s-vs-llama.cpp  ferry=%.1f  peer=%.1f  ratio=%.2f  (target >= 0.80)" %
                      (kind, best[1], ltg, best[1] / ltg))
                print("prompt-%s-vs-llama.cpp  ferry=%.1f  peer=%.1f  ratio=%.2f" % (kind, best[0], lpp, best[0] / lpp))
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
