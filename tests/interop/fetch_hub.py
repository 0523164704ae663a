#!/usr/bin/python3
"""ferry fetch hf://... against the hub of fault_server.py on 127.0.0.1 (HF_ENDPOINT): revision
pinned to the commit, paginated tree listing, LFS files redirected to another port (the token
must not follow), git blob SHA-1 for small files, --include/--exclude, skipping verified files,
gated repositories (401/403 -> 77), a listing with a path escaping the folder (65), a listing
with a wrong SHA-256 (1, nothing kept), and the huggingface_hub cache layout checked by
following its symlinks here with os.readlink and hashlib.
usage: fetch_hub.py FERRY WORKDIR"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Checks, FaultServer  # noqa: E402
import trees  # noqa: E402

FERRY, WORK = sys.argv[1], os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
ROOT = os.path.join(WORK, "root")
check = Checks()


def write(rel, data):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


files = {"config.json": b'{"model_type": "llama"}\n', "README.md": b"# a model\n" * 50,
         "model.safetensors": os.urandom(1_500_000), "sub/tokenizer.model": os.urandom(100_000)}
for repo in ("org/model", "org/gated-model", "org/evil-model", "org/liar-model"):
    for rel, data in files.items():
        write(f"hub/{repo}/{rel}", data)
sha = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
gitsha = {k: hashlib.sha1(b"blob %d\0" % len(v) + v).hexdigest() for k, v in files.items()}

os.makedirs(WORK, exist_ok=True)
server = FaultServer(ROOT, WORK)
log, A, B = server.log, server.a, server.b
try:
    env = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{A}", HF_HOME=os.path.join(WORK, "hfhome"))
    env.pop("HF_TOKEN", None)
    env.pop("HF_HUB_CACHE", None)

    def fetch(spec, *args, **extra):
        e = dict(env, **extra)
        r = subprocess.run([FERRY, "fetch", spec, "--json", *args], capture_output=True, text=True, env=e,
                           timeout=120)
        ev = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        return r.returncode, ev, r.stderr.strip()

    def tree(d):
        return trees.tree(d, trees.hidden)

    out = os.path.join(WORK, "plain")
    rc, ev, err = fetch("hf://org/model", "-o", out, "--segment-size", "262144", "-j", "4")  # 4 files at once
    done = {e["file"]: e for e in ev if e["event"] == "done"}
    check(rc == 0 and tree(out) == sha, f"hf://org/model: all 4 files, right bytes (rc {rc}, {err[-120:]})")
    check(done.get("org/model/config.json", {}).get("verified_by") == "git blob SHA-1"
          and done.get("org/model/model.safetensors", {}).get("verified_by") == "expected SHA-256",
          "small files checked by git blob SHA-1, LFS files by SHA-256")
    # the records huggingface_hub keeps in a plain folder (hf download --local-dir reads them)
    import urllib.request
    api = json.load(urllib.request.urlopen(f"http://127.0.0.1:{A}/api/models/org/model/revision/main"))
    recs = {}
    for rel in files:
        with open(os.path.join(out, ".cache", "huggingface", "download", rel + ".metadata")) as f:
            recs[rel] = f.read().split("\n")
    check(all(r[0] == api["sha"] and r[1] == (sha[k] if len(files[k]) > 65536 else gitsha[k]) and float(r[2]) > 0
              for k, r in recs.items()),
          "huggingface_hub's download records: commit, etag (LFS SHA-256 or git blob SHA-1), time")
    # a torrent of the folder with the hub as its web seed: top folder = commit, BEP 19 appends the path
    ht = os.path.join(WORK, "hub.torrent")
    r = subprocess.run([FERRY, "torrent", "create", out, "--hub", "org/model", "-o", ht, "-q"], env=env,
                       capture_output=True, text=True, timeout=60)
    tj = json.loads(subprocess.run([FERRY, "inspect", ht, "--json"], capture_output=True, text=True).stdout or "{}")
    check(r.returncode == 0 and tj.get("name") == api["sha"] and
          tj.get("web_seeds") == [f"http://127.0.0.1:{A}/org/model/resolve/"] and len(tj.get("files", [])) == 4,
          f"ferry torrent create --hub: named by the commit, the hub's resolve URL as web seed ({r.stderr[-150:]})")
    r = subprocess.run([FERRY, "fetch", ht, "-o", os.path.join(WORK, "from_hub_bt"), "--stall-timeout", "30"],
                       env=env, capture_output=True, text=True, timeout=120)
    check(r.returncode == 0 and tree(os.path.join(WORK, "from_hub_bt")) == sha,
          f"the torrent downloads from the hub alone, LFS files through its redirects to another port "
          f"(rc {r.returncode} {r.stderr[-200:]})")
    reqs = [json.loads(line) for line in open(log)]
    check(any(r["auth"] is False and str(r["port"]) == B for r in reqs) and
          not any(r["auth"] for r in reqs), "no token configured: none sent")
    pages = [r for r in reqs if "/tree/" in r["path"]]
    check(len(pages) == 3 and all("/tree/main" not in r["path"] for r in pages),
          f"tree listing read in {len(pages)} pages, at the pinned commit")
    rc, ev, err = fetch("hf://org/model", "-o", out)
    skipped = [e for e in ev if e["event"] == "skipped"]
    check(rc == 0 and len(skipped) == 4 and not [e for e in ev if e["event"] == "done"],
          "rerun: 4 files present and verified, nothing downloaded")
    with open(os.path.join(out, "sub", "tokenizer.model"), "r+b") as f:
        f.write(b"X")
    rc, ev, err = fetch("hf://org/model", "-o", out)
    check(rc == 73 and "differs" in err, f"a changed local file is not overwritten without --force (rc {rc})")
    rc, ev, err = fetch("hf://org/model", "-o", out, "--force")
    check(rc == 0 and tree(out) == sha, "--force replaces it with the hub's bytes")

    out = os.path.join(WORK, "filtered")
    rc, ev, err = fetch("hf://org/model", "-o", out, "--include", "*.json", "--include", "sub/*")
    check(rc == 0 and set(tree(out)) == {"config.json", "sub/tokenizer.model"}, f"--include globs: {sorted(tree(out))}")
    out = os.path.join(WORK, "excluded")
    rc, ev, err = fetch("hf://org/model", "-o", out, "--exclude", "*.safetensors")
    check(rc == 0 and set(tree(out)) == {"config.json", "README.md", "sub/tokenizer.model"}, "--exclude glob")
    out = os.path.join(WORK, "onefile")
    rc, ev, err = fetch("hf://org/model@main/sub/tokenizer.model", "-o", out)
    check(rc == 0 and set(tree(out)) == {"sub/tokenizer.model"}, "hf://ORG/NAME@REV/PATH fetches one file")

    # gated
    out = os.path.join(WORK, "gated")
    rc, ev, err = fetch("hf://org/gated-model", "-o", out)
    check(rc == 77 and "gated" in err and "HF_TOKEN" in err, f"gated, no token: exit 77 ({err[-110:]})")
    rc, ev, err = fetch("hf://org/gated-model", "-o", out, HF_TOKEN="wrong")
    check(rc == 77 and "not been granted" in err, f"gated, token without access: exit 77 ({err[-80:]})")
    open(log, "w").close()
    rc, ev, err = fetch("hf://org/gated-model", "-o", out, HF_TOKEN="secret")
    reqs = [json.loads(line) for line in open(log)]
    to_b = [r for r in reqs if str(r["port"]) == B]
    check(rc == 0 and tree(out) == sha and to_b and not any(r["auth"] for r in to_b)
          and all(r["auth"] for r in reqs if str(r["port"]) == A),
          f"gated with HF_TOKEN: fetched; {len(to_b)} LFS requests on the CDN port, none with the token")
    os.makedirs(env["HF_HOME"], exist_ok=True)
    with open(os.path.join(env["HF_HOME"], "token"), "w") as f:
        f.write("secret\n")
    out = os.path.join(WORK, "gated2")
    rc, ev, err = fetch("hf://org/gated-model", "-o", out, "--include", "config.json")
    check(rc == 0 and set(tree(out)) == {"config.json"}, "token read from $HF_HOME/token")
    os.unlink(os.path.join(env["HF_HOME"], "token"))

    # hostile listings
    out = os.path.join(WORK, "evil")
    rc, ev, err = fetch("hf://org/evil-model", "-o", out)
    check(rc == 65 and not os.path.exists(os.path.join(WORK, "escape")) and "unsafe" in err,
          f"listing with ../escape refused: exit 65 (rc {rc})")
    out = os.path.join(WORK, "liar")
    rc, ev, err = fetch("hf://org/liar-model", "-o", out)
    check(rc == 1 and not os.path.exists(os.path.join(out, "model.safetensors"))
          and not os.path.exists(os.path.join(out, ".model.safetensors.part")),
          f"bytes not matching the listed SHA-256: exit 1, nothing kept (rc {rc})")
    rc, ev, err = fetch("hf://org/nothere", "-o", out)
    check(rc == 66, f"unknown repository: exit 66 (rc {rc})")

    # huggingface_hub cache layout, checked by following the links here
    cache = os.path.join(WORK, "cache")
    rc, ev, err = fetch("hf://org/model", "--hf-cache", "-o", cache, "-j", "2")
    base = os.path.join(cache, "models--org--model")
    commit = open(os.path.join(base, "refs", "main")).read() if os.path.exists(os.path.join(base, "refs", "main")) else ""
    snap = os.path.join(base, "snapshots", commit)
    ok = rc == 0 and len(commit) == 40 and os.path.isdir(snap)
    for rel in files:
        link = os.path.join(snap, rel)
        if not os.path.islink(link):
            ok = False
            break
        target = os.readlink(link)
        blob = os.path.normpath(os.path.join(os.path.dirname(link), target))
        want_name = sha[rel] if len(files[rel]) > 65536 else gitsha[rel]
        ok &= (not os.path.isabs(target) and os.path.dirname(blob) == os.path.join(base, "blobs")
               and os.path.basename(blob) == want_name
               and hashlib.sha256(open(link, "rb").read()).hexdigest() == sha[rel])
    check(ok, f"--hf-cache: refs/main = {commit[:12]}..., 4 relative snapshot links into blobs named by hash")
    # the snapshot, made of links into blobs/, signs and verifies; a link out of the repository
    # folder is refused
    key = os.path.join(WORK, "sk")
    subprocess.run([FERRY, "keygen", "--no-password", "-o", key], capture_output=True)
    r1 = subprocess.run([FERRY, "sign", snap, "--key", key + ".key"], capture_output=True, text=True)
    r2 = subprocess.run([FERRY, "verify", snap, "--pubkey", key + ".pub"], capture_output=True, text=True)
    ser = json.load(open(os.path.join(snap, "model.manifest.json")))["predicate"]["serialization"]
    check(r1.returncode == 0 and r2.returncode == 0 and "4 files OK" in r2.stderr and ser["allow_symlinks"] is True,
          f"a hub cache snapshot (links into blobs/) signs and verifies, allow_symlinks recorded ({r1.stderr[-150:]})")
    os.symlink("/etc/hostname", os.path.join(snap, "outside.txt"))
    r3 = subprocess.run([FERRY, "verify", snap, "--pubkey", key + ".pub"], capture_output=True, text=True)
    r4 = subprocess.run([FERRY, "sign", snap, "--key", key + ".key", "--force"], capture_output=True, text=True)
    check(r3.returncode != 0 and r4.returncode == 65 and "out of the model's folder" in r4.stderr,
          f"a link out of the repository folder is refused by sign (65) and verify ({r3.returncode})")
    os.remove(os.path.join(snap, "outside.txt"))
    for n in ("model.manifest.json", "model.manifest.json.minisig"):
        os.remove(os.path.join(snap, n))
    rc, ev, err = fetch("hf://org/model", "--hf-cache", "-o", cache)
    check(rc == 0 and len([e for e in ev if e["event"] == "skipped"]) == 4, "cache reused on a second run")
    rc, ev, err = fetch("hf://org/model", "--hf-cache", "--include", "config.json",
                        HF_HUB_CACHE=os.path.join(WORK, "envcache"))
    check(rc == 0 and os.path.isdir(os.path.join(WORK, "envcache", "models--org--model", "blobs")),
          "--hf-cache without -o uses $HF_HUB_CACHE")
    # on a terminal: a bar per file and an overall total below it (util-linux `script` gives a pty)
    if shutil.which("script"):
        ts = os.path.join(WORK, "typescript")
        cmd = f"{FERRY} fetch hf://org/model -o {os.path.join(WORK, 'tty')}"
        subprocess.run(["script", "-qec", cmd, ts], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       timeout=120)
        text = open(ts, "rb").read().decode("utf-8", "replace")
        check("org/model/model.safetensors [" in text and "total [" in text and "MiB/s ETA" in text,
              "TTY: per-file bars and a total bar with rate and ETA")
finally:
    server.stop()

check.finish()
