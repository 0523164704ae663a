#!/usr/bin/python3
"""BitTorrent against peers we did not write, all on 127.0.0.1: libtorrent's Python binding
(Debian python3-libtorrent 2.0.8) as creator, seeder and downloader, aria2c as seeder and
downloader of v1 torrents, opentracker as the tracker, nginx as web seed behind a hub stand-in
that redirects. Checked:
- `ferry torrent create` gives info dicts and piece layers byte-equal to libtorrent's
  create_torrent (hybrid, v2, v1) at several piece sizes, the same bytes on every run, v2 roots
  equal to the signed manifest's ferry.btv2_root, and a sparse 4 TiB model within the bound;
- `ferry fetch` from a libtorrent seeder (.torrent, and a v2 magnet with x.pe), from aria2, from
  web seeds only (nginx, and through redirecting hub resolve URLs), while a second seeder serves
  corrupted pieces, after kill -9 (no finished piece fetched again) and after a clean stop;
- with a signed manifest: a torrent that disagrees is refused with exit 1 before anything gets a
  final name; the license gate holds the weights until acceptance;
- libtorrent and aria2 (through opentracker) download from `ferry seed`, which serves 50 torrents
  at once and restarts from resume data without hashing.
usage: torrent_swarm.py FERRY WORKDIR"""
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trees  # noqa: E402
from skips import skip_part, skip_test  # noqa: E402
from servers import Checks  # noqa: E402

try:
    import libtorrent as lt
except ImportError:
    skip_test("python3-libtorrent is not installed")

FERRY, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()
LT = {"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False, "enable_upnp": False,
      "enable_natpmp": False, "allow_multiple_connections_per_ip": True, "enable_outgoing_utp": False,
      "enable_incoming_utp": False, "alert_mask": 0}


def ferry(*args, timeout=120, **kw):
    env = dict(os.environ, XDG_STATE_HOME=os.path.join(WORK, "state"), XDG_DATA_HOME=os.path.join(WORK, "data"),
               XDG_CONFIG_HOME=os.path.join(WORK, "config"))
    r = subprocess.run([FERRY, *args], capture_output=True, text=True, timeout=timeout, env=env,
                       stdin=subprocess.DEVNULL, **kw)
    return r.returncode, r.stdout, r.stderr


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def tree(d):  # the files a download left, not its state
    return trees.tree(d, lambda n: n.startswith(".ferry-bt") or n.endswith(".resume"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lt_session(**extra):
    return lt.session(dict(LT, **extra))


def lt_port(ses):
    for _ in range(100):
        if ses.listen_port():
            return ses.listen_port()
        time.sleep(0.05)
    return 0


def lt_seed(ses, torrent, save, limit=0):
    """Seeds torrent from save; limit (bytes/s) is per torrent: libtorrent exempts peers on the
    local network from the session's rate limits."""
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    atp.flags |= lt.torrent_flags.seed_mode
    atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    atp.upload_limit = limit or -1
    return ses.add_torrent(atp)


def lt_create(path, piece, flags):
    """libtorrent's own torrent of path, its files added in ferry's (sorted) order."""
    fs = lt.file_storage()
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        rels = []
        for dp, _, names in os.walk(path):
            rels += [os.path.relpath(os.path.join(dp, n), parent) for n in names]
        for r in sorted(rels, key=lambda p: [c.encode() for c in p.split("/")]):
            fs.add_file(r, os.path.getsize(os.path.join(parent, r)))
    else:
        lt.add_files(fs, path)
    ct = lt.create_torrent(fs, piece, flags)
    lt.set_piece_hashes(ct, parent)
    return ct.generate()


# ------------------------------------------------------------------ creation
src = os.path.join(WORK, "src", "model")
content = {"a.bin": os.urandom(300_000), "b/c.bin": os.urandom(3 * 16384), "b/empty": b"",
           "z.json": b'{"dim": 64}\n' * 3000, "big.bin": os.urandom((5 << 20) + 3)}
for rel, data in content.items():
    write(os.path.join(src, rel), data)
flags = {"hybrid": 0, "v2": lt.create_torrent.v2_only, "v1": lt.create_torrent.v1_only}
all_equal, runs = True, 0
for piece in (16384, 65536, 1 << 20):
    for kind, fl in flags.items():
        out = os.path.join(WORK, f"t_{kind}_{piece}.torrent")
        rc, _, err = ferry("torrent", "create", src, "-o", out, f"--{kind}", "--piece-size", str(piece), "-q")
        ref = lt_create(src, piece, fl)
        ours = lt.bdecode(open(out, "rb").read())
        same = rc == 0 and lt.bencode(ref[b"info"]) == lt.bencode(ours[b"info"]) and \
            ref.get(b"piece layers") == ours.get(b"piece layers")
        if not same:
            print(f"   {kind} {piece}: differs ({err.strip()[-200:]})")
        all_equal &= same
        runs += 1
check(all_equal, f"{runs} torrents (hybrid, v2, v1 x 3 piece sizes): info dict and piece layers byte-equal to "
      "libtorrent's create_torrent")
one = os.path.join(WORK, "single.torrent")
ferry("torrent", "create", os.path.join(src, "big.bin"), "-o", one, "-q")
ref = lt_create(os.path.join(src, "big.bin"), lt.bdecode(open(one, "rb").read())[b"info"][b"piece length"], 0)
check(lt.bencode(ref[b"info"]) == lt.bencode(lt.bdecode(open(one, "rb").read())[b"info"]),
      "a single-file hybrid torrent equals libtorrent's")
a, b = os.path.join(WORK, "r1.torrent"), os.path.join(WORK, "r2.torrent")
ferry("torrent", "create", src, "-o", a, "-q", "--web-seed", "http://x/", "--tracker", "http://t/announce")
ferry("torrent", "create", src, "-o", b, "-q", "--web-seed", "http://x/", "--tracker", "http://t/announce",
      "--threads", "1")
rc, _, err = ferry("torrent", "create", src, "-o", b, "-q")
check(open(a, "rb").read() == open(b, "rb").read() and rc == 73 and "exists" in err,
      "the same files and options give the same bytes (1 thread or all); an existing .torrent is kept "
      "without --force")
ti = lt.torrent_info(a)
check(ti.info_hashes().has_v1() and ti.info_hashes().has_v2() and [w["url"] for w in ti.web_seeds()] == ["http://x/"]
      and [t.url for t in ti.trackers()] == ["http://t/announce"], "libtorrent loads it as hybrid with the web seed "
      "and tracker")
rc, out, _ = ferry("torrent", "magnet", a)
ih = ti.info_hashes()
check(rc == 0 and f"urn:btih:{ih.v1}" in out and f"urn:btmh:1220{ih.v2}" in out,
      "ferry torrent magnet gives libtorrent's v1 and v2 info hashes")
rc, out, _ = ferry("inspect", a, "--json")
j = json.loads(out) if rc == 0 else {}
check(j.get("kind") == "hybrid" and len(j.get("files", [])) == 5 and j.get("web_seeds") == ["http://x/"],
      "ferry inspect shows the torrent's files, web seeds and trackers")
# v2 roots equal the signed manifest's
signed = os.path.join(WORK, "signed", "model")
shutil.copytree(src, signed)
ferry("keygen", "--no-password", "-o", os.path.join(WORK, "k"))
rc, _, err = ferry("sign", signed, "--key", os.path.join(WORK, "k.key"), "-q")
man = json.load(open(os.path.join(signed, "model.manifest.json")))
roots = {r["name"]: r.get("ferry.btv2_root") for r in man["predicate"]["resources"]}
st = os.path.join(WORK, "signed.torrent")
ferry("torrent", "create", signed, "-o", st, "-q")
tj = json.loads(ferry("inspect", st, "--json")[1])
troots = {f["path"]: f.get("pieces_root") for f in tj["files"]}
check(rc == 0 and all(troots[n] == r for n, r in roots.items()) and "model.manifest.json" in troots,
      "the torrent's v2 roots equal the manifest's ferry.btv2_root; the signed manifest travels in the torrent")
# a sparse 4 TiB model: holes are not read; the bound holds
sparse = os.path.join(WORK, "sparse", "model")
os.makedirs(sparse)
for i in range(4):
    with open(os.path.join(sparse, f"model-{i + 1:05d}-of-00004.safetensors"), "wb") as f:
        f.truncate(1 << 40)
write(os.path.join(sparse, "config.json"), b"{}")
t0 = time.time()
rc, out, err = ferry("torrent", "create", sparse, "-o", os.path.join(WORK, "sparse.torrent"), "--json")
secs = time.time() - t0
p = json.loads(out) if rc == 0 else {}
print(f"   4 TiB sparse: {p.get('pieces')} pieces of {p.get('piece_size', 0) >> 20} MiB, "
      f".torrent {p.get('torrent_bytes')} bytes, {secs:.2f} s")
check(rc == 0 and p["pieces"] <= 65536 and p["torrent_bytes"] < 3_500_000 and
      lt.torrent_info(os.path.join(WORK, "sparse.torrent")).num_pieces() == p["pieces"],
      "a sparse 4 TiB model: at most 65,536 pieces, .torrent under 3.5 MB, loaded by libtorrent")
rc, _, err = ferry("torrent", "create", sparse, "-o", os.path.join(WORK, "sparse16k.torrent"), "--piece-size", "16K")
check(rc == 64 and "refuse" in err, f"16 KiB pieces over 4 TiB are refused with the reason (exit {rc})")

# ------------------------------------------------------------------ ferry downloads
hyb = os.path.join(WORK, "t_hybrid_65536.torrent")
v2t = os.path.join(WORK, "t_v2_65536.torrent")
v1t = os.path.join(WORK, "t_v1_65536.torrent")
parent = os.path.dirname(src)
ses = lt_session()
port = lt_port(ses)
for t in (hyb, v2t, v1t):
    lt_seed(ses, t, parent)
out = os.path.join(WORK, "dl_torrent")
rc, _, err = ferry("fetch", hyb, "-o", out, "--peer", f"127.0.0.1:{port}", "--stall-timeout", "30")
check(rc == 0 and tree(out) == tree(src) and not [n for n in os.listdir(out) if n.startswith(".ferry-bt")],
      f"ferry fetch of a hybrid .torrent from a libtorrent seeder equals the source, staging removed (rc {rc} "
      f"{err.strip()[-200:]})")
magnet = ferry("torrent", "magnet", v2t)[1].strip() + f"&x.pe=127.0.0.1:{port}"
out = os.path.join(WORK, "dl_magnet")
rc, _, err = ferry("fetch", magnet, "-o", out, "--stall-timeout", "30")
check(rc == 0 and tree(out) == tree(src), f"ferry fetch of a v2 magnet with x.pe: metadata and data from peers "
      f"(rc {rc} {err.strip()[-200:]})")
# again over the files it wrote: they match the torrent's BEP 52 roots, so they are kept as
# present (as aria2 and Transmission find complete data); a file that differs is not ferry's
# to replace without --force
before = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)}
rc, _, err = ferry("fetch", magnet, "-o", out, "--stall-timeout", "30")
after = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)}
check(rc == 0 and after == before and tree(out) == tree(src),
      f"fetching again over the files it wrote: verified against the torrent and left as they are (rc {rc})")
victim = sorted(n for n in os.listdir(out) if os.path.getsize(os.path.join(out, n)) > 0)[0]
with open(os.path.join(out, victim), "r+b") as f:
    first = f.read(1)
    f.seek(0)
    f.write(bytes([first[0] ^ 0xFF]))
rc, _, err = ferry("fetch", magnet, "-o", out, "--stall-timeout", "30")
check(rc == 73 and "exists" in err and victim in err,
      f"a file that differs from the torrent is refused without --force (exit 73): rc {rc} {err.strip()[-120:]}")

# magnets with bad hashes: refused before anything is made
bad = {"magnet:?xt=urn:btih:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz": "hash",
       "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef0123456": "hash",
       "magnet:?xt=urn:btmh:1220" + "ab" * 31: "hash", "magnet:?dn=model": "hash",
       "magnet:?dn=urn:btih:" + "ab" * 20: "hash",
       "magnet:?xt=urn:btih:" + "ab" * 20 + "&xt=urn:btih:" + "cd" * 20: "two different v1 info hashes"}
refused = 0
for m, why in bad.items():
    out = os.path.join(WORK, "badmagnet")
    rc, _, err = ferry("fetch", m, "-o", out, "--stall-timeout", "5")
    refused += rc == 65 and why in err and not os.path.exists(out)
check(refused == len(bad), f"{refused}/{len(bad)} magnets with bad or missing hashes refused (exit 65), nothing made")

# without -o a magnet's folder is its dn as libtorrent decodes it ('+' and %20 are spaces; a
# decoded '/' is no separator but part of the one name, made '_')
named = "&".join(p for p in magnet.split("&") if not p.startswith("dn=")) + "&dn=ferry+model%2F..%20v1"
os.makedirs(os.path.join(WORK, "named"))
rc, _, err = ferry("fetch", named, "--stall-timeout", "30", cwd=os.path.join(WORK, "named"))
got = os.listdir(os.path.join(WORK, "named"))
check(rc == 0 and got == ["ferry model_.. v1"] and tree(os.path.join(WORK, "named", got[0])) == tree(src),
      f"a magnet fetched without -o lands in the folder its dn names, decoded: {got} (rc {rc} {err.strip()[-200:]})")

# aria2 seeds a v1 torrent
aria = shutil.which("aria2c")
if not aria:
    skip_part("aria2c is not installed")
else:
    ap = free_port()
    proc = subprocess.Popen([aria, "--enable-dht=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
                             f"--listen-port={ap}", "--seed-ratio=0.0", "-V", "-d", parent, "--quiet=true",
                             "--bt-tracker-connect-timeout=1", "--console-log-level=error", v1t],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        out = os.path.join(WORK, "dl_aria")
        rc, _, err = ferry("fetch", v1t, "-o", out, "--peer", f"127.0.0.1:{ap}", "--stall-timeout", "30")
        check(rc == 0 and tree(out) == tree(src), f"ferry fetch of a v1 torrent from an aria2 seeder (rc {rc} "
              f"{err.strip()[-200:]})")
    finally:
        proc.terminate()
        proc.wait()


# web seeds: nginx serves <root>/<name>/<path>; a hub stand-in redirects its resolve URLs there
class Redirect(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):
        # /org/name/resolve/<commit>/<path> -> nginx /<commit>/<path>
        parts = self.path.split("/resolve/", 1)
        self.send_response(302 if len(parts) == 2 else 404)
        if len(parts) == 2:
            self.send_header("Location", self.target + "/" + parts[1])
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *a):
        pass


try:
    from nginx_server import Nginx
    have_nginx = True
except Exception:
    have_nginx = False
if not shutil.which("nginx") and not os.path.exists("/usr/sbin/nginx"):
    have_nginx = False
if not have_nginx:
    skip_part("nginx is not installed")
else:
    www = os.path.join(WORK, "www")
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(src, os.path.join(www, "model"))
    shutil.copytree(src, os.path.join(www, commit))
    with Nginx(www, os.path.join(WORK, "nginx")) as ng:
        ws = os.path.join(WORK, "ws.torrent")
        ferry("torrent", "create", src, "-o", ws, "-q", "--web-seed", f"http://127.0.0.1:{ng.port}/")
        out = os.path.join(WORK, "dl_webseed")
        rc, _, err = ferry("fetch", ws, "-o", out, "--stall-timeout", "30")
        log = open(os.path.join(WORK, "nginx", "access.log")).read()
        check(rc == 0 and tree(out) == tree(src) and "/model/big.bin" in log and ".pad" not in log,
              f"a web-seed-only download from nginx (no peers; pad files never asked for) (rc {rc} "
              f"{err.strip()[-200:]})")
        Redirect.target = f"http://127.0.0.1:{ng.port}"
        hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        threading.Thread(target=hub.serve_forever, daemon=True).start()
        hs = os.path.join(WORK, "hub.torrent")
        ferry("torrent", "create", src, "-o", hs, "-q", "--name", commit, "--web-seed",
              f"http://127.0.0.1:{hub.server_address[1]}/org/model/resolve/")
        out = os.path.join(WORK, "dl_hub")
        rc, _, err = ferry("fetch", hs, "-o", out, "--stall-timeout", "30")
        log = open(os.path.join(WORK, "nginx", "access.log")).read()
        check(rc == 0 and tree(out) == tree(src) and f"/{commit}/big.bin" in log,
              f"a hub stand-in as web seed: the torrent's top folder is the commit, resolve URLs redirect to "
              f"another port (rc {rc} {err.strip()[-200:]})")
        hub.shutdown()

# a second seeder serves corrupted pieces (aria2 seeding unverified data): banned, data from the good one
if aria:
    bad_parent = os.path.join(WORK, "badseed")
    shutil.copytree(src, os.path.join(bad_parent, "model"))
    with open(os.path.join(bad_parent, "model", "big.bin"), "r+b") as f:
        f.write(os.urandom(5 << 20))
    ap = free_port()
    proc = subprocess.Popen([aria, "--enable-dht=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
                             f"--listen-port={ap}", "--seed-ratio=0.0", "--bt-seed-unverified=true", "-d",
                             bad_parent, "--quiet=true", "--console-log-level=error", v1t],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        slow = lt_session()
        sp = lt_port(slow)
        lt_seed(slow, v1t, parent, limit=1_000_000)
        out = os.path.join(WORK, "dl_corrupt")
        rc, _, err = ferry("fetch", v1t, "-o", out, "--peer", f"127.0.0.1:{ap}", "--peer", f"127.0.0.1:{sp}",
                           "--stall-timeout", "60")
        fails = err.count("failed its hash check")
        print(f"   {fails} hash failures reported; bans: {err.count('banned')}")
        check(rc == 0 and tree(out) == tree(src) and fails > 0,
              f"a seeder of corrupted pieces: hash failures reported, the file comes whole from the good seeder "
              f"(rc {rc} {err.strip()[-300:]})")
        del slow
    finally:
        proc.terminate()
        proc.wait()

# kill -9 mid-download, then resume: pieces present are checked, not fetched again
big = os.path.join(WORK, "kill", "model")
write(os.path.join(big, "weights.bin"), os.urandom(40 << 20))
kt = os.path.join(WORK, "kill.torrent")
ferry("torrent", "create", big, "-o", kt, "-q", "--piece-size", "256K")
slow = lt_session()
sp = lt_port(slow)
lt_seed(slow, kt, os.path.dirname(big), limit=4_000_000)
out = os.path.join(WORK, "dl_kill")
env = dict(os.environ, XDG_STATE_HOME=os.path.join(WORK, "state"))
proc = subprocess.Popen([FERRY, "fetch", kt, "-o", out, "--peer", f"127.0.0.1:{sp}", "--json"],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
done_at_kill = 0
t0 = time.time()
for line in proc.stdout:
    e = json.loads(line)
    if e.get("event") == "progress":
        done_at_kill = e["bytes"]
        if done_at_kill > (15 << 20) or time.time() - t0 > 30:
            break
proc.kill()
proc.wait()
del slow
stage = [n for n in os.listdir(out) if n.startswith(".ferry-bt")]
check(not os.path.exists(os.path.join(out, "weights.bin")) and stage,
      f"killed with SIGKILL at {done_at_kill >> 20} MiB: nothing under the final name, staging kept")
ses2 = lt_session()
p2 = lt_port(ses2)
lt_seed(ses2, kt, os.path.dirname(big))
rc, out_json, err = ferry("fetch", kt, "-o", out, "--peer", f"127.0.0.1:{p2}", "--json", "--stall-timeout", "30")
summary = [json.loads(x) for x in out_json.splitlines() if '"summary"' in x]
down = summary[0]["downloaded"] if summary else -1
print(f"   rerun downloaded {down >> 20} MiB of 40 (had {done_at_kill >> 20} MiB at the kill)")
check(rc == 0 and tree(out) == tree(big) and 0 <= down <= (40 << 20) - done_at_kill + (1 << 20),
      "the rerun fetched only what was missing (within a MiB of in-flight pieces) and completed")
# a clean stop (SIGINT) keeps libtorrent's resume data
out = os.path.join(WORK, "dl_int")
slow = lt_session()
sp = lt_port(slow)
lt_seed(slow, kt, os.path.dirname(big), limit=4_000_000)
proc = subprocess.Popen([FERRY, "fetch", kt, "-o", out, "--peer", f"127.0.0.1:{sp}", "--json"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
for line in proc.stdout:
    if '"progress"' in line and json.loads(line)["bytes"] > (8 << 20):
        break
proc.send_signal(signal.SIGINT)
rest, errs = proc.communicate(timeout=30)
resumes = [n for n in os.listdir(out) if n.endswith(".resume")]
check(proc.returncode == 75 and resumes, f"SIGINT: exit 75 and resume data saved ({proc.returncode})")
del slow
rc, _, err = ferry("fetch", kt, "-o", out, "--peer", f"127.0.0.1:{p2}", "--stall-timeout", "30")
check(rc == 0 and tree(out) == tree(big), "a rerun after SIGINT completes from the resume data")
del ses2

# ------------------------------------------------------------------ against a signed manifest
lic = b"Example Community License\nAccept it to use the weights.\n"
gm = os.path.join(WORK, "gated", "model")
for rel, data in {"LICENSE": lic, "config.json": b"{}", "weights.bin": os.urandom(3_000_000)}.items():
    write(os.path.join(gm, rel), data)
rc, _, err = ferry("sign", gm, "--key", os.path.join(WORK, "k.key"), "--license-id", "example-1.0",
                   "--require-acceptance", "-q")
gt = os.path.join(WORK, "gated.torrent")
ferry("torrent", "create", gm, "-o", gt, "-q")
other = os.path.join(WORK, "other", "model")
shutil.copytree(gm, other)
with open(os.path.join(other, "weights.bin"), "r+b") as f:
    f.write(b"\1" * 64)
ot = os.path.join(WORK, "other.torrent")
ferry("torrent", "create", other, "-o", ot, "-q")
ses3 = lt_session()
p3 = lt_port(ses3)
lt_seed(ses3, gt, os.path.dirname(gm))
lt_seed(ses3, ot, os.path.dirname(other))
manifest = os.path.join(gm, "model.manifest.json")
pub = os.path.join(WORK, "k.pub")
out = os.path.join(WORK, "dl_other")
rc, _, err = ferry("fetch", ot, "-o", out, "--manifest", manifest, "--pubkey", pub, "--peer", f"127.0.0.1:{p3}",
                   "--stall-timeout", "20")
left = [n for n in tree(out) if not n.startswith("model.manifest")]
check(rc == 1 and "differs from the signed manifest" in err and not left,
      f"a torrent whose roots disagree with the signed manifest: exit 1, nothing but the manifest kept (rc {rc}, "
      f"{left})")
om = ferry("torrent", "magnet", ot)[1].strip() + f"&x.pe=127.0.0.1:{p3}"
out = os.path.join(WORK, "dl_other_magnet")
rc, _, err = ferry("fetch", om, "-o", out, "--manifest", manifest, "--pubkey", pub, "--stall-timeout", "20")
left = [n for n in tree(out) if not n.startswith("model.manifest")]
check(rc == 1 and not left, f"the same for a magnet, checked when the metadata arrives (rc {rc}, {left})")
out = os.path.join(WORK, "dl_gated")
rc, _, err = ferry("fetch", gt, "-o", out, "--manifest", manifest, "--pubkey", pub, "--peer", f"127.0.0.1:{p3}",
                   "--stall-timeout", "20")
got = tree(out)
check(rc == 1 and "LICENSE" in got and "weights.bin" not in got and "accept" in err,
      f"the license gate: the license text arrives, the weights wait for an acceptance (rc {rc})")
sha = hashlib.sha256(lic).hexdigest()
rc, _, err = ferry("fetch", gt, "-o", out, "--manifest", manifest, "--pubkey", pub, "--peer", f"127.0.0.1:{p3}",
                   f"--accept-license={sha}", "--name", "Test User", "--stall-timeout", "20")
got = tree(out)
check(rc == 0 and got.get("weights.bin") == hashlib.sha256(open(os.path.join(gm, "weights.bin"), "rb").read()).hexdigest(),
      f"after acceptance the weights arrive, checked against the manifest (rc {rc} {err.strip()[-200:]})")
rc, _, err = ferry("verify", out, "--pubkey", pub, "--require-license")
check(rc == 0, f"and the result passes ferry verify --require-license (rc {rc})")
del ses3

# ------------------------------------------------------------------ downloads from ferry seed
seed_dirs = []
for i in range(50):
    d = os.path.join(WORK, "many", f"m{i:02d}")
    write(os.path.join(d, "weights.bin"), os.urandom(100_000 + i))
    seed_dirs.append(d)
state = os.path.join(WORK, "seedstate")
proc = subprocess.Popen([FERRY, "seed", src, *seed_dirs, "--listen", "127.0.0.1:0", "--state", state, "--json"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
port, magnets = 0, {}
t0 = time.time()
for line in proc.stdout:
    e = json.loads(line)
    if e["event"] == "listening":
        port = e["port"]
    if e["event"] == "added":
        magnets[e["path"]] = e["magnet"]
    if len(magnets) == 51 or time.time() - t0 > 120:
        break
dl = lt_session(min_reconnect_time=1)  # a refused first connect is retried at once, not in 60 s
handles = []
for path in [src, *seed_dirs]:
    atp = lt.parse_magnet_uri(magnets[path])
    atp.save_path = os.path.join(WORK, "from_seed")
    atp.peers = [("127.0.0.1", port)]
    atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    handles.append(dl.add_torrent(atp))
t0 = time.time()
while time.time() - t0 < 120 and not all(h.status().is_seeding for h in handles):
    time.sleep(0.2)
ok = sum(h.status().is_seeding for h in handles)
same = tree(os.path.join(WORK, "from_seed", "model")) == tree(src) and all(
    tree(os.path.join(WORK, "from_seed", os.path.basename(d))) == tree(d) for d in seed_dirs)
print(f"   libtorrent fetched {ok}/51 torrents from one ferry seed in {time.time() - t0:.1f} s")
check(ok == 51 and same, "libtorrent downloads 51 torrents at once from `ferry seed` (magnets, metadata included)")
del dl
proc.send_signal(signal.SIGTERM)
try:
    proc.communicate(timeout=60)
except subprocess.TimeoutExpired:
    proc.kill()
check(proc.returncode == 0 and len([n for n in os.listdir(state) if n.endswith(".resume")]) == 51,
      f"SIGTERM stops the seeder cleanly with resume data for every torrent ({proc.returncode})")
# a restart: the torrent is not made again and the data is not hashed
os.utime(os.path.join(src, "a.bin"))  # a changed stamp makes one torrent anew
t0 = time.time()
proc = subprocess.Popen([FERRY, "seed", src, seed_dirs[0], "--listen", "127.0.0.1:0", "--state", state, "--json"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
made = {}
for line in proc.stdout:
    e = json.loads(line)
    if e["event"] == "added":
        made[e["path"]] = e["made"]
    if len(made) == 2:
        break
proc.send_signal(signal.SIGTERM)
proc.communicate(timeout=60)
check(made == {src: True, seed_dirs[0]: False}, f"a restart reuses the kept torrent; a changed file makes it anew ({made})")

# aria2 downloads from ferry seed through opentracker
tracker = shutil.which("opentracker")
if not aria or not tracker:
    skip_part("aria2c or opentracker is not installed")
else:
    v1s = os.path.join(WORK, "tracked.torrent")
    tp = free_port()
    ferry("torrent", "create", src, "-o", v1s, "--v1", "-q", "--tracker", f"http://127.0.0.1:{tp}/announce")
    ih = str(lt.torrent_info(v1s).info_hashes().v1)
    # opentracker started as root drops to an unprivileged user before reading its access list,
    # which must then be readable from outside a private (0700) work folder
    import tempfile
    otdir = tempfile.mkdtemp(prefix="ferry-opentracker-")
    os.chmod(otdir, 0o755)
    wl = os.path.join(otdir, "whitelist")
    open(wl, "w").write(ih + "\n")
    os.chmod(wl, 0o644)
    conf = os.path.join(otdir, "opentracker.conf")
    open(conf, "w").write(f"access.whitelist {wl}\n")
    trk = subprocess.Popen([tracker, "-f", conf, "-i", "127.0.0.1", "-p", str(tp), "-P", str(tp)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    seedp = subprocess.Popen([FERRY, "seed", v1s, "--data", os.path.dirname(src), "--listen", "127.0.0.1:0",
                              "--state", os.path.join(WORK, "seedstate2"), "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        t0 = time.time()
        for line in seedp.stdout:  # the data is checked first (no resume data yet)
            e = json.loads(line)
            if e["event"] == "status" and e["torrents"][0]["seeding"] or time.time() - t0 > 60:
                break
        out = os.path.join(WORK, "aria_from_seed")
        # aria2 asks the tracker every 2 s, so it finds the seeder whenever that announced
        r = subprocess.run([aria, "--enable-dht=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
                            f"--listen-port={free_port()}", "--seed-time=0", "-d", out, "--quiet=true",
                            "--bt-tracker-interval=2", "--bt-stop-timeout=60", v1s], timeout=120)
        check(r.returncode == 0 and tree(os.path.join(out, "model")) == tree(src),
              f"aria2 finds `ferry seed` through opentracker and downloads a v1 torrent (rc {r.returncode})")
    finally:
        seedp.terminate()
        seedp.wait()
        trk.terminate()
        trk.wait()
        shutil.rmtree(otdir, ignore_errors=True)

check.finish()
