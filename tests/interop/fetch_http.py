#!/usr/bin/python3
"""ferry fetch against real servers on 127.0.0.1: Debian's nginx (Range, If-Range, rate limits,
a file replaced between runs) and fault_server.py (cut bodies, wrong bytes, 200 to a Range, 503
with Retry-After, wrong Content-Range, redirects across ports, bearer tokens, gating). Every
file is checked with hashlib; after every failure no file may exist under its final name.
usage: fetch_http.py FERRY WORKDIR"""
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nginx_server import Nginx  # noqa: E402
from servers import Checks, FaultServer  # noqa: E402
from skips import skip_part  # noqa: E402

FERRY, WORK = sys.argv[1], os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
ROOT = os.path.join(WORK, "root")
os.makedirs(ROOT)
check = Checks()


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def fetch(url, out, *args, timeout=120):
    r = subprocess.run([FERRY, "fetch", url, "-o", out, "--json", *args], capture_output=True, text=True,
                       timeout=timeout)
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    done = [e for e in events if e["event"] == "done"]
    return r.returncode, (done[0] if done else None), r.stderr.strip()


def start_bg(url, out, *args):
    return subprocess.Popen([FERRY, "fetch", url, "-o", out, "--json", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_segments(state_path, n, proc, limit=30.0):
    """Waits until the state file records at least n finished segments; returns them."""
    end = time.time() + limit
    while time.time() < end and proc.poll() is None:
        try:
            done = json.load(open(state_path))["done"]
            if len(done) >= n:
                return done
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    return None


def hidden_and_final(out, name):
    names = set(os.listdir(out)) if os.path.isdir(out) else set()
    return name in names, "." + name + ".part" in names


# ---------------------------------------------------------------- fault server
data = os.urandom(3_000_000 + 12345)
good = write(os.path.join(ROOT, "a.bin"), data)
write(os.path.join(ROOT, "v1", "c.bin"), os.urandom(2_000_000))
v2 = write(os.path.join(ROOT, "v2", "c.bin"), os.urandom(2_000_000))
with open(os.path.join(ROOT, "version"), "w") as f:
    f.write("1")
server = FaultServer(ROOT, WORK, rate=400000)
log, A, B = server.log, server.a, server.b
try:
    base = f"http://127.0.0.1:{A}"
    seg = ["--segment-size", "65536"]
    n = 0

    def out():
        global n
        n += 1
        return os.path.join(WORK, f"out{n}")

    o = out()
    rc, d, err = fetch(f"{base}/ok/a.bin", o, "--sha256", good, *seg)
    check(rc == 0 and d["sha256"] == good and sha(os.path.join(o, "a.bin")) == good and d["verified_by"] == "expected SHA-256",
          f"plain parallel fetch, --sha256 verified (rc {rc})")
    check(sorted(os.listdir(o)) == ["a.bin"], "no .part, state or lock file left after success")
    rc, d, err = fetch(f"{base}/ok/a.bin", o, *seg)
    check(rc == 73 and "exists" in err, f"existing file kept without --force (rc {rc})")
    rc, d, err = fetch(f"{base}/ok/a.bin", o, "--sha256", good, *seg)
    check(rc == 0 and "present and verified" in err and sha(os.path.join(o, "a.bin")) == good,
          f"a rerun with --sha256 over the finished file: skipped as present and verified (rc {rc})")
    rc, d, err = fetch(f"{base}/ok/a.bin", o, "--force", *seg)
    check(rc == 0 and sha(os.path.join(o, "a.bin")) == good, "--force replaces it")

    o = out()
    rc, d, err = fetch(f"{base}/linked/a.bin", o, *seg)
    check(rc == 0 and d["verified_by"] == "X-Linked-Etag" and sha(os.path.join(o, "a.bin")) == good,
          f"X-Linked-Etag used as the expected SHA-256 (rc {rc})")
    o = out()
    rc, d, err = fetch(f"{base}/badlinked/a.bin", o, *seg)
    check(rc == 1 and hidden_and_final(o, "a.bin") == (False, False) and "X-Linked-Etag" in err,
          f"X-Linked-Etag mismatch: exit 1, nothing kept (rc {rc}: {err[-90:]})")

    o = out()
    rc, d, err = fetch(f"{base}/corrupt/a.bin", o, "--sha256", good, *seg)
    check(rc == 1 and hidden_and_final(o, "a.bin") == (False, False),
          f"corrupted bytes with --sha256: exit 1, nothing kept (rc {rc})")

    o = out()
    rc, d, err = fetch(f"{base}/cut/a.bin", o, "--sha256", good, *seg)
    check(rc == 0 and d["retries"] > 0 and sha(os.path.join(o, "a.bin")) == good,
          f"bodies cut mid-transfer: retried from where they stopped ({d and d['retries']} retries)")

    o = out()
    rc, d, err = fetch(f"{base}/norange/a.bin", o, "--sha256", good, *seg)
    check(rc == 0 and d["single_stream"] and sha(os.path.join(o, "a.bin")) == good,
          f"server ignoring Range: one stream, right bytes (rc {rc})")

    o = out()
    t0 = time.time()
    rc, d, err = fetch(f"{base}/busy/a.bin", o, *seg)
    check(rc == 0 and d["retries"] >= 2 and time.time() - t0 >= 1.9 and sha(os.path.join(o, "a.bin")) == good,
          f"503 + Retry-After: 1 honoured twice ({time.time() - t0:.1f} s)")

    o = out()
    rc, d, err = fetch(f"{base}/badrange/a.bin", o, "--tries", "2", *seg)
    check(rc == 69 and not hidden_and_final(o, "a.bin")[0] and "Content-Range" in err,
          f"wrong Content-Range refused: exit 69, no final file (rc {rc}: {err[-100:]})")

    o = out()
    rc, d, err = fetch(f"{base}/ok/missing.bin", o)
    check(rc == 66, f"404: exit 66 (rc {rc})")
    rc, d, err = fetch(f"{base}/gated/a.bin", o)
    check(rc == 77 and "403" in err, f"gated 403: exit 77 (rc {rc})")
    rc, d, err = fetch(f"{base}/auth/a.bin", o)
    check(rc == 77 and "401" in err, f"401 without a token: exit 77 (rc {rc})")
    rc, d, err = fetch(f"{base}/huge/a.bin", o)
    check(rc == 73 and "free space" in err and not os.listdir(o) if os.path.isdir(o) else rc == 73,
          f"a server claiming 4 EiB: exit 73 before anything is allocated (rc {rc})")
    o = out()
    rc, d, err = fetch(f"{base}/maxsize/a.bin", o)
    check(rc == 69 and "invalid Content-Range" in err and hidden_and_final(o, "a.bin") == (False, False),
          f"a Content-Range total of 2^64-1: exit 69 (rc {rc}: {err[-80:]})")
    o = out()
    rc, d, err = fetch(f"{base}/junkrange/a.bin", o)
    check(rc == 69 and "no valid Content-Range" in err and hidden_and_final(o, "a.bin") == (False, False),
          f"a Content-Range with junk after its total is no range: exit 69, nothing made (rc {rc}: {err[-80:]})")
    # the segment table is as long as the claimed size over the segment size: 4 KiB segments of
    # a claimed 20 GB were 4.9 million entries (GBs of memory); at most 65536 segments now
    free = shutil.disk_usage(WORK).free
    if free < 4 << 30:
        skip_part(f"a claimed large size: {free} bytes free here, the claim needs 4 GiB", installed_by_deps=False)
    else:
        claim = min(20 * 10**9, free // 2)
        o = out()
        p = subprocess.Popen([FERRY, "fetch", f"{base}/claim/{claim}", "-o", o, "--segment-size", "4096",
                              "--tries", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(p.pid, 0)
        err = p.stderr.read().decode()
        rc, peak = os.waitstatus_to_exitcode(status), ru.ru_maxrss // 1024
        check(rc == 69 and peak < 200, f"a server claiming {claim} bytes, fetched in 4 KiB segments: peak RSS "
              f"{peak} MB (under 200), exit 69 when the ranges do not come (rc {rc}: {err[-80:]})")
    o = out()
    rc, d, err = fetch(f"{base}/zerosize/a.bin", o)
    check(rc == 69 and "bytes 0-0/0" in err and not os.path.exists(os.path.join(o, "a.bin")),
          f"206 bytes 0-0/0: exit 69, no empty final file (rc {rc}: {err[-80:]})")
    # issue 11: each low-speed abort used to count as progress, so --tries never ended a trickle
    o = out()
    t0 = time.time()
    try:
        rc, d, err = fetch(f"{base}/trickle/a.bin", o, "--speed-limit", "1024", "--speed-time", "2",
                           "--tries", "2", "--connections", "1", *seg, timeout=60)
    except subprocess.TimeoutExpired:
        rc, err = None, "still running after 60 s"
    check(rc == 69 and "too slow" in err and time.time() - t0 < 30,
          f"a server trickling 2 bytes/s: gives up after --tries 2 in {time.time() - t0:.1f} s, exit 69 "
          f"(rc {rc}: {err[-100:]})")
    rc, d, err = fetch(f"http://127.0.0.1:1/ok/a.bin", o, "--tries", "2")
    check(rc == 69, f"connection refused: exit 69 (rc {rc})")
    rc, d, err = fetch(f"{base}/gated/a.bin?Policy=SECRETPOLICY&Signature=SECRETSIG", o)
    check("SECRET" not in err, "a signed link's query string never appears in messages")

    tok = os.path.join(WORK, "token")
    with open(tok, "w") as f:
        f.write("secret\n")
    o = out()
    rc, d, err = fetch(f"{base}/auth/a.bin", o, "--token-file", tok, *seg)
    check(rc == 0 and sha(os.path.join(o, "a.bin")) == good, "bearer token accepted by its host")
    open(log, "w").close()
    o = out()
    rc, d, err = fetch(f"{base}/redirect/a.bin", o, "--token-file", tok, *seg)
    reqs = [json.loads(line) for line in open(log)]
    to_b = [r for r in reqs if str(r["port"]) == B]
    check(rc == 0 and sha(os.path.join(o, "a.bin")) == good and to_b and not any(r["auth"] for r in to_b)
          and any(r["auth"] for r in reqs if str(r["port"]) == A),
          f"redirect to another port: {len(to_b)} requests there, none with the token")

    # a file that changes during the download: If-Range gets 200, ferry starts over on the new one
    o = out()
    p = start_bg(f"{base}/changing/c.bin", o, "--segment-size", "131072", "--connections", "2")
    got = wait_segments(os.path.join(o, ".c.bin.part.json"), 2, p)
    with open(os.path.join(ROOT, "version"), "w") as f:
        f.write("2")
    so, se = p.communicate(timeout=120)
    check(got is not None and p.returncode == 0 and sha(os.path.join(o, "c.bin")) == v2,
          f"ETag changed mid-download: restarted, new content kept (rc {p.returncode}, {se.strip()[-80:]})")

    # Meta presigned links: expiry shown, query never printed or stored
    import base64
    def policy(expires):
        doc = json.dumps({"Statement": [{"Resource": f"{base}/meta/*",
                                         "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}]})
        b = base64.b64encode(doc.encode()).decode()
        return b.replace("+", "-").replace("=", "_").replace("/", "~")
    write(os.path.join(ROOT, "sub", "b.bin"), os.urandom(300_000))
    o = out()
    tmpl = f"{base}/meta/*?Policy={policy(int(time.time()) + 7200)}&Signature=goodsig&Key-Pair-Id=K1"
    r = subprocess.run([FERRY, "fetch", "--url-template", tmpl, "--files", "a.bin,sub/b.bin", "-o", o, "--json",
                        *seg], capture_output=True, text=True, timeout=120)
    leaked = [p for p in (r.stdout, r.stderr) if "goodsig" in p or "Policy" in p]
    for dp, _, names in os.walk(o):
        leaked += [n for n in names if "goodsig" in open(os.path.join(dp, n), "rb").read().decode("latin1")]
    check(r.returncode == 0 and sha(os.path.join(o, "a.bin")) == good and os.path.exists(os.path.join(o, "sub", "b.bin"))
          and "valid until" in r.stderr and not leaked,
          f"--url-template: 2 files, expiry shown, query string nowhere in output (rc {r.returncode}, {r.stderr[-100:]})")
    open(log, "w").close()
    tmpl_old = f"{base}/meta/*?Policy={policy(int(time.time()) - 60)}&Signature=goodsig&Key-Pair-Id=K1"
    r = subprocess.run([FERRY, "fetch", "--url-template", tmpl_old, "--files", "a.bin", "-o", out()],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 77 and "expired" in r.stderr and not open(log).read(),
          f"expired link: exit 77 before any request (rc {r.returncode})")
    tmpl_bad = f"{base}/meta/*?Policy={policy(int(time.time()) + 600)}&Signature=badsig&Key-Pair-Id=K1"
    r = subprocess.run([FERRY, "fetch", "--url-template", tmpl_bad, "--files", "a.bin", "-o", out()],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 77 and "badsig" not in r.stderr, f"refused signature: exit 77, query not shown (rc {r.returncode})")

    # lock against two fetches of one file (per file, so --jobs can fetch a folder's files at once)
    o = out()
    os.makedirs(o)
    with open(os.path.join(o, ".a.bin.lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        rc, d, err = fetch(f"{base}/ok/a.bin", o)
    check(rc == 73 and "another ferry fetch" in err and not hidden_and_final(o, "a.bin")[0],
          f"locked file refused: exit 73 (rc {rc})")
finally:
    server.stop()

# ---------------------------------------------------------------- nginx
big = os.urandom(8 << 20)
bigsha = write(os.path.join(ROOT, "big.bin"), big)
with Nginx(ROOT, os.path.join(WORK, "nginx"), rate="1m") as ng:
    o = os.path.join(WORK, "ng1")
    rc, d, err = fetch(ng.url("big.bin"), o, "--connections", "4")
    check(rc == 0 and sha(os.path.join(o, "big.bin")) == bigsha, f"nginx: 8 MiB over 4 connections (rc {rc})")

    # an empty file: nginx answers 416 to bytes=0-0
    write(os.path.join(ROOT, "empty.bin"), b"")
    o = os.path.join(WORK, "ng0")
    rc, d, err = fetch(ng.url("empty.bin"), o)
    check(rc == 0 and os.path.getsize(os.path.join(o, "empty.bin")) == 0
          and d["sha256"] == hashlib.sha256(b"").hexdigest(), f"empty file (416 to the probe) fetched (rc {rc}, {err[-80:]})")

    # kill -9 mid-download, rerun: finished segments are not requested again
    o = os.path.join(WORK, "ng2")
    segsz = 262144
    p = start_bg(ng.url("slow/big.bin"), o, "--segment-size", str(segsz), "--connections", "4")
    done = wait_segments(os.path.join(o, ".big.bin.part.json"), 8, p)
    p.send_signal(signal.SIGKILL)
    p.wait()
    check(done is not None and not hidden_and_final(o, "big.bin")[0], f"killed with {done and len(done)} of 32 segments done")
    done = json.load(open(os.path.join(o, ".big.bin.part.json")))["done"]
    open(os.path.join(ng.work, "access.log"), "w").close()
    rc, d, err = fetch(ng.url("slow/big.bin"), o, "--segment-size", str(segsz), "--connections", "4")
    starts = [int(line.split("|")[1][6:].split("-")[0]) for line in open(os.path.join(ng.work, "access.log"))
              if line.split("|")[1].startswith("bytes=") and line.split("|")[1] != "bytes=0-0"]  # not the probe
    again = [s for s in starts if s // segsz in done]
    check(rc == 0 and d["resumed"] and not again and d["downloaded"] <= len(big) - len(done) * segsz
          and sha(os.path.join(o, "big.bin")) == bigsha,
          f"resumed after kill -9: {len(starts)} ranges asked, {len(again)} of them finished before, "
          f"{d and d['downloaded']} bytes downloaded")

    # SIGINT: exit 75, .part kept, rerun resumes
    o = os.path.join(WORK, "ng3")
    p = start_bg(ng.url("slow/big.bin"), o, "--segment-size", str(segsz), "--connections", "4")
    wait_segments(os.path.join(o, ".big.bin.part.json"), 4, p)
    p.send_signal(signal.SIGINT)
    so, se = p.communicate(timeout=30)
    check(p.returncode == 75 and hidden_and_final(o, "big.bin") == (False, True), f"SIGINT: exit 75, .part kept (rc {p.returncode})")

    # --jobs: several URLs at once (as aria2's -j). Each file is served at 1 MB/s on one
    # connection, so one at a time the second starts only after the first is done; with -j 4
    # every file starts before any is done, and the run takes about a quarter of the time
    names = ["j%d.bin" % i for i in range(4)]
    shas = {n: write(os.path.join(ROOT, n), os.urandom(2 << 20)) for n in names}
    took = {}
    for jobs in ("1", "4"):
        o = os.path.join(WORK, "jobs" + jobs)
        t0 = time.time()
        r = subprocess.run([FERRY, "fetch", *[ng.url("slow/" + n) for n in names], "-o", o, "--json",
                            "--connections", "1", "-j", jobs], capture_output=True, text=True, timeout=120)
        took[jobs] = time.time() - t0
        ev = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        kinds = [e["event"] for e in ev if e["event"] in ("start", "done")]
        first_done = kinds.index("done") if "done" in kinds else len(kinds)
        summary = [e for e in ev if e["event"] == "summary"]
        check(r.returncode == 0 and summary and summary[0]["files"] == 4
              and all(sha(os.path.join(o, n)) == shas[n] for n in names),
              f"-j {jobs}: 4 files fetched and verified (rc {r.returncode}: {r.stderr.strip()[-200:]})")
        starts_before = kinds[:first_done].count("start")
        check(starts_before == (4 if jobs == "4" else 1),
              f"-j {jobs}: {starts_before} files started before the first was done")
    print(f"4 files of 2 MiB at 1 MB/s each: -j 1 {took['1']:.2f} s, -j 4 {took['4']:.2f} s "
          f"({took['1'] / took['4']:.2f}x)")

    # on a terminal, -j shows one total bar (no per-file bars overwriting each other), and a
    # resumed fetch's rate counts only this run's bytes: the bytes an earlier run left are done,
    # not moved. A rerun at half way that counted them would show many MiB/s at its first draw.
    import pty
    o = os.path.join(WORK, "rate")
    # 2 MiB segments: each is one response, which nginx sends at 1 MB/s after its first MB
    write(os.path.join(ROOT, "rate.bin"), os.urandom(32 << 20))
    p = start_bg(ng.url("slow/rate.bin"), o, "--segment-size", str(2 << 20), "--connections", "4")
    left = wait_segments(os.path.join(o, ".rate.bin.part.json"), 12, p)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=30)

    def on_tty(*args):
        master, slave = pty.openpty()
        q = subprocess.Popen([FERRY, "fetch", *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=slave)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        q.wait(timeout=120)
        os.close(master)
        return q.returncode, out.decode("utf-8", "replace")
    import re
    t0 = time.time()
    rc, tty = on_tty(ng.url("slow/rate.bin"), "-o", o, "--segment-size", str(2 << 20), "--connections", "4")
    wall = time.time() - t0
    rates = [float(x) for x in re.findall(r"([0-9.]+) MiB/s", tty)]
    # the whole file over the rerun's time is what counting the earlier bytes would show at least
    whole = 32 / wall
    check(rc == 0 and rates and rates[-1] < 0.75 * whole,
          f"resumed fetch on a terminal: final rate shown {rates[-1] if rates else 0:.2f} MiB/s, "
          f"the whole file over the rerun {whole:.2f} MiB/s (rc {rc})")
    print(f"resumed after {len(left or [])} of 16 segments: final rate shown {rates[-1] if rates else 0:.2f} MiB/s, "
          f"whole file over the rerun's {wall:.2f} s: {whole:.2f} MiB/s")
    rc, tty = on_tty(*[ng.url("slow/" + n) for n in names], "-o", os.path.join(WORK, "jobs-tty"),
                     "--connections", "1", "-j", "4")
    labels = set(re.findall(r"(\S+) \[[#-]{30}\]", tty))
    check(rc == 0 and labels == {"total"}, f"-j 4 on a terminal: bars drawn {sorted(labels)} (only 'total' wanted)")

    # the file is replaced on the server between runs: the old segments are discarded
    new = os.urandom(8 << 20)
    newsha = write(os.path.join(ROOT, "big.bin"), new)
    st = os.stat(os.path.join(ROOT, "big.bin"))
    os.utime(os.path.join(ROOT, "big.bin"), (st.st_atime + 100, st.st_mtime + 100))
    rc, d, err = fetch(ng.url("big.bin"), o, "--segment-size", str(segsz), "--connections", "4")
    check(rc == 0 and not d["resumed"] and sha(os.path.join(o, "big.bin")) == newsha,
          f"changed ETag between runs: started over, new content (rc {rc})")

check.finish()
