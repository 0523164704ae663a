#!/usr/bin/python3
"""Benchmark: hashing every tensor of a ~500 MB checkpoint with `ferry inspect --hash` beside
`sha256sum` (and `openssl dgst -sha256`) of the same file, in the same run. Prints one line per
case: `case  ferry=S  peer=S  ratio=peer/ferry` (higher = ferry faster) and ferry's peak RSS.
Each command runs 3 times after a warm-up read; the best time counts.
usage: bench/formats.py FERRY [SIZE_MB]"""
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

FERRY = sys.argv[1]
SIZE_MB = int(sys.argv[2]) if len(sys.argv) > 2 else 500


def run(cmd):
    best, rss = None, 0
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        dt = time.perf_counter() - t
        rss = max(rss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
        best = dt if best is None else min(best, dt)
    return best


def peak_rss_kb(cmd):
    """Peak resident set of one run, measured in a fresh child (ru_maxrss is a max over children)."""
    code = "import resource,subprocess,sys; subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    return int(subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True).stdout)


def write_safetensors(path, tensors):
    import json
    import struct
    header, off = {}, 0
    for name, a in tensors:
        header[name] = {"dtype": "F16" if a.dtype == np.float16 else "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _, a in tensors:
            f.write(a.tobytes())


def main():
    tmp = tempfile.mkdtemp(prefix="ferry-bench-")
    rng = np.random.default_rng(0)
    # a Llama-like mix: many mid-size matrices, a large embedding, small norms
    tensors, total = [], 0
    tensors.append(("model.embed_tokens.weight", rng.standard_normal((32000, 1024), dtype=np.float32).astype(np.float16)))
    total += tensors[-1][1].nbytes
    i = 0
    while total < SIZE_MB * 1024 * 1024:
        a = rng.standard_normal((1024, 2048), dtype=np.float32).astype(np.float16)
        tensors.append(("model.layers.%d.mlp.up_proj.weight" % i, a))
        tensors.append(("model.layers.%d.input_layernorm.weight" % i, np.ones(1024, dtype=np.float32)))
        total += a.nbytes + 4096
        i += 1
    st = os.path.join(tmp, "model.safetensors")
    write_safetensors(st, tensors)
    size = os.path.getsize(st)
    subprocess.run(["cat", st], stdout=subprocess.DEVNULL)  # warm the page cache for everyone
    print("# %d tensors, %.0f MB, %d cores" % (len(tensors), size / 1e6, os.cpu_count()))
    ferry_t = run([FERRY, "inspect", "--hash", "--json", st])
    for peer, cmd in (("sha256sum", ["sha256sum", st]), ("openssl", ["openssl", "dgst", "-sha256", st])):
        peer_t = run(cmd)
        print("hash-tensors-vs-%s  ferry=%.3fs  peer=%.3fs  ratio=%.2f" % (peer, ferry_t, peer_t, peer_t / ferry_t))
    one = run([FERRY, "inspect", "--hash", "--json", "--threads", "1", st])
    print("hash-tensors-1-thread-vs-sha256sum  ferry=%.3fs  peer=%.3fs  ratio=%.2f" % (one, run(["sha256sum", st]), run(["sha256sum", st]) / one))
    print("peak-rss  ferry=%d KiB  (file %d KiB, mapped read-only)" % (peak_rss_kb([FERRY, "inspect", "--hash", "--json", st]), size // 1024))
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
