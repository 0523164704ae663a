#!/usr/bin/python3
"""llama.cpp itself as the independent reader and runner of ferry's GGUF output: its prebuilt
CPU libraries (npm @node-llama-cpp/linux-x64, driven by llamacpp.mjs) load every type ferry
writes, including split sets, and their greedy continuations are compared with ferry's on the
same file: identical for F32 (and reported for the other types, whose kernels round
differently); llama.cpp's tokenizer gives ferry's ids for the Llama 2 vocabulary.
Needs ../shared/testdata (the Llama 2 tokenizer.model) and tests/interop/node_modules.
usage: llamacpp_runs.py FERRY WORKDIR TESTDATA"""
import json
import os
import shutil
import subprocess
import sys
from skips import skip_test  # noqa: E402  (this folder is on sys.path)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_llama  # noqa: E402
from servers import Checks  # noqa: E402
import llamacpp_peer  # noqa: E402

FERRY, WORK = sys.argv[1], sys.argv[2]
TESTDATA = sys.argv[3] if len(sys.argv) > 3 else ""
HERE = os.path.dirname(os.path.abspath(__file__))
SPM = os.path.join(TESTDATA, "llama2-tokenizer", "tokenizer.model") if TESTDATA else ""
if not SPM or not os.path.exists(SPM):
    skip_test("no testdata", installed_by_deps=False)
if not os.path.isdir(os.path.join(HERE, "node_modules", "node-llama-cpp")) or not shutil.which("node"):
    skip_test("node-llama-cpp not installed (scripts/install-deps)")
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()


def llamacpp(*args):
    return llamacpp_peer.llamacpp(check, *args)


def ferry_greedy(model, ids, n):
    p = subprocess.run([FERRY, "run", model, "--ids", ",".join(map(str, ids)), "--temp", "0", "-n", str(n),
                        "--json", "--threads", "2"], capture_output=True, text=True)
    check(p.returncode == 0, "ferry run %s: %s" % (model, p.stderr[-300:]))
    return json.loads(p.stdout).get("tokens", []) if p.returncode == 0 else []


def convert(src, out, kind, *extra):
    p = subprocess.run([FERRY, "convert", src, "-o", out, "--type", kind, "-q", *extra], capture_output=True,
                       text=True)
    check(p.returncode == 0, "convert %s: %s" % (kind, p.stderr[-300:]))


PROMPT = [15043, 3186, 29892, 445, 338, 263, 1243]  # "Hello world, this is a test"
N = 16
cases = [("gqa", make_llama.config(dim=256, layers=2, heads=4, kv_heads=2, ff=512, vocab=32000)),
         ("tied-llama3", make_llama.config(dim=256, layers=2, heads=4, kv_heads=1, ff=512, vocab=32000, tied=True,
                                           llama3=True, ctx=256))]
for label, cfg in cases:
    src = os.path.join(WORK, label + "-hf")
    make_llama.write_hf(src, make_llama.weights(cfg, seed=5), cfg, tokenizer=SPM)
    kinds = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k_m", "q5_k_m",
             "q6_k") if label == "gqa" else ("f32", "q8_0", "q4_k_m")
    for kind in kinds:
        g = os.path.join(WORK, "%s-%s.gguf" % (label, kind))
        convert(src, g, kind)
        if not os.path.exists(g):
            continue
        theirs = llamacpp("greedy", g, ",".join(map(str, PROMPT)), str(N)).get("tokens", [])
        ours = ferry_greedy(g, PROMPT, N)
        same = next((i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b), min(len(theirs), len(ours)))
        print("%-12s %-7s llama.cpp loads it; greedy tokens equal to ferry's for the first %2d of %d" %
              (label, kind, same, N))
        check(len(theirs) == N, "%s %s: llama.cpp generated %d tokens" % (label, kind, len(theirs)))
        if kind == "f32":
            check(theirs == ours, "%s f32: llama.cpp %s, ferry %s" % (label, theirs, ours))

# a split set loads in llama.cpp from its first shard and runs as the single file does
src = os.path.join(WORK, "gqa-hf")
split = os.path.join(WORK, "split", "m.gguf")
os.makedirs(os.path.dirname(split))
convert(src, split, "q8_0", "--split-max-size", "8M")
shards = sorted(f for f in os.listdir(os.path.dirname(split)) if f.endswith(".gguf"))
check(len(shards) > 1, "split: %s" % shards)
if shards:
    a = llamacpp("greedy", os.path.join(os.path.dirname(split), shards[0]), ",".join(map(str, PROMPT)), str(N))
    b = llamacpp("greedy", os.path.join(WORK, "gqa-q8_0.gguf"), ",".join(map(str, PROMPT)), str(N))
    check(a.get("tokens") and a.get("tokens") == b.get("tokens"), "split set runs differently: %s vs %s" % (a, b))
    print("split q8_0 in %d shards: llama.cpp runs it as the single file" % len(shards))

# llama.cpp's tokenizer on ferry's vocabulary arrays gives ferry's ids
g = os.path.join(WORK, "gqa-f32.gguf")
for text in ("Hello world", " leading space", "naïve café, 日本語 and emoji 🦙", "tabs\tand\nnewlines", "1234567"):
    theirs = llamacpp("tokenize", g, text).get("tokens")
    p = subprocess.run([FERRY, "tokenize", g, "-p", text, "--no-bos", "--no-parse-special"], capture_output=True,
                       text=True)
    ours = [int(x) for x in p.stdout.split()]
    check(theirs == ours, "tokenize %r: llama.cpp %s, ferry %s" % (text, theirs, ours))
check.finish()
