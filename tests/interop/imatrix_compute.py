#!/usr/bin/python3
"""ferry imatrix against PyTorch: this test's own float64 Llama (the forward pass of
forward_torch.py, written from the math) with a hook on every weight's input sums the squares
of each input column over the same chunks llama-imatrix would make (the text tokenized with BOS
first, cut into --ctx tokens, each chunk's first token replaced by BOS), and every in_sum2 ferry
writes must be within 1e-5 relative of it, with the token counts and llama-imatrix's keys. The
file ferry wrote then quantizes to the same bytes through ferry convert --imatrix and through
llama.cpp's llama_model_quantize fed what llama-quantize derives from it.
usage: imatrix_compute.py FERRY WORKDIR"""
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gguf_min import read as read_gguf  # noqa: E402
import llama_quant  # noqa: E402
from llama_quant import FTYPES, compare, tensors  # noqa: E402
from servers import Checks  # noqa: E402
from skips import skip_part, skip_test  # noqa: E402

FERRY, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()
try:
    import make_llama
except ImportError:
    skip_test("torch missing (the reference)")


def ferry(*args):
    return subprocess.run([FERRY, *args], capture_output=True, text=True)


spm = make_llama.demo_tokenizer(FERRY, WORK)
if not spm:
    skip_test("ferry demo made no tokenizer.model", installed_by_deps=False)
cfg = make_llama.config(dim=64, layers=2, heads=4, kv_heads=2, ff=96, vocab=512, ctx=128)
w = make_llama.weights(cfg, seed=11)
model = os.path.join(WORK, "model")
make_llama.write_hf(model, w, cfg, tokenizer=spm)
words = ("the model weights move between formats machines and organisations while a careful "
         "reader checks every byte and every signature before trusting them").split()
rng = np.random.default_rng(3)
text = os.path.join(WORK, "calibration.txt")
open(text, "w").write(" ".join(rng.choice(words, 400)) + "\n")
CTX = 32

r = subprocess.run([FERRY, "tokenize", model, "--no-parse-special", "--stdin"], stdin=open(text),
                   capture_output=True, text=True)
ids = [int(t) for t in r.stdout.split()]
check(r.returncode == 0 and len(ids) > 3 * CTX, "the text tokenizes to %d tokens (BOS first: %s)" % (len(ids), ids[:3]))
chunks = len(ids) // CTX


def reference_sums():
    """per GGUF weight name: float64 sums of squared inputs over the chunks, and the tokens"""
    sums = {}

    def seen(name, x):
        if name.startswith("blk."):
            sums[name] = sums.get(name, 0) + (x * x).sum(0)

    for c in range(chunks):
        chunk = list(ids[c * CTX:(c + 1) * CTX])
        chunk[0] = ids[0]  # BOS
        make_llama.forward(w, cfg, chunk, seen)
    return {k: v.numpy() for k, v in sums.items()}, chunks * CTX


im = os.path.join(WORK, "imatrix.gguf")
r = ferry("imatrix", model, text, "-o", im, "--ctx", str(CTX))
check(r.returncode == 0 and os.path.exists(im), "ferry imatrix wrote %s (%s)" % (im, r.stderr.strip()[-200:]))
ref, tokens = reference_sums()
nkv, kv, got = read_gguf(im)
names = sorted(n[: -len(".in_sum2")] for n in got if n.endswith(".in_sum2"))
check(names == sorted(ref), "one entry per weight of the blocks, output.weight and token_embd left out (%s)" % names[:4])
worst = 0.0
for n in names:
    t, dims, blob = got[n + ".in_sum2"]
    s = np.frombuffer(blob, np.float32).astype(np.float64)
    cnt = np.frombuffer(got[n + ".counts"][2], np.float32)
    worst = max(worst, float(np.max(np.abs(s - ref[n]) / np.maximum(np.abs(ref[n]), 1e-30))))
    if cnt.tolist() != [tokens] or tuple(dims) != (ref[n].size, 1):
        check(False, "%s: counts %s (want [%d]), dims %s" % (n, cnt.tolist(), tokens, dims))
check(worst < 1e-5, "in_sum2 within 1e-5 relative of PyTorch's float64 sums (worst %.2e)" % worst)
if llama_quant.load() is None:
    skip_part("node-llama-cpp's libllama missing (npm install in tests/interop)")
    check.finish()
meta = llama_quant.dump(im)["metadata"]
keys = {k: meta[k]["value"] for k in ("general.type", "imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size")
        if k in meta}
check(keys == {"general.type": "imatrix", "imatrix.datasets": [text], "imatrix.chunk_count": chunks,
               "imatrix.chunk_size": CTX}, "llama-imatrix's keys, as @huggingface/gguf reads them (%s)" % keys)

# quantizing with it: ferry and llama.cpp's own quantizer agree byte for byte
lq = llama_quant.load()
f32 = os.path.join(WORK, "f32.gguf")
ferry("convert", model, "-o", f32, "--type", "f32", "-q")
values = {n: (np.frombuffer(got[n + ".in_sum2"][2], np.float32) /
              np.frombuffer(got[n + ".counts"][2], np.float32)[0]).astype(np.float32) for n in names}
kvs = [("quantize.imatrix.file", im), ("quantize.imatrix.dataset", text),
       ("quantize.imatrix.entries_count", len(values)), ("quantize.imatrix.chunks_count", chunks)]
for ft in ("q4_0", "q4_k_m"):
    theirs, ours = os.path.join(WORK, "lq.gguf"), os.path.join(WORK, "fq.gguf")
    rc = lq.quantize(f32, theirs, FTYPES[ft], imatrix=values, kv=kvs)
    r = ferry("convert", model, "-o", ours, "--type", ft, "--imatrix", im, "-q", "--force")
    bad = compare(tensors(theirs), tensors(ours)) if rc == 0 and r.returncode == 0 else ["(failed: %d %s)" % (rc, r.stderr[-100:])]
    check(not bad, "%s with ferry's imatrix: every tensor equals llama-quantize's %s" % (ft, bad[:4]))

# the same tokens given as ids (a model without a tokenizer): the same sums
idf = os.path.join(WORK, "calibration.ids")
open(idf, "w").write("\n".join(" ".join(map(str, ids[i:i + 50])) for i in range(0, len(ids), 50)))
im2 = os.path.join(WORK, "from-ids.gguf")
r = ferry("imatrix", model, "--ids-file", idf, "-o", im2, "--ctx", str(CTX))
same_sums = r.returncode == 0 and {n: v[2] for n, v in read_gguf(im2)[2].items()} == {n: v[2] for n, v in got.items()}
check(same_sums, "--ids-file with the text's token ids gives the same sums and counts (%s)" % r.stderr.strip()[-120:])

# too little text for two chunks: refused as llama-imatrix refuses it
short = os.path.join(WORK, "short.txt")
open(short, "w").write("the model\n")
r = ferry("imatrix", model, short, "-o", os.path.join(WORK, "short.gguf"), "--ctx", str(CTX))
check(r.returncode == 64 and "two chunks" in r.stderr and not os.path.exists(os.path.join(WORK, "short.gguf")),
      "a text shorter than two chunks: exit 64 (%d: %s)" % (r.returncode, r.stderr.strip()[-120:]))
check.finish()
