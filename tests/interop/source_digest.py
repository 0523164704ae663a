#!/usr/bin/python3
"""ferry.source.digest recomputed without ferry: a Hugging Face folder whose safetensors file is
larger than one shard converts to GGUF, and the digest it records (ferry.source.digest, with
ferry.source.digest.method "shards" and .shard_size, read by @huggingface/gguf) must equal the
OpenSSF Model Signing root of the "shards" serialization computed here from its definition
(reference/signing.md 1.6: files ordered by path components, each cut into [start, end) shards
named PATH:START:END, the root the SHA-256 over the shard digests in order). A source that
carries its signed manifest records that manifest's root with method "files".
usage: source_digest.py FERRY WORKDIR"""
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import llama_quant  # noqa: E402
from servers import Checks  # noqa: E402
from skips import skip_test  # noqa: E402

FERRY, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()
try:
    import make_llama
except ImportError:
    skip_test("torch missing (the test model)")
if not shutil.which("node") or not os.path.isdir(os.path.join(HERE, "node_modules", "@huggingface", "gguf")):
    skip_test("@huggingface/gguf missing (npm install in tests/interop)")


def oms_root(folder, shard_size=None):
    """the OMS root of a folder: files serialization, or shards of shard_size bytes"""
    files = sorted((pathlib.PurePosixPath(os.path.relpath(os.path.join(d, f), folder))
                    for d, _, fs in os.walk(folder) for f in fs), key=lambda p: p.parts)
    digests = b""
    for rel in files:
        data = open(os.path.join(folder, str(rel)), "rb").read()
        if shard_size is None:
            digests += hashlib.sha256(data).digest()
            continue
        for start in range(0, len(data), shard_size):
            digests += hashlib.sha256(data[start:start + shard_size]).digest()
    return hashlib.sha256(digests).hexdigest()


def meta(path):
    m = llama_quant.dump(path)["metadata"]
    return {k: m[k]["value"] for k in m if k.startswith("ferry.source.digest")}


# the embedding alone is 40000 x 640 F32 = 102 MB: two shards of 64 MiB
cfg = make_llama.config(dim=640, layers=1, heads=10, kv_heads=2, ff=256, vocab=40000)
src = os.path.join(WORK, "model")
make_llama.write_hf(src, make_llama.weights(cfg, seed=2), cfg)
out = os.path.join(WORK, "out.gguf")
r = subprocess.run([FERRY, "convert", src, "-o", out, "--type", "f16", "--no-vocab", "-q"], capture_output=True, text=True)
got = meta(out) if r.returncode == 0 else {}
want = oms_root(src, 64 << 20)
check(got.get("ferry.source.digest") == want and got.get("ferry.source.digest.method") == "shards"
      and int(got.get("ferry.source.digest.shard_size", 0)) == 64 << 20,
      "ferry.source.digest equals the OMS shards root (64 MiB shards) computed from its definition: %s vs %s"
      % (got, want))
check(want != oms_root(src), "the check can fail: the files root differs (%s)" % oms_root(src)[:16])

# a signed source: its manifest's root, files serialization
key = os.path.join(WORK, "k")
subprocess.run([FERRY, "keygen", "-o", key, "--no-password"], capture_output=True)
r = subprocess.run([FERRY, "sign", src, "--key", key + ".key"], capture_output=True, text=True)
subprocess.run([FERRY, "convert", src, "-o", out, "--type", "f16", "--no-vocab", "-q", "--force"], check=True)
got = meta(out)
files_root = hashlib.sha256(b"".join(
    hashlib.sha256(open(os.path.join(src, f), "rb").read()).digest()
    for f in sorted(os.listdir(src)) if not f.startswith("model.manifest") and not f.endswith(".sig"))).hexdigest()
check(r.returncode == 0 and got.get("ferry.source.digest") == files_root and got.get("ferry.source.digest.method") == "files"
      and "ferry.source.digest.shard_size" not in got,
      "a signed source records its manifest's root, method files (%s)" % got)
check.finish()
