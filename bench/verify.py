#!/usr/bin/python3
"""Benchmark: verifying a signed 1 GiB model in 8 files with `ferry verify` beside
`sha256sum` and `openssl dgst -sha256` over the same files, in the same run (warm page
cache, best of 3). Also times `ferry sign` (SHA-256 plus the BEP 52 root of every file).
Prints `case  ferry=S  peer=S  ratio=peer/ferry` (higher = ferry faster).
usage: bench/verify.py FERRY [TOTAL_MB]"""
import os
import subprocess
import sys
import tempfile
import time

FERRY = sys.argv[1]
TOTAL_MB = int(sys.argv[2]) if len(sys.argv) > 2 else 1024


def best(cmd, n=3):
    t_best = None
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        dt = time.perf_counter() - t
        t_best = dt if t_best is None else min(t_best, dt)
    return t_best


def main():
    tmp = tempfile.mkdtemp(prefix="ferry-bench-verify-")
    model = os.path.join(tmp, "model")
    os.makedirs(model)
    per = TOTAL_MB // 8
    block = os.urandom(1 << 20)
    files = []
    for i in range(8):
        p = os.path.join(model, "model-%05d-of-00008.safetensors" % (i + 1))
        with open(p, "wb") as f:
            for _ in range(per):
                f.write(block)
        files.append(p)
    key = os.path.join(tmp, "k")
    subprocess.run([FERRY, "keygen", "--no-password", "-o", key], check=True, capture_output=True)
    subprocess.run(["cat", *files], stdout=subprocess.DEVNULL)
    sign_t = best([FERRY, "sign", model, "--key", key + ".key", "--force", "-q"])
    verify_t = best([FERRY, "verify", model, "--pubkey", key + ".pub", "-q"])
    print("# %d files, %d MiB, %d cores" % (len(files), per * 8, os.cpu_count()))
    for name, cmd in (("sha256sum", ["sha256sum", *files]), ("openssl", ["openssl", "dgst", "-sha256", *files])):
        peer = best(cmd)
        print("verify-vs-%s  ferry=%.3fs  peer=%.3fs  ratio=%.2f" % (name, verify_t, peer, peer / verify_t))
    peer = best(["openssl", "dgst", "-sha256", *files])
    print("sign-with-btv2-vs-openssl  ferry=%.3fs  peer=%.3fs  ratio=%.2f" % (sign_t, peer, peer / sign_t))
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
