#!/usr/bin/python3
"""ferry perplexity beside llama.cpp itself (its prebuilt CPU libraries from npm, driven by
llamacpp.mjs `scores`) on the same GGUF files and the same token ids, with llama-perplexity's
method: chunks of CTX tokens from position 0 with BOS in the first place, the second half of
each chunk scored.
- F32 and F16: the perplexity computed here (float64 softmax) from every logit llama.cpp gives
  at the scored positions must equal ferry's to 4 significant digits.
- KL divergence of Q4_K_M from its F16 base, as llama-perplexity --kl-divergence reports it:
  ferry's (its base file, then --kl-divergence) beside the mean KL computed here from every
  logit llama.cpp gives for both files at the scored positions. The two runtimes round their
  products differently (llama.cpp's F16 matmul takes F16 activations, ferry's F32; their Q4_K
  kernels sum in other orders), so agreement is asked to 1% of the value (0.01% was seen), and
  the two runtimes' own disagreement on the F16 file must be under 1% of it.
llama.cpp runs with an F32 key/value cache, as ferry keeps one: with its default F16 cache the
F32 perplexities differed by 2.1e-4 of their value, which fails the 4-digit check.
usage: perplexity_llamacpp.py FERRY WORKDIR"""
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from servers import Checks  # noqa: E402
import llamacpp_peer  # noqa: E402
from skips import skip_test  # noqa: E402

FERRY, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
if not os.path.isdir(os.path.join(HERE, "node_modules", "node-llama-cpp")) or not shutil.which("node"):
    skip_test("node-llama-cpp not installed (scripts/install-deps)")
try:
    import make_llama
except ImportError:
    skip_test("torch missing (make_llama writes the model)")
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()

spm = make_llama.demo_tokenizer(FERRY, WORK)
if not spm:
    skip_test("ferry demo made no tokenizer.model", installed_by_deps=False)
# every matrix a multiple of 256 wide, so Q4_K_M keeps its K-quants
cfg = make_llama.config(dim=256, layers=2, heads=4, kv_heads=2, ff=512, vocab=512, ctx=128)
model = os.path.join(WORK, "model")
make_llama.write_hf(model, make_llama.weights(cfg, seed=5), cfg, tokenizer=spm)
words = "a small model reads the text and guesses every next piece of it as well as it can".split()
text = os.path.join(WORK, "text.txt")
open(text, "w").write(" ".join(np.random.default_rng(9).choice(words, 420)) + "\n")
CTX, V = 64, cfg["vocab_size"]


def run(*args, **kw):
    return subprocess.run([FERRY, *args], capture_output=True, text=True, **kw)


def llamacpp(*args):
    return llamacpp_peer.llamacpp(check, *args)


files = {}
for kind in ("f32", "f16", "q4_k_m"):
    files[kind] = os.path.join(WORK, kind + ".gguf")
    r = run("convert", model, "-o", files[kind], "--type", kind, "-q")
    check(r.returncode == 0, "convert %s: %s" % (kind, r.stderr[-200:]))
ids = [int(t) for t in run("tokenize", model, "--no-parse-special", "--stdin", stdin=open(text)).stdout.split()]
chunks = len(ids) // CTX
check(chunks >= 4, "the text gives %d chunks of %d tokens" % (chunks, CTX))
idlist = ",".join(map(str, ids[:chunks * CTX]))


def log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def logits(kind):
    """log-softmax (float64) of llama.cpp's logits at every scored position of every chunk"""
    rows = llamacpp("scores", files[kind], str(CTX), idlist, str(V)).get("logits", [])
    ok = len(rows) == chunks * (CTX // 2 - 1) and all(v is not None for row in rows for v in row)
    check(bool(ok), "llama.cpp gives all %d logits of %d positions of %s" % (V, len(rows), kind))
    return log_softmax(np.array(rows, dtype=np.float64)) if ok else None


# the token each scored position predicts
nexts = [ids[c * CTX + i + 1] for c in range(chunks) for i in range(CTX // 2, CTX - 1)]
lps = {}
for kind in ("f32", "f16"):
    r = run("perplexity", files[kind], text, "--ctx", str(CTX), "--json", "--threads", "2")
    ours = json.loads(r.stdout).get("perplexity", 0) if r.returncode == 0 else 0
    lps[kind] = logits(kind)
    theirs = math.exp(-float(np.mean(lps[kind][np.arange(len(nexts)), nexts]))) if lps[kind] is not None else 0
    check("%.4g" % ours == "%.4g" % theirs and abs(ours - theirs) < 1e-4 * theirs,
          "%s: ferry perplexity %.6f, from llama.cpp's logits %.6f over %d positions (4 digits: %.4g, %.4g)"
          % (kind, ours, theirs, len(nexts), ours, theirs))

base, quant = lps["f16"], logits("q4_k_m")
kl_theirs = float(np.mean(np.sum(np.exp(base) * (base - quant), -1))) if base is not None and quant is not None else 0
kld = os.path.join(WORK, "f16.kld")
r = run("perplexity", files["f16"], text, "--ctx", str(CTX), "--kl-divergence-base", kld, "--threads", "2")
check(r.returncode == 0, "ferry perplexity f16 --kl-divergence-base: %s" % r.stderr[-200:])
r = run("perplexity", files["q4_k_m"], "--kl-divergence-base", kld, "--kl-divergence", "--json", "--threads", "2")
kl_ours = json.loads(r.stdout).get("kl_divergence", {}).get("mean", 0) if r.returncode == 0 else 0
# how far the two runtimes are apart on the same F16 file: ferry's log-probs at the same positions
ferry_f16 = []
for c in range(chunks):
    chunk = ids[c * CTX:(c + 1) * CTX]
    chunk[0] = ids[0]
    npy = os.path.join(WORK, "f16-%d.npy" % c)
    run("logits", files["f16"], "--ids", ",".join(map(str, chunk)), "--all-positions", "-o", npy, "--force")
    ferry_f16.append(log_softmax(np.load(npy).astype(np.float64))[CTX // 2:CTX - 1])
ferry_f16 = np.concatenate(ferry_f16)
runtimes = float(np.mean(np.sum(np.exp(base) * (base - ferry_f16), -1))) if base is not None else 1
check(kl_theirs > 1e-4 and abs(kl_ours - kl_theirs) <= 0.01 * kl_theirs and runtimes < 0.01 * kl_theirs,
      "KL divergence of Q4_K_M from F16: ferry %.6f, from llama.cpp's logits %.6f (%.3f%% apart); "
      "llama.cpp's F16 against ferry's F16: %.2e" % (kl_ours, kl_theirs, 100 * abs(kl_ours - kl_theirs) /
                                                   max(kl_theirs, 1e-12), runtimes))
check.finish()
