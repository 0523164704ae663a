#!/usr/bin/python3
"""ferry convert --type T against llama-quantize itself: llama.cpp's own libllama (the prebuilt
library node-llama-cpp ships; llama-quantize is a thin program over its llama_model_quantize)
quantizes the F32 GGUF ferry writes, and ferry converts the same Hugging Face folder; every
tensor's type and bytes must be equal, as read by @huggingface/gguf (offsets and types) and
hashed here. For a model shaped like Llama 3.2 1B (16 layers, 4 query heads per KV head) and
one shaped like Llama 3 70B (80 layers, 8 per KV head: llama.cpp treats it as 70B), dims scaled
down, and one 288 wide whose rows take llama-quantize's fallbacks, in every legacy and k-quant
file type, with llama-quantize's per-tensor choices and with --pure, and its per-tensor overrides
(--output-tensor-type, --token-embedding-type, --leave-output-tensor, --tensor-type).
Without --all (the default suite, about half the time) the 70B and 288-wide shapes skip --pure
(which ignores shapes: the 1B one covers it), and the 70B shape runs only the file types whose
rules look at the layer count or the grouping (the k-quant mixes and IQ3_M); the test labelled
`slow` runs with --all.
usage: quantize_parity.py FERRY WORKDIR [--all]"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import llama_quant  # noqa: E402
from llama_quant import FTYPES, compare, tensors  # noqa: E402
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
llama_quantize = lq.quantize
# file types with tensors llama-quantize makes only with an imatrix
ALL = "--all" in sys.argv[3:]
SHAPE_RULES = {"q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "iq3_m"}
NEEDS_IMATRIX = {"iq3_xs", "iq3_xxs", "iq2_xxs", "iq2_xs", "iq2_s", "iq2_m", "iq1_s", "iq1_m", "q2_k_s"}


def same(shape, tag, ours_args, source=None, **theirs_kw):
    """llama-quantize with theirs_kw against ferry convert with ours_args (of source, else the
    Hugging Face folder ferry's F32 GGUF was made from)"""
    theirs, ours = os.path.join(WORK, "lq.gguf"), os.path.join(WORK, "fq.gguf")
    rc = llama_quantize(source or f32, theirs, **theirs_kw)
    r = subprocess.run([FERRY, "convert", source or src, "-o", ours, "--no-vocab", "-q", "--force", *ours_args],
                       capture_output=True, text=True)
    if (tag.split()[0] in NEEDS_IMATRIX and rc != 0 and r.returncode == 64 and "importance matrix" in r.stderr
            and not os.path.exists(ours)):
        # a type that needs an imatrix kept by one of the variants (--pure keeps IQ3_XXS where
        # the file type's rules would not): refused by both
        check(True, "%s %s without an imatrix: refused by llama-quantize and ferry" % (shape, tag))
        return
    if rc != 0 or r.returncode != 0:
        check(False, "%s %s: llama-quantize %d, ferry %d (%s)" % (shape, tag, rc, r.returncode, r.stderr.strip()[-150:]))
        return
    bad = compare(tensors(theirs), tensors(ours))
    check(not bad, "%s %s: every tensor's type and bytes equal llama-quantize's%s"
          % (shape, tag, "" if not bad else " -- differ: " + ", ".join(bad[:6]) + (" ..." if len(bad) > 6 else "")))
    for p in (theirs, ours):
        os.remove(p)


# 288 wide (as stories15M): rows that are not whole 256-blocks take llama-quantize's fallbacks
for shape, cfg in (("1B-shaped", make_llama.config(dim=256, layers=16, heads=8, kv_heads=2, ff=512, vocab=512)),
                   ("70B-shaped", make_llama.config(dim=256, layers=80, heads=8, kv_heads=1, ff=256, vocab=256)),
                   ("288-wide", make_llama.config(dim=288, layers=4, heads=6, kv_heads=2, ff=768, vocab=320))):
    src = os.path.join(WORK, shape)
    make_llama.write_hf(src, make_llama.weights(cfg, seed=3), cfg)
    f32 = os.path.join(WORK, shape + "-f32.gguf")
    r = subprocess.run([FERRY, "convert", src, "-o", f32, "--type", "f32", "--no-vocab", "-q"], capture_output=True, text=True)
    check(r.returncode == 0, "%s: F32 GGUF for llama-quantize (%s)" % (shape, r.stderr.strip()[-200:]))
    for name, ft in FTYPES.items():
        if not ALL and shape == "70B-shaped" and name not in SHAPE_RULES | NEEDS_IMATRIX:
            continue
        theirs, ours = os.path.join(WORK, "lq.gguf"), os.path.join(WORK, "fq.gguf")
        if name in NEEDS_IMATRIX and llama_quantize(f32, theirs, ftype=ft) != 0:
            # refused without one where a tensor keeps a type that needs it (rows of 288 fall back
            # to IQ4_NL, which does not); imatrix_parity.py makes them with one
            r = subprocess.run([FERRY, "convert", src, "-o", ours, "--no-vocab", "-q", "--type", name],
                               capture_output=True, text=True)
            check(r.returncode == 64 and "importance matrix" in r.stderr and not os.path.exists(ours),
                  "%s %s without an imatrix: refused by llama-quantize and ferry (exit %d: %s)"
                  % (shape, name, r.returncode, r.stderr.strip()[-100:]))
            continue
        for pure in (False, True) if ALL or shape == "1B-shaped" else (False,):
            same(shape, name + (" --pure" if pure else ""), ["--type", name] + (["--pure"] if pure else []),
                 ftype=ft, pure=pure)
    if shape == "1B-shaped":  # the per-tensor overrides
        same(shape, "q4_k_m --output-tensor-type q8_0 --token-embedding-type q4_0",
             ["--type", "q4_k_m", "--output-tensor-type", "q8_0", "--token-embedding-type", "Q4_0"],
             ftype=FTYPES["q4_k_m"], output="q8_0", embd="q4_0")
        same(shape, "q4_k_m --leave-output-tensor", ["--type", "q4_k_m", "--leave-output-tensor"],
             ftype=FTYPES["q4_k_m"], leave_output=True)
        same(shape, "q5_k_m --tensor-type attn_v=q6_k --tensor-type blk\\.1\\.ffn_down=q2_k",
             ["--type", "q5_k_m", "--tensor-type", "attn_v=q6_k", "--tensor-type", "blk\\.1\\.ffn_down=q2_k"],
             ftype=FTYPES["q5_k_m"], tensor_types=[("attn_v", "q6_k"), ("blk\\.1\\.ffn_down", "q2_k")])
        same(shape, "q8_0 --tensor-type ffn=q4_0", ["--type", "q8_0", "--tensor-type", "ffn=q4_0"],
             ftype=FTYPES["q8_0"], tensor_types=[("ffn", "q4_0")])
        # a quantized GGUF quantized again: refused by both without --allow-requantize; with
        # it the same bytes (ggml's dequantization, then the quantizers; tensors already in
        # their type copied)
        q8 = os.path.join(WORK, "q8.gguf")
        subprocess.run([FERRY, "convert", src, "-o", q8, "--type", "q8_0", "--no-vocab", "-q"], check=True)
        rc = llama_quantize(q8, os.path.join(WORK, "lq.gguf"), FTYPES["q4_k_m"])
        r = subprocess.run([FERRY, "convert", q8, "-o", os.path.join(WORK, "fq.gguf"), "--type", "q4_k_m", "--no-vocab"],
                           capture_output=True, text=True)
        check(rc != 0 and r.returncode == 64 and "--allow-requantize" in r.stderr and "Q8_0" in r.stderr
              and not os.path.exists(os.path.join(WORK, "fq.gguf")),
              "requantizing Q8_0 without --allow-requantize: llama-quantize %d, ferry exit %d (%s)"
              % (rc, r.returncode, r.stderr.strip()[-120:]))
        for p in ("lq.gguf", "fq.gguf"):
            if os.path.exists(os.path.join(WORK, p)):
                os.remove(os.path.join(WORK, p))
        same(shape, "q8_0 GGUF -> q4_k_m --allow-requantize", ["--type", "q4_k_m", "--allow-requantize"], source=q8,
             ftype=FTYPES["q4_k_m"], requantize=True)
        same(shape, "q8_0 GGUF -> q8_0 --allow-requantize (copied)", ["--type", "q8_0", "--allow-requantize"],
             source=q8, ftype=FTYPES["q8_0"], requantize=True)
        os.remove(q8)
    shutil.rmtree(src)
    os.remove(f32)
check.finish()
