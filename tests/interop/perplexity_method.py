#!/usr/bin/python3
"""ferry perplexity against llama-perplexity's method, computed here over the tests' own
float64 Llama (make_llama.forward): the text tokenized with BOS first, chunks of --ctx tokens
from position 0 with the first token replaced by BOS, only the second half of each chunk scored.
The perplexity must agree within 1e-4 relative (a window starting with the text's first token
instead of BOS, as ferry did before, is far off). The --kl-divergence-base file is read here
from llama-perplexity's format definition ("_logits_", ctx, vocab, chunks, tokens, then per
scored position two floats and the 16-bit log-prob steps): its tokens and log-probs must match,
a model compared with its own base shows no divergence, and a Q8_0 copy's KL divergence,
perplexities and top-1 agreement must equal what this test computes from the base file and the
Q8_0 logits (`ferry logits`), as llama-perplexity defines them.
usage: perplexity_method.py FERRY WORKDIR"""
import json
import math
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from servers import Checks  # noqa: E402
from skips import skip_test  # noqa: E402

FERRY, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()
try:
    import make_llama
except ImportError:
    skip_test("torch missing (the reference)")

spm = make_llama.demo_tokenizer(FERRY, WORK)
if not spm:
    skip_test("ferry demo made no tokenizer.model", installed_by_deps=False)
cfg = make_llama.config(dim=64, layers=2, heads=4, kv_heads=2, ff=96, vocab=512, ctx=128)
w = make_llama.weights(cfg, seed=21)
model = os.path.join(WORK, "model")
make_llama.write_hf(model, w, cfg, tokenizer=spm)
words = "a small model reads the text and guesses every next piece of it as well as it can".split()
text = os.path.join(WORK, "text.txt")
open(text, "w").write(" ".join(np.random.default_rng(4).choice(words, 120)) + "\n")
CTX = 32


def run(*args, **kw):
    return subprocess.run([FERRY, *args], capture_output=True, text=True, **kw)


ids = [int(t) for t in run("tokenize", model, "--no-parse-special", "--stdin", stdin=open(text)).stdout.split()]
chunks = len(ids) // CTX
check(chunks >= 2, "the text gives %d chunks of %d" % (chunks, CTX))
first = CTX // 2


def log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def reference(bos=True):
    nll = []
    for c in range(chunks):
        chunk = list(ids[c * CTX:(c + 1) * CTX])
        if bos:
            chunk[0] = ids[0]
        lp = log_softmax(make_llama.forward(w, cfg, chunk))
        nll += [-lp[i, chunk[i + 1]] for i in range(first, CTX - 1)]
    return float(np.exp(np.mean(nll))), len(nll)


ref_ppl, count = reference()
r = run("perplexity", model, text, "--ctx", str(CTX), "--json")
doc = json.loads(r.stdout) if r.returncode == 0 else {}
got = doc.get("perplexity", 0)
check(abs(got - ref_ppl) < 1e-4 * ref_ppl and doc.get("tokens") == count and doc.get("chunks") == chunks,
      "perplexity %.6f over %s tokens equals llama-perplexity's method in float64: %.6f over %d (%s)"
      % (got, doc.get("tokens"), ref_ppl, count, r.stderr.strip()[-150:]))
wrong, _ = reference(bos=False)
check(abs(wrong - ref_ppl) > 1e-3 * ref_ppl, "the check can fail: without BOS in each chunk it would be %.4f" % wrong)
r = run("perplexity", model, text, "--ctx", str(CTX))
check(r.returncode == 0 and "[1]" in r.stdout and "Final estimate: PPL = %.4f" % got in r.stdout,
      "llama-perplexity's output form ([1]x,[2]y,... and Final estimate) (%s)" % r.stdout.strip()[-120:])

# the base file, read from the format's definition
f32 = os.path.join(WORK, "f32.gguf")
q8 = os.path.join(WORK, "q8.gguf")
run("convert", model, "-o", f32, "--type", "f32", "-q")
run("convert", model, "-o", q8, "--type", "q8_0", "-q")
base = os.path.join(WORK, "base.kld")
r = run("perplexity", f32, text, "--ctx", str(CTX), "--kl-divergence-base", base, "--json")
b = open(base, "rb").read() if os.path.exists(base) else b""
V = cfg["vocab_size"]
nv = 2 * ((V + 1) // 2) + 4
nscore = CTX - 1 - first
ok = b[:8] == b"_logits_" and struct.unpack_from("<3i", b, 8) == (CTX, V, chunks)
toks = list(struct.unpack_from("<%di" % (chunks * CTX), b, 20)) if ok else []
check(ok and toks == ids[:chunks * CTX] and len(b) == 20 + 4 * chunks * CTX + chunks * nscore * nv * 2,
      "base file: header (%d, %d, %d), the text's tokens and %d records of %d steps"
      % (CTX, V, chunks, chunks * nscore, nv))
recs = np.frombuffer(b, np.uint16, offset=20 + 4 * chunks * CTX).reshape(chunks * nscore, nv) if ok else None


def decode(rec):
    scale, lo = struct.unpack("<2f", rec[:4].tobytes())
    return scale * rec[4:4 + V].astype(np.float64) + lo, scale


worst = 0.0
for c in range(chunks if ok else 0):
    chunk = list(ids[c * CTX:(c + 1) * CTX])
    chunk[0] = ids[0]
    lp = log_softmax(make_llama.forward(w, cfg, chunk))
    for i in range(nscore):
        got_lp, scale = decode(recs[c * nscore + i])
        want = lp[first + i]
        keep = want > want.max() - 16
        worst = max(worst, float(np.max(np.abs(got_lp[keep] - want[keep])) / max(scale, 1e-12)))
check(ok and worst < 0.6, "every stored log-prob within 0.6 of its 16-bit step of PyTorch's (worst %.3f steps)" % worst)

r = run("perplexity", f32, "--kl-divergence-base", base, "--kl-divergence", "--json")
self_doc = json.loads(r.stdout) if r.returncode == 0 else {}
k = self_doc.get("kl_divergence", {})
check(k and k["mean"] < 1e-4 and k["same_top"] == 1.0 and abs(k["ppl_base"] - self_doc["perplexity"]) < 1e-3 * k["ppl_base"],
      "the reference against its own base: KL %s, same top %s (%s)" % (k.get("mean"), k.get("same_top"), r.stderr[-100:]))

r = run("perplexity", q8, "--kl-divergence-base", base, "--kl-divergence", "--json")
qd = json.loads(r.stdout) if r.returncode == 0 else {}
kq = qd.get("kl_divergence", {})
# the same statistics from the base file and Q8_0's own logits
kls, nll, nll_b, same = [], [], [], 0
for c in range(chunks if ok else 0):
    chunk = list(ids[c * CTX:(c + 1) * CTX])
    chunk[0] = ids[0]
    npy = os.path.join(WORK, "q8-%d.npy" % c)
    run("logits", q8, "--ids", ",".join(map(str, chunk)), "--all-positions", "-o", npy, "--force")
    lq = log_softmax(np.load(npy).astype(np.float64))
    for i in range(nscore):
        lpb, _ = decode(recs[c * nscore + i])
        nxt = ids[c * CTX + first + i + 1]
        sel = lpb > -16
        kls.append(float(np.sum(np.exp(lpb[sel]) * (lpb[sel] - lq[first + i][sel]))))
        nll.append(-lq[first + i][nxt])
        nll_b.append(-lpb[nxt])
        same += int(np.argmax(lq[first + i]) == np.argmax(lpb))
if kls:
    want = {"mean": np.mean(kls), "ppl": float(np.exp(np.mean(nll))), "ppl_base": float(np.exp(np.mean(nll_b))),
            "same_top": same / len(kls), "max": max(kls)}
    gotk = {"mean": kq.get("mean", -1), "ppl": qd.get("perplexity", -1), "ppl_base": kq.get("ppl_base", -1),
            "same_top": kq.get("same_top", -1), "max": kq.get("max", -1)}
    close = all(abs(gotk[x] - want[x]) <= 1e-4 * max(abs(want[x]), 1e-3) for x in want)
    check(close and want["mean"] > 1e-5, "Q8_0 against the base: %s equals %s" % (gotk, want))

# ferry check over the whole text: windows of BOS + CTX-1 tokens, every position counted once;
# the combined KL, top-1 and perplexities equal those computed here from each window's logits
r = run("check", q8, "--ref", f32, "--prompt-file", text, "--ctx", str(CTX), "--json")
cd = json.loads(r.stdout) if r.stdout.strip() else {}
kl, top, nr, nc, npos, npred = 0.0, 0, 0.0, 0.0, 0, 0
for start in range(1, len(ids), CTX - 1):
    win = [ids[0]] + ids[start:start + CTX - 1]
    ll = {}
    for tag, mdl in (("q", q8), ("r", f32)):
        npy = os.path.join(WORK, "win-%s.npy" % tag)
        run("logits", mdl, "--ids", ",".join(map(str, win)), "--all-positions", "-o", npy, "--force")
        ll[tag] = log_softmax(np.load(npy).astype(np.float64))
    kl += float(np.sum(np.exp(ll["r"]) * (ll["r"] - ll["q"])))
    top += int(np.sum(ll["r"].argmax(-1) == ll["q"].argmax(-1)))
    nr += -sum(ll["r"][t, win[t + 1]] for t in range(len(win) - 1))
    nc += -sum(ll["q"][t, win[t + 1]] for t in range(len(win) - 1))
    npos += len(win)
    npred += len(win) - 1
want = {"positions": npos, "mean_kl": kl / npos, "top1": top / npos, "ppl_ref": math.exp(nr / npred),
        "ppl_candidate": math.exp(nc / npred)}
close = cd.get("positions") == npos and all(abs(cd.get(k, -1) - v) <= 1e-6 * max(abs(v), 1e-3) for k, v in want.items()
                                            if k != "positions")
check(close and npos == len(ids) - 1 + (len(ids) - 2) // (CTX - 1) + 1,
      "check over the whole text in %d windows: %s equals %s" % ((len(ids) - 2) // (CTX - 1) + 1,
                                                                  {k: cd.get(k) for k in want}, want))

# refusals
r = run("perplexity", model, "--kl-divergence-base", text, "--kl-divergence")
check(r.returncode == 65 and "_logits_" in r.stderr, "a text given as base file: exit 65 (%d: %s)" % (r.returncode, r.stderr.strip()[-100:]))
short = os.path.join(WORK, "short.txt")
open(short, "w").write("a small model\n")
r = run("perplexity", model, short, "--ctx", str(CTX))
check(r.returncode == 64 and "two chunks" in r.stderr, "too short a text: exit 64 (%d)" % r.returncode)
check.finish()
