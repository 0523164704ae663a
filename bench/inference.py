#!/usr/bin/python3
"""Benchmark: prompt processing (pp), token generation (tg) and perplexity speed of two
generated Llama models beside llama.cpp itself (its prebuilt CPU libraries from npm,
tests/interop/llamacpp.mjs) on the same GGUF files and threads, in the same run:
  134m  dim 768, 12 layers, vocab 32000 (Llama 2 tokenizer): F32 F16 BF16 Q8_0 Q4_0 Q4_K_M Q6_K,
        also beside a PyTorch float32 forward pass with a KV cache;
  1b    shaped like Llama 3.2 1B (dim 2048, 16 layers, 32 heads, 8 KV heads, FFN 8192, vocab
        128256, tied embeddings, Llama 3 tokenizer): F16 BF16 Q8_0 Q4_0 Q4_K_M Q6_K.
Prints `case  ferry=tok/s  peer=tok/s  ratio=ferry/peer` (higher = ferry faster), best of
--runs for each side with ferry and llama.cpp runs interleaved, and for generation the weight
bytes streamed per second beside the machine's streaming read bandwidth measured in the same
run (bench/membw.c). Perplexity: `ferry perplexity --ctx 512 --chunks 2` against llama.cpp
doing llama-perplexity's work (two chunks of 512 from position 0, outputs for the second half).
usage: bench/inference.py FERRY [--models 134m,1b] [--types q4_k_m,...] [--runs N] [--prompt N] [--gen N]
       [--threads N]"""
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


def option(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


FERRY = sys.argv[1]
MODELS = option("--models", "134m,1b").split(",")
TYPES = [t for t in option("--types", "").split(",") if t]  # all of a model's when empty
RUNS = int(option("--runs", "3"))
PROMPT, GEN, THREADS = int(option("--prompt", "512")), int(option("--gen", "128")), option("--threads", "2")


def torch_speed(w, cfg):
    torch.set_num_threads(int(THREADS))
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
    p = subprocess.run([FERRY, "run", model, "--ids", ids, "--temp", "0", "-n", str(GEN), "--threads", THREADS],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = re.search(r"prompt: \d+ tokens, ([\d.]+) tokens/s; generation: \d+ tokens, ([\d.]+) tokens/s", p.stderr)
    return (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)


def membw():
    """The machine's 2-thread streaming read bandwidth now (GB/s, bench/membw.c), or 0."""
    exe = os.path.join(tempfile.gettempdir(), "ferry-membw")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "membw.c")
    if subprocess.run(["cc", "-O2", "-march=native", "-o", exe, src, "-lpthread"], capture_output=True).returncode:
        return 0.0
    p = subprocess.run([exe, THREADS], capture_output=True, text=True)
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
    p = subprocess.run(["node", os.path.join(INTEROP, "llamacpp.mjs"), "speed", model, str(PROMPT), str(GEN), THREADS],
                       capture_output=True, text=True)
    if p.returncode or not p.stdout.strip():
        return None
    d = json.loads(p.stdout.strip().splitlines()[-1])
    return d["prompt_tok_s"], d["gen_tok_s"]


def ferry_ppl(model, text):
    p = subprocess.run([FERRY, "perplexity", model, text, "--ctx", "512", "--chunks", "2", "--threads", THREADS,
                        "--json"], capture_output=True, text=True)
    return 1024 / json.loads(p.stdout)["seconds"] if p.returncode == 0 else 0.0


def llamacpp_ppl(model):
    p = subprocess.run(["node", os.path.join(INTEROP, "llamacpp.mjs"), "ppl", model, "512", "2", THREADS],
                       capture_output=True, text=True)
    return json.loads(p.stdout.strip().splitlines()[-1])["tok_s"] if p.returncode == 0 and p.stdout.strip() else 0.0


def text_file(tmp):
    """Words enough for two chunks of 512 tokens with either tokenizer."""
    words = ("the cat sat on a mat while the small dog ran over the hill and then it was a very "
             "happy day for every one of them in the house by the river").split()
    path = os.path.join(tmp, "text.txt")
    with open(path, "w") as f:
        f.write(" ".join(words[(i * 7) % len(words)] for i in range(4000)))
    return path


def report(name, ferry, peer, extra=""):
    print("%s  ferry=%.1f  peer=%.1f  ratio=%.2f%s" % (name, ferry, peer, ferry / peer if peer else 0.0, extra), flush=True)


def bench_model(tag, src, kinds, tmp, text, bw, torch_peer=None):
    for kind in (k for k in kinds if not TYPES or k in TYPES):
        g = os.path.join(tmp, "%s-%s.gguf" % (tag, kind))
        subprocess.run([FERRY, "convert", src, "-o", g, "--type", kind, "-q", "--force"], check=True)
        f, l, fp, lp = [], [], [], []
        for _ in range(RUNS):  # interleaved, so a busy moment of the shared machine hits both
            f.append(ferry_speed(g))
            r = llamacpp_speed(g)
            if r:
                l.append(r)
            fp.append(ferry_ppl(g, text))
            lp.append(llamacpp_ppl(g))
        pp, tg = max(x[0] for x in f), max(x[1] for x in f)
        gbs = bytes_per_token(g) * tg / 1e9
        bwnote = "  weights read %.1f GB/s%s" % (gbs, " = %.0f%% of the bandwidth now" % (100 * gbs / bw) if bw else "")
        rng = lambda xs: "  (ferry runs %s)" % "/".join("%.0f" % x for x in xs)
        if l:
            report("pp%d-%s-%s-vs-llama.cpp" % (PROMPT, kind, tag), pp, max(x[0] for x in l), rng([x[0] for x in f]))
            report("tg%d-%s-%s-vs-llama.cpp" % (GEN, kind, tag), tg, max(x[1] for x in l), rng([x[1] for x in f]) + bwnote)
        if max(lp) > 0:
            report("perplexity-%s-%s-vs-llama.cpp" % (kind, tag), max(fp), max(lp), rng(fp))
        if torch_peer:
            report("tg%d-%s-%s-vs-torch-f32" % (GEN, kind, tag), tg, torch_peer[1])
            report("pp%d-%s-%s-vs-torch-f32" % (PROMPT, kind, tag), pp, torch_peer[0])
        os.unlink(g)


def main():
    tmp = tempfile.mkdtemp(prefix="ferry-bench-inf-")
    testdata = os.environ.get("FERRY_TESTDATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                             "shared", "testdata"))
    if not os.path.isdir(os.path.join(INTEROP, "node_modules", "node-llama-cpp")):
        print("# llama.cpp peer skipped: tests/interop/node_modules is missing (scripts/install-deps)")
    text = text_file(tmp)
    bw = membw()
    print("# streaming read bandwidth of this machine now, %s threads: %.1f GB/s (bench/membw.c)" % (THREADS, bw))
    print("# prompt %d, generate %d, %s threads, best of %d runs" % (PROMPT, GEN, THREADS, RUNS), flush=True)
    if "134m" in MODELS:
        cfg = make_llama.config(dim=768, layers=12, heads=12, kv_heads=12, ff=2048, vocab=32000, ctx=2048)
        w = make_llama.weights(cfg, seed=0)
        src = os.path.join(tmp, "hf134m")
        make_llama.write_hf(src, w, cfg, tokenizer=os.path.join(testdata, "llama2-tokenizer", "tokenizer.model"))
        print("# 134m: %.1fM parameters" % (sum(t.numel() for t in w.values()) / 1e6), flush=True)
        tp = torch_speed(w, cfg)
        del w
        bench_model("134m", src, ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q6_k"), tmp, text, bw, tp)
        subprocess.run(["rm", "-rf", src])
    if "1b" in MODELS:
        cfg = make_llama.config(dim=2048, layers=16, heads=32, kv_heads=8, ff=8192, vocab=128256, ctx=4096,
                                tied=True, llama3=True, theta=500000.0)
        w = make_llama.weights(cfg, seed=1, dtype=torch.bfloat16)
        src = os.path.join(tmp, "hf1b")
        make_llama.write_hf(src, w, cfg, tokenizer=os.path.join(testdata, "llama3-tokenizer", "tokenizer.model"))
        print("# 1b: %.1fM parameters (BF16 source)" % (sum(t.numel() for t in w.values()) / 1e6), flush=True)
        del w
        bench_model("1b", src, ("f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q6_k"), tmp, text, bw)
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
