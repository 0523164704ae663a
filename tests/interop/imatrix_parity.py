#!/usr/bin/python3
"""ferry convert --imatrix against llama-quantize --imatrix (llama.cpp's own libllama through
llama_quant.py). The importance matrices are written here from the file formats' definitions
(llama.cpp's common/imatrix-loader and tools/imatrix): a GGUF imatrix (NAME.in_sum2 of shape
(ne0, experts) and NAME.counts, keys imatrix.datasets/chunk_count/chunk_size) and the legacy
.dat (entries of name, call count and sums times that count, then the chunk count and dataset).
llama_model_quantize takes the values llama-quantize derives from such a file (sums / count in
float32, 1 where a count is 0; legacy sums / calls), computed here independently of ferry, and
the metadata keys llama-quantize adds. Every tensor's type and bytes must be equal, and the
quantize.imatrix.* keys too, for a model shaped like Llama 3.2 1B and one 288 wide (rows that
take the 32-block fallbacks), in every legacy, k, IQ and ternary file type, and for a 70B-shaped
one in the lowest types (whose rules count layers and query heads per KV head). Also checked: the entries
--include-weights/--exclude-weights keep, and refusals of matrices that do not fit the model.
Without --all (the default suite, about two thirds of the time) the 1B shape leaves out IQ1_S,
IQ2_XS and IQ2_S (their rules are IQ1_M's, IQ2_XXS's and IQ2_M's, and the 288-wide model runs
their quantizers) and the 70B shape runs one type per rule (Q2_K_S, IQ1_M, IQ2_M); the test
labelled `slow` runs with --all.
usage: imatrix_parity.py FERRY WORKDIR [--all]"""
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import llama_quant  # noqa: E402
from llama_quant import FTYPES, compare, tensors  # noqa: E402
from gguf_min import write as write_gguf  # noqa: E402
from servers import Checks  # noqa: E402
from skips import skip_test  # noqa: E402

FERRY, WORK = sys.argv[1], os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()
try:
    import make_llama
except ImportError:
    skip_test("torch missing (the test model)")
lq = llama_quant.load()
if lq is None:
    skip_test("node-llama-cpp's libllama missing (npm install in tests/interop)")
rng = np.random.default_rng(7)


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def weight_shapes(path):
    """{name: columns} of the 2-D weights of a GGUF file"""
    doc = llama_quant.dump(path)
    return {t["name"]: int(t["shape"][0]) for t in doc["tensors"] if len(t["shape"]) == 2}


def make_stats(cols, skip=()):
    """per weight: raw sums of squared activations (as llama-imatrix accumulates them) and a
    token count; a few columns never activated, one weight whose count is 0"""
    stats = {}
    for i, (name, n) in enumerate(sorted(cols.items())):
        if name in skip:
            continue
        sums = (rng.gamma(0.6, 2.0, n) * 40).astype(np.float32)
        sums[rng.integers(0, n, 3)] = 0
        count = 0 if i == 3 else int(rng.integers(200, 900))
        stats[name] = (sums, count)
    return stats


def write_gguf_imatrix(path, stats, dataset="calibration.txt", chunks=12):
    kvs = [gstr("general.type") + struct.pack("<I", 8) + gstr("imatrix"),
           gstr("imatrix.datasets") + struct.pack("<IIQ", 9, 8, 1) + gstr(dataset),
           gstr("imatrix.chunk_count") + struct.pack("<II", 4, chunks),
           gstr("imatrix.chunk_size") + struct.pack("<II", 4, 512)]
    tens = {}
    for name, (sums, count) in stats.items():
        tens[name + ".in_sum2"] = (0, [sums.size, 1], sums.tobytes())
        tens[name + ".counts"] = (0, [1, 1], np.array([count], np.float32).tobytes())
    write_gguf(path, len(kvs), b"".join(kvs), tens)


def gguf_values(stats):
    """what llama-quantize feeds the quantizers from a GGUF imatrix"""
    out = {}
    for name, (sums, count) in stats.items():
        out[name] = (sums / np.float32(count)).astype(np.float32) if count > 0 else np.ones_like(sums)
    return out


def write_legacy(path, stats, dataset="legacy.txt", chunks=9):
    """llama-imatrix's old format: sums of (raw/count) times ncall, with ncall per entry"""
    b = struct.pack("<i", len(stats))
    for name, (sums, count) in stats.items():
        ncall = max(count // 64, 0)
        vals = (sums / np.float32(max(count, 1)) * np.float32(ncall)).astype(np.float32)
        b += struct.pack("<i", len(name)) + name.encode() + struct.pack("<ii", ncall, vals.size) + vals.tobytes()
        stats[name] = (vals, ncall)  # what the file now holds
    b += struct.pack("<ii", chunks, len(dataset)) + dataset.encode()
    open(path, "wb").write(b)


def legacy_values(stats):
    return {n: (v / np.float32(c)).astype(np.float32) if c > 0 else v.copy() for n, (v, c) in stats.items()}


def meta(path):
    m = llama_quant.dump(path)["metadata"]
    return {k: m[k]["value"] for k in m if k.startswith("quantize.imatrix.")}


def same(tag, args, ftype, values, kv, pure=False, output=None):
    theirs, ours = os.path.join(WORK, "lq.gguf"), os.path.join(WORK, "fq.gguf")
    rc = lq.quantize(f32, theirs, ftype, pure=pure, imatrix=values, kv=kv, output=output)
    r = subprocess.run([FERRY, "convert", src, "-o", ours, "--no-vocab", "-q", "--force", *args],
                       capture_output=True, text=True)
    if rc != 0 or r.returncode != 0:
        check(False, "%s %s: llama-quantize %d, ferry %d (%s)" % (shape, tag, rc, r.returncode, r.stderr.strip()[-200:]))
        return
    bad = compare(tensors(theirs), tensors(ours))
    check(not bad, "%s %s: every tensor's type and bytes equal llama-quantize's%s"
          % (shape, tag, "" if not bad else " -- differ: " + ", ".join(bad[:6]) + (" ..." if len(bad) > 6 else "")))
    mt, mo = meta(theirs), meta(ours)
    check(mt == mo and mt, "%s %s: quantize.imatrix.* keys equal (%s)" % (shape, tag, mo if mt == mo else (mt, mo)))
    for p in (theirs, ours):
        os.remove(p)


# the 70B shape (80 layers, 8 query heads per KV head) only in file types whose rules look at the
# layer count or the grouping, one of each rule (iq1_s, iq2_xs and iq2_s share theirs with
# iq1_m, iq2_xxs and iq2_m)
LOW = ("q2_k_s", "iq1_m", "iq2_xxs", "iq2_m", "iq3_xxs", "iq3_xs")
ALL = "--all" in sys.argv[3:]
QUICK_SKIP = {"1B-shaped": {"iq1_s", "iq2_xs", "iq2_s"},
              "70B-shaped": {"iq2_xxs", "iq3_xxs", "iq3_xs"}}
for shape, cfg in (("1B-shaped", make_llama.config(dim=256, layers=16, heads=8, kv_heads=2, ff=512, vocab=512)),
                   ("70B-shaped", make_llama.config(dim=256, layers=80, heads=8, kv_heads=1, ff=256, vocab=256)),
                   ("288-wide", make_llama.config(dim=288, layers=4, heads=6, kv_heads=2, ff=768, vocab=320))):
    src = os.path.join(WORK, shape)
    make_llama.write_hf(src, make_llama.weights(cfg, seed=5), cfg)
    f32 = os.path.join(WORK, shape + "-f32.gguf")
    r = subprocess.run([FERRY, "convert", src, "-o", f32, "--type", "f32", "--no-vocab", "-q"], capture_output=True, text=True)
    check(r.returncode == 0, "%s: F32 GGUF for llama-quantize (%s)" % (shape, r.stderr.strip()[-200:]))
    cols = weight_shapes(f32)
    # llama-imatrix records no token_embd (it is a lookup, not a matrix product)
    stats = make_stats(cols, skip={"token_embd.weight"})
    im = os.path.join(WORK, "imatrix.gguf")
    write_gguf_imatrix(im, stats)
    values = gguf_values(stats)
    kv = [("quantize.imatrix.file", im), ("quantize.imatrix.dataset", "calibration.txt"),
          ("quantize.imatrix.entries_count", len(values)), ("quantize.imatrix.chunks_count", 12)]
    for name, ft in FTYPES.items():
        if not ALL and name in QUICK_SKIP.get(shape, ()):
            continue
        if shape != "70B-shaped" or name in LOW:
            same(name + " --imatrix (GGUF)", ["--type", name, "--imatrix", im], ft, values, kv)
    if shape != "1B-shaped":
        shutil.rmtree(src)
        os.remove(f32)
        continue
    # the comparison can fail: without the imatrix ferry's bytes differ from llama-quantize's
    # with it in every quantized weight, and q4_0 keeps its first ffn_down layers in Q4_0
    theirs, ours = os.path.join(WORK, "lq.gguf"), os.path.join(WORK, "fq.gguf")
    for ft in ("q4_k_m", "q4_0"):
        lq.quantize(f32, theirs, FTYPES[ft], imatrix=values, kv=kv)
        subprocess.run([FERRY, "convert", src, "-o", ours, "--no-vocab", "-q", "--force", "--type", ft], check=True)
        bad = compare(tensors(theirs), tensors(ours))
        check(len(bad) >= len(values) - 1, "%s without --imatrix: %d of %d weights differ from llama-quantize's "
              "with it (%s)" % (ft, len(bad), len(values), ", ".join(b for b in bad if "ffn_down" in b)[:120]))
    same("q4_k_m --pure --imatrix", ["--type", "q4_k_m", "--pure", "--imatrix", im], FTYPES["q4_k_m"], values, kv,
         pure=True)
    # an output type given by hand is weighted by the imatrix too
    same("q4_k_m --output-tensor-type q2_k --imatrix", ["--type", "q4_k_m", "--output-tensor-type", "q2_k",
         "--imatrix", im], FTYPES["q4_k_m"], values, kv, output="q2_k")
    # llama.cpp's IQ2_XXS/IQ2_XS/IQ1_S quantizers stop without weights, and llama-imatrix never
    # records token_embd: refused, not crashed
    out = os.path.join(WORK, "x.gguf")
    r = subprocess.run([FERRY, "convert", src, "-o", out, "--no-vocab", "--type", "q4_k_m", "--imatrix", im,
                        "--token-embedding-type", "iq2_xxs"], capture_output=True, text=True)
    check(r.returncode == 64 and "token_embd.weight" in r.stderr and "importance matrix" in r.stderr
          and not os.path.exists(out), "--token-embedding-type iq2_xxs: exit 64 naming token_embd (%d: %s)"
          % (r.returncode, r.stderr.strip()[-160:]))
    # the legacy .dat
    leg = os.path.join(WORK, "imatrix.dat")
    lstats = dict(stats)
    write_legacy(leg, lstats)
    lvals = legacy_values(lstats)
    lkv = [("quantize.imatrix.file", leg), ("quantize.imatrix.dataset", "legacy.txt"),
           ("quantize.imatrix.entries_count", len(lvals)), ("quantize.imatrix.chunks_count", 9)]
    for name in ("q4_0", "q3_k_m", "q4_k_m", "q6_k"):
        same(name + " --imatrix (legacy .dat)", ["--type", name, "--imatrix", leg], FTYPES[name], lvals, lkv)
    # --exclude-weights, then --include-weights, by substring
    kept = {n: v for n, v in values.items() if "attn_k" not in n and ("ffn" in n or "attn" in n)}
    kkv = [kv[0], kv[1], ("quantize.imatrix.entries_count", len(kept)), kv[3]]
    same("q4_k_m --include-weights ffn --include-weights attn --exclude-weights attn_k",
         ["--type", "q4_k_m", "--imatrix", im, "--include-weights", "ffn", "--include-weights", "attn",
          "--exclude-weights", "attn_k"], FTYPES["q4_k_m"], kept, kkv)

    # refusals: a matrix of another model's widths, bad files
    wrong = {n: (np.ones(c + 32, np.float32), 10) for n, c in cols.items() if n != "token_embd.weight"}
    bad_im = os.path.join(WORK, "other.gguf")
    write_gguf_imatrix(bad_im, wrong)
    out = os.path.join(WORK, "x.gguf")
    r = subprocess.run([FERRY, "convert", src, "-o", out, "--no-vocab", "--type", "q4_k_m", "--imatrix", bad_im],
                       capture_output=True, text=True)
    check(r.returncode == 65 and "another model" in r.stderr and "other.gguf" in r.stderr and not os.path.exists(out),
          "an imatrix of other widths: exit 65 naming the file and the weight (%d: %s)"
          % (r.returncode, r.stderr.strip()[-160:]))
    nometa = os.path.join(WORK, "nometa.gguf")
    write_gguf(nometa, 0, b"", {"blk.0.attn_q.weight.in_sum2": (0, [256, 1], np.ones(256, np.float32).tobytes()),
                                "blk.0.attn_q.weight.counts": (0, [1, 1], np.ones(1, np.float32).tobytes())})
    r = subprocess.run([FERRY, "convert", src, "-o", out, "--no-vocab", "--type", "q4_k_m", "--imatrix", nometa],
                       capture_output=True, text=True)
    check(r.returncode == 65 and "imatrix.datasets" in r.stderr,
          "a GGUF imatrix without its keys: exit 65, as llama-quantize refuses it (%d: %s)"
          % (r.returncode, r.stderr.strip()[-160:]))
    r = subprocess.run([FERRY, "convert", src, "-o", out, "--no-vocab", "--type", "q4_k_m", "--include-weights", "ffn"],
                       capture_output=True, text=True)
    check(r.returncode == 64, "--include-weights without --imatrix: exit 64 (%d)" % r.returncode)
    shutil.rmtree(src)
    os.remove(f32)
check.finish()
