#!/usr/bin/python3
"""ferry fetch --manifest ... --mirror ...: a model signed with `ferry sign --require-acceptance`
is served by Debian's nginx as three mirrors (one with a corrupted weight file, one missing
everything, one good) plus an unreachable one. Checked: the signature is verified before any
weight is fetched (and the copy in the output passes the `minisign` program); the license gate
stops everything but the license text until acceptance is recorded; the corrupted mirror is
named and skipped; the result equals the source (hashlib) and passes `ferry verify
--require-license`; a wrong key or a tampered manifest fetches nothing.
Then examples/fetch_verified (libferry alone, no ferry program) does the same fetch with mirror
failover and verifies the result, printing its events.
usage: fetch_manifest.py FERRY WORKDIR [FETCH_VERIFIED]"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nginx_server import Nginx  # noqa: E402
from servers import Checks, FaultServer  # noqa: E402

FERRY, WORK = sys.argv[1], os.path.abspath(sys.argv[2])
EXAMPLE = sys.argv[3] if len(sys.argv) > 3 else None
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()


def run(*args, **kw):
    env = dict(os.environ, XDG_DATA_HOME=os.path.join(WORK, "data"), XDG_CONFIG_HOME=os.path.join(WORK, "config"))
    r = subprocess.run([FERRY, *args], capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr.strip()


def files_of(d):
    out = {}
    for dp, _, names in os.walk(d):
        for n in names:
            p = os.path.join(dp, n)
            out[os.path.relpath(p, d)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


www = os.path.join(WORK, "www")
model = os.path.join(www, "good")
os.makedirs(os.path.join(model, "sub"))
license_text = b"Example Community License\n\nYou may use these weights if you accept this text.\n"
content = {"LICENSE": license_text, "config.json": b'{"dim": 64}\n', "weights.bin": os.urandom(3_000_000),
           "sub/extra.bin": os.urandom(200_000)}
for rel, data in content.items():
    with open(os.path.join(model, rel), "wb") as f:
        f.write(data)
key = os.path.join(WORK, "k")
run("keygen", "--no-password", "-o", key)
rc, _, err = run("sign", model, "--key", key + ".key", "--license-id", "example-1.0", "--require-acceptance")
check(rc == 0, f"model signed ({err[-80:]})")
shutil.copytree(model, os.path.join(www, "bad"))
with open(os.path.join(www, "bad", "weights.bin"), "r+b") as f:
    f.seek(1_000_000)
    f.write(b"\0" * 16)
os.makedirs(os.path.join(www, "empty"))
shutil.copytree(model, os.path.join(www, "evil"))
man = json.load(open(os.path.join(www, "evil", "model.manifest.json")))
man["predicate"]["resources"] = [r for r in man["predicate"]["resources"] if r["name"] != "LICENSE"]
json.dump(man, open(os.path.join(www, "evil", "model.manifest.json"), "w"))
other = os.path.join(WORK, "other")
run("keygen", "--no-password", "-o", other)
lic_sha = hashlib.sha256(license_text).hexdigest()

with Nginx(www, os.path.join(WORK, "nginx")) as ng:
    mirrors = ["--mirror", ng.url("bad"), "--mirror", "http://127.0.0.1:1/down", "--mirror", ng.url("empty"),
               "--mirror", ng.url("good")]
    src = ng.url("good/model.manifest.json")

    out = os.path.join(WORK, "out1")
    rc, _, err = run("fetch", "--manifest", src, "--pubkey", other + ".pub", *mirrors, "-o", out, "--tries", "2")
    check(rc == 1 and "weights.bin" not in files_of(out) and "LICENSE" not in files_of(out),
          f"wrong public key: exit 1, nothing fetched (rc {rc})")
    out = os.path.join(WORK, "out2")
    rc, _, err = run("fetch", "--manifest", ng.url("evil/model.manifest.json"), "--pubkey", key + ".pub", *mirrors,
                     "-o", out, "--tries", "2")
    check(rc == 1 and "weights.bin" not in files_of(out), f"tampered manifest: exit 1, nothing fetched (rc {rc})")

    out = os.path.join(WORK, "out3")
    rc, _, err = run("fetch", "--manifest", src, "--pubkey", key + ".pub", *mirrors, "-o", out, "--tries", "2")
    got = files_of(out)
    check(rc == 1 and got.get("LICENSE") == lic_sha and "weights.bin" not in got and "accept" in err,
          f"license gate: only the license fetched, exit 1 until accepted (rc {rc}, {sorted(got)})")

    # -j 3: the weights three at a time, each with its own mirror failover
    rc, stdout, err = run("fetch", "--manifest", src, "--pubkey", key + ".pub", *mirrors, "-o", out, "--tries", "2",
                          f"--accept-license={lic_sha}", "--name", "Test Person", "--json", "-j", "3")
    got = files_of(out)
    want = {k: hashlib.sha256(v).hexdigest() for k, v in content.items()}
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    skipped = [e for e in events if e["event"] == "mirror_skipped"]
    check(rc == 0 and all(got.get(k) == v for k, v in want.items()),
          f"accepted: every file fetched and equal to the source (rc {rc}, {err[-150:]})")
    check(any(e["file"] == "weights.bin" and "bad" in e["mirror"] and e["reason"] == "wrong bytes" for e in skipped)
          and "served other bytes" in err, "the mirror with corrupted bytes is named and skipped")
    check(any(e["reason"] == "unavailable" for e in skipped), "unreachable and empty mirrors skipped")
    roots = {r["name"]: r.get("ferry.btv2_root") for r in json.load(open(os.path.join(model, "model.manifest.json")))
             ["predicate"]["resources"]}
    done = {e["file"]: e for e in events if e["event"] == "done"}
    check(roots.get("weights.bin") and all(done[n]["btv2_checked"] == bool(roots.get(n)) for n in done),
          f"BEP 52 roots from the manifest checked for the {sum(bool(v) for v in roots.values())} files that have one")
    r = subprocess.run(["minisign", "-Vm", os.path.join(out, "model.manifest.json"), "-p", key + ".pub"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "minisign -V accepts the manifest copied into the output")
    rc, _, err = run("verify", out, "--pubkey", key + ".pub", "--require-license")
    check(rc == 0, f"ferry verify --require-license passes on the output (rc {rc}, {err[-100:]})")
    rc, stdout, err = run("fetch", "--manifest", src, "--pubkey", key + ".pub", *mirrors, "-o", out, "--json")
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    check(rc == 0 and len([e for e in events if e["event"] == "skipped"]) == len(content)
          and not [e for e in events if e["event"] == "done"], "rerun: every file present and verified, none fetched")

    # a dead mirror first in the list is tried once, not once per file (issue 13: 8 s a file)
    out = os.path.join(WORK, "out6")
    rc, stdout, err = run("fetch", "--manifest", src, "--pubkey", key + ".pub", "--mirror", "http://127.0.0.1:1/down",
                          "--mirror", ng.url("good"), "-o", out, "--tries", "2", f"--accept-license={lic_sha}",
                          "--json")
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    downs = [e for e in events if e["event"] == "mirror_skipped" and "/down" in e["mirror"]]
    check(rc == 0 and len(downs) == 1 and files_of(out).get("weights.bin") == want["weights.bin"],
          f"an unreachable mirror is skipped for the rest of the run after one failure ({len(downs)} tries for "
          f"{len(content)} files, rc {rc})")

    # the library alone: examples/fetch_verified fetches, fails over and verifies
    if EXAMPLE:
        out = os.path.join(WORK, "out5")
        env = dict(os.environ, XDG_DATA_HOME=os.path.join(WORK, "data5"), XDG_CONFIG_HOME=os.path.join(WORK, "config5"))
        r = subprocess.run([EXAMPLE, src, key + ".pub", out, lic_sha, *mirrors[1::2]], capture_output=True,
                           text=True, env=env, timeout=120)
        lines = r.stdout.splitlines()
        got = files_of(out)
        check(r.returncode == 0 and all(got.get(k) == v for k, v in want.items())
              and any(line.startswith("verified %d files" % (len(content) + 0)) or line.startswith("verified ")
                      for line in lines),
              f"examples/fetch_verified: fetched and verified with libferry alone (rc {r.returncode}, {r.stdout[-200:]}{r.stderr[-200:]})")
        check(any(line.startswith("mirror-skipped weights.bin") and "wrong-bytes" in line for line in lines)
              and any(line.startswith("done weights.bin %d %s" % (len(content["weights.bin"]), want["weights.bin"]))
                      for line in lines),
              "examples/fetch_verified: its events name the skipped mirror and the verified weights")
    else:
        print("skipped: examples/fetch_verified not given")

check.finish()
