#!/usr/bin/python3
"""Several ferry processes on one model at once, with real servers on 127.0.0.1:
- `ferry seed` of a signed model while two `ferry fetch MAGNET` download it from that seeder, a
  `ferry fetch --manifest` fetches it from nginx into a third folder (-j 2), and another runs
  into the very folder being seeded (every file present and verified: nothing rewritten under
  the seeder); every copy equals the source and the seeder stops cleanly afterwards;
- two `ferry fetch` of one URL into one folder at once: one fetches, the other is refused by the
  file's lock (exit 73) or finds the finished file (exit 73, "exists"), never a second writer;
  fetches of different files into one folder at once both succeed;
- `ferry verify` while a file is being replaced (renamed over, as any careful writer does) by a
  signed version and another one of a different size: each run sees one whole version (exit 0,
  or a size mismatch for the other version), never a size from one and bytes from the other
  ("sha256 differs" could only come from such a mix).
usage: concurrency.py FERRY WORKDIR"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from nginx_server import Nginx  # noqa: E402
from skips import skip_test  # noqa: E402
from servers import Checks  # noqa: E402
import trees  # noqa: E402

FERRY, WORK = sys.argv[1], os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()
if not shutil.which("nginx") and not os.path.exists("/usr/sbin/nginx"):
    skip_test("nginx missing")


def tree(d):
    return trees.tree(d, trees.hidden)


root = os.path.join(WORK, "root")
model = os.path.join(root, "model")
os.makedirs(model)
for i in range(3):
    with open(os.path.join(model, "shard-%d.bin" % i), "wb") as f:
        f.write(os.urandom((2 << 20) + i))
key = os.path.join(WORK, "k")
subprocess.run([FERRY, "keygen", "--no-password", "-o", key], check=True, capture_output=True)
subprocess.run([FERRY, "sign", model, "--key", key + ".key", "-q"], check=True)
want = tree(model)

# ---------------------------------------------------------------- seed and fetch at once
with Nginx(root, os.path.join(WORK, "nginx")) as ng:
    seed = subprocess.Popen([FERRY, "seed", model, "--listen", "127.0.0.1:0", "--state", os.path.join(WORK, "state"),
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port, magnet, t0 = 0, None, time.time()
    for line in seed.stdout:
        e = json.loads(line)
        port = e.get("port", port) if e["event"] == "listening" else port
        magnet = e.get("magnet", magnet) if e["event"] == "added" else magnet
        if (port and magnet) or time.time() - t0 > 60:
            break
    check(bool(port and magnet), "ferry seed is listening with a magnet (port %s)" % port)
    man = ["--manifest", os.path.join(model, "model.manifest.json"), "--pubkey", key + ".pub",
           "--mirror", ng.url("model")]
    runs = {
        "bt-a": [FERRY, "fetch", magnet or "magnet:?", "-o", os.path.join(WORK, "a"), "--peer", "127.0.0.1:%d" % port,
                 "--stall-timeout", "60", "-q"],
        "bt-b": [FERRY, "fetch", magnet or "magnet:?", "-o", os.path.join(WORK, "b"), "--peer", "127.0.0.1:%d" % port,
                 "--stall-timeout", "60", "-q"],
        "http": [FERRY, "fetch", *man, "-o", os.path.join(WORK, "c"), "-j", "2", "-q"],
        "into-seeded": [FERRY, "fetch", *man, "-o", model, "--json"],
    }
    stamps = {n: os.stat(os.path.join(model, n)).st_mtime_ns for n in want}
    procs = {k: subprocess.Popen(v, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k, v in runs.items()}
    outs = {}
    for k, p in procs.items():
        try:
            outs[k] = p.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            p.kill()
            outs[k] = p.communicate()
    for k in ("bt-a", "bt-b", "http"):
        d = os.path.join(WORK, k.split("-")[-1] if k.startswith("bt") else "c")
        check(procs[k].returncode == 0 and tree(d) == want,
              "%s beside the seeder: exit %s, %d of %d files equal (%s)"
              % (k, procs[k].returncode, sum(tree(d).get(n) == h for n, h in want.items()) if os.path.isdir(d) else 0,
                 len(want), outs[k][1].strip()[-200:]))
    events = [json.loads(x) for x in outs["into-seeded"][0].splitlines() if x.startswith("{")]
    skipped = [e for e in events if e["event"] == "skipped"]
    weights = [n for n in want if n.startswith("shard-")]
    check(procs["into-seeded"].returncode == 0 and len(skipped) == len(weights) and tree(model) == want
          and not [e for e in events if e["event"] == "done" and e["file"] in weights]
          and all(os.stat(os.path.join(model, n)).st_mtime_ns == stamps[n] for n in want),
          "fetch into the folder being seeded: every file present and verified, none rewritten (%d skipped, exit %s)"
          % (len(skipped), procs["into-seeded"].returncode))
    check(seed.poll() is None, "the seeder kept running through it all")
    seed.send_signal(signal.SIGTERM)
    try:
        seed.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        seed.kill()
        seed.communicate()
    check(seed.returncode == 0, "the seeder stops cleanly afterwards (exit %s)" % seed.returncode)

    # ------------------------------------------------------------ two fetches into one folder
    one = os.path.join(WORK, "one")
    big = os.urandom(12 << 20)  # 12 MiB at 2 MB/s a connection: the second starts long before the end
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(big)
    big_sha = hashlib.sha256(big).hexdigest()
    both = [subprocess.Popen([FERRY, "fetch", ng.url("slow/big.bin"), "-o", one, "--sha256", big_sha, "--connections", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    res = [p.communicate(timeout=120) + (p.returncode,) for p in both]
    codes = sorted(r[2] for r in res)
    second = [r for r in res if r[2] != 0] or [r for r in res if "already present" in r[1]]
    # the second is refused by the file's lock (73), or, started after the first finished, finds
    # the verified file and leaves it (0, "already present"): never a second writer
    check(codes in ([0, 73], [0, 0]) and second
          and any(s in second[0][1] for s in ("another ferry fetch", "exists", "already present"))
          and tree(one) == {"big.bin": big_sha} and sorted(os.listdir(one)) == ["big.bin"],
          "two fetches of one file into one folder: exits %s, one file, nothing left beside it (%s)"
          % (codes, second[0][1].strip()[-120:] if second else ""))
    two = os.path.join(WORK, "two")
    pair = [subprocess.Popen([FERRY, "fetch", ng.url("slow/model/shard-%d.bin" % i), "-o", two, "--sha256",
                              want["shard-%d.bin" % i]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in (1, 2)]
    rcs = [p.wait(timeout=120) for p in pair]
    check(rcs == [0, 0] and tree(two) == {n: want[n] for n in ("shard-1.bin", "shard-2.bin")},
          "fetches of two files into one folder at once both finish (exits %s)" % rcs)

# ---------------------------------------------------------------- verify during replacement
vd = os.path.join(WORK, "v")
os.makedirs(vd)
signed = os.urandom(8 << 20)
other = os.urandom((8 << 20) + 1)
with open(os.path.join(vd, "w.bin"), "wb") as f:
    f.write(signed)
subprocess.run([FERRY, "sign", vd, "--key", key + ".key", "-q"], check=True)
stage = os.path.join(WORK, "stage")
os.makedirs(stage)
stop = threading.Event()
swaps = [0]


def replacer():
    k = 0
    while not stop.is_set():
        tmp = os.path.join(stage, "w.%d" % k)
        with open(tmp, "wb") as f:
            f.write(signed if k % 2 else other)
        os.rename(tmp, os.path.join(vd, "w.bin"))
        k += 1
        swaps[0] = k


th = threading.Thread(target=replacer)
th.start()
outcomes = {}
deadline = time.time() + 120
try:
    runs = 0
    # 30 verifies at least, and on until the file was replaced more than 30 times (a loaded machine
    # can slow the replacer more than the verifies: CI once saw 26 replacements in 30 runs)
    while runs < 30 or (swaps[0] <= 30 and time.time() < deadline):
        runs += 1
        p = subprocess.run([FERRY, "verify", vd, "--pubkey", key + ".pub", "--json"], capture_output=True, text=True,
                           timeout=60)
        doc = json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}
        mism = doc.get("files", {}).get("mismatched", [])
        kind = ("ok" if p.returncode == 0 else
                "size" if p.returncode == 1 and mism and "size 8388609" in mism[0] else
                "MIXED" if p.returncode == 1 and mism and "sha256 differs" in mism[0] else
                "exit %d: %s" % (p.returncode, (mism or [p.stderr.strip()[-100:]])[0]))
        outcomes[kind] = outcomes.get(kind, 0) + 1
finally:
    stop.set()
    th.join()
check(set(outcomes) <= {"ok", "size"} and swaps[0] > 30,
      "verify during %d replacements: %s (each run saw one whole version)" % (swaps[0], outcomes))

check.finish()
