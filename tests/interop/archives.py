#!/usr/bin/python3
"""Model archives made by tools we did not write: GNU tar (ustar, pax, GNU formats; gzip, bzip2,
xz, zstd), bsdtar (libarchive's own tool; tar and zip) and Python's tarfile and zipfile (stored
and deflated), all holding the same signed Llama folder (written with Debian's torch). Checked:
- `ferry inspect ARCHIVE` lists the members with the sizes the tool packed;
- `ferry verify ARCHIVE --pubkey K` verifies the signature inside and every member in one pass,
  and names a member changed after signing;
- members of plain tars read in place (`ARCHIVE//PATH`): the same tensors as the folder's file
  (`ferry diff`) and the same bytes when converted (`ferry convert --raw`);
- `ferry convert ARCHIVE` writes the GGUF converting the folder writes, byte for byte (plain tars
  read in place, compressed archives and zips staged and removed);
- `ferry pack` output is byte-identical across runs and file times, GNU tar unpacks it to the
  same tree with the signed manifest first, and ferry verifies it.
usage: archives.py FERRY WORKDIR"""
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Checks  # noqa: E402
from trees import tree  # noqa: E402
from skips import skip_part  # noqa: E402
import make_llama  # noqa: E402

FERRY, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()


def ferry(*args, timeout=300):
    r = subprocess.run([FERRY, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


# the model: a Hugging Face folder, a GGUF of it, signed
model = os.path.join(WORK, "src", "model")
cfg = make_llama.config()
make_llama.write_hf(model, make_llama.weights(cfg), cfg)
rc, _, err = ferry("convert", model, "-o", os.path.join(model, "model.gguf"), "--no-vocab", "-q")
ferry("keygen", "--no-password", "-o", os.path.join(WORK, "k"))
rc2, _, _ = ferry("sign", model, "--key", os.path.join(WORK, "k.key"), "-q")
pub = os.path.join(WORK, "k.pub")
check(rc == 0 and rc2 == 0, f"a signed model folder to pack ({err.strip()[-100:]})")
files = {os.path.join("model", k): os.path.getsize(os.path.join(model, k)) for k in tree(model)}
parent = os.path.dirname(model)

archives = []  # (label, path, plain tar)
gnu = shutil.which("tar")
for fmt in ("ustar", "pax", "gnu"):
    p = os.path.join(WORK, f"gnu_{fmt}.tar")
    subprocess.run([gnu, f"--format={fmt}", "-cf", p, "-C", parent, "model"], check=True)
    archives.append((f"GNU tar {fmt}", p, True))
for flag, ext in (("-z", "tar.gz"), ("-j", "tar.bz2"), ("-J", "tar.xz"), ("--zstd", "tar.zst")):
    p = os.path.join(WORK, f"gnu.{ext}")
    r = subprocess.run([gnu, flag, "-cf", p, "-C", parent, "model"])
    if r.returncode == 0:
        archives.append((f"GNU tar {ext}", p, False))
    else:
        skip_part(f"GNU tar {flag} (its compressor) is not installed")
bsdtar = shutil.which("bsdtar")
if bsdtar:
    for fmt, ext in (("pax", "tar"), ("zip", "zip")):
        p = os.path.join(WORK, f"bsdtar.{ext}")
        subprocess.run([bsdtar, "--format", fmt, "-cf", p, "-C", parent, "model"], check=True)
        archives.append((f"bsdtar {fmt}", p, ext == "tar"))
else:
    skip_part("bsdtar (libarchive-tools) is not installed")
for mode, ext in (("w", "tar"), ("w:gz", "tar.gz"), ("w:bz2", "tar.bz2"), ("w:xz", "tar.xz")):
    p = os.path.join(WORK, f"py.{ext}")
    with tarfile.open(p, mode) as t:
        t.add(model, arcname="model")
    archives.append((f"tarfile {mode}", p, mode == "w"))
for comp, name in ((zipfile.ZIP_STORED, "stored"), (zipfile.ZIP_DEFLATED, "deflated")):
    p = os.path.join(WORK, f"py_{name}.zip")
    with zipfile.ZipFile(p, "w", comp) as z:
        for rel in sorted(tree(model)):
            z.write(os.path.join(model, rel), os.path.join("model", rel))
    archives.append((f"zipfile {name}", p, False))

listed, verified, inplace, converted = [], [], [], []
ref_gguf = os.path.join(WORK, "ref.gguf")
ferry("convert", model, "-o", ref_gguf, "--no-vocab", "-q")
ref_raw = os.path.join(WORK, "ref.safetensors")
ferry("convert", os.path.join(model, "model.gguf"), "-o", ref_raw, "--raw", "-q")
for label, path, plain in archives:
    rc, out, err = ferry("inspect", path, "--json")
    got = {m["name"]: m["size"] for m in json.loads(out)["members"]} if rc == 0 else {}
    if got == files:
        listed.append(label)
    else:
        print(f"   {label}: inspect rc {rc}, {sorted(set(got.items()) ^ set(files.items()))[:4]} {err[-200:]}")
    rc, out, err = ferry("verify", path, "--pubkey", pub)
    if rc == 0 and f"{len(tree(model)) - 2} files OK" in err:
        verified.append(label)
    else:
        print(f"   {label}: verify rc {rc} {err[-300:]}")
    out_gguf = os.path.join(WORK, "from_archive.gguf")
    for src in (path, f"{path}//model"):  # the archive, and the folder inside it named
        rc, _, err = ferry("convert", src, "-o", out_gguf, "--no-vocab", "-q", "--force")
        if rc == 0 and open(out_gguf, "rb").read() == open(ref_gguf, "rb").read():
            converted.append(label)
        else:
            print(f"   {src}: convert rc {rc} {err[-200:]}")
    if plain:
        rc, out, err = ferry("diff", f"{path}//model/model.safetensors", os.path.join(model, "model.safetensors"))
        raw = os.path.join(WORK, f"raw_{len(inplace)}.safetensors")
        rc2, _, err2 = ferry("convert", f"{path}//model/model.gguf", "-o", raw, "--raw", "-q")
        same = rc == 0 and "identical" in out and rc2 == 0 and open(raw, "rb").read() == open(ref_raw, "rb").read()
        if same:
            inplace.append(label)
        else:
            print(f"   {label}: in place: diff rc {rc} {out[-100:]} convert rc {rc2} {err2[-200:]}")
print(f"   {len(archives)} archives: " + ", ".join(a[0] for a in archives))
check(len(listed) == len(archives), f"ferry inspect lists every member with its size ({len(listed)}/{len(archives)})")
check(len(verified) == len(archives), f"ferry verify checks the signature and every member in one pass "
      f"({len(verified)}/{len(archives)})")
nplain = sum(1 for a in archives if a[2])
check(len(inplace) == nplain, f"plain tars read in place: same tensors, byte-identical conversions ({len(inplace)}/{nplain})")

check(len(converted) == 2 * len(archives) and not [n for n in os.listdir(WORK) if n.startswith(".ferry-stage")],
      f"ferry convert ARCHIVE gives the bytes converting the folder gives: plain tars in place, the others "
      f"staged beside the output and removed, named as ARCHIVE or ARCHIVE//model "
      f"({len(converted)}/{2 * len(archives)})")

# a folder the compressed archive does not hold: named, exit 66, no staging folder left
zpath = next(p for label, p, plain in archives if p.endswith(".tar.zst"))
rc, _, err = ferry("convert", f"{zpath}//nope", "-o", os.path.join(WORK, "nope.gguf"), "--no-vocab", "-q")
check(rc == 66 and "'nope'" in err and "no files below this folder" in err and
      not [n for n in os.listdir(WORK) if n.startswith(".ferry-stage") or n.startswith("nope")],
      f"convert ARCHIVE.tar.zst//nope: exit {rc}, {err.strip()[-120:]}")

# a checksum list (sha256sum output) against an archive's members, streamed, nothing extracted
sums = os.path.join(WORK, "SHA256SUMS")
with open(sums, "w") as f:
    for rel, digest in sorted(tree(model).items()):
        if not rel.startswith("model.manifest"):
            f.write(f"{digest}  {rel}\n")
ok_sums = [label for label, path, _ in archives if ferry("verify", path, "--checklist", sums)[0] == 0]
check(len(ok_sums) == len(archives), f"verify ARCHIVE --checklist SHA256SUMS: every member hashed as it streams "
      f"({len(ok_sums)}/{len(archives)})")

# a member changed after signing is named
bad = os.path.join(WORK, "changed.tar")
with tarfile.open(bad, "w") as t:
    for rel in sorted(tree(model)):
        data = open(os.path.join(model, rel), "rb").read()
        if rel == "config.json":
            data = data.replace(b"64", b"65", 1)
        info = tarfile.TarInfo("model/" + rel)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
rc, _, err = ferry("verify", bad, "--pubkey", pub)
check(rc == 1 and "changed file: config.json" in err, f"a member changed after signing: exit 1, named (rc {rc})")
rc, _, err = ferry("verify", bad, "--checklist", sums)
check(rc == 1 and "config.json (checksum differs)" in err, f"and against the checklist: exit 1, named (rc {rc})")
rc, _, err = ferry("inspect", os.path.join(WORK, "gnu.tar.gz") + "//model/model.gguf")
check(rc == 64 and "compressed" in err and "stages" in err, f"a checkpoint inside a compressed archive: exit 64 with advice (rc {rc})")

# the decompression bomb limits can be raised for one run
bomb = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "bad", "archive", "bomb_ratio.tar.bz2")
r1 = subprocess.run([FERRY, "inspect", bomb], capture_output=True, text=True)
r2 = subprocess.run([FERRY, "inspect", bomb], capture_output=True, text=True,
                    env=dict(os.environ, FERRY_ARCHIVE_MAX_RATIO="1000000"))
r3 = subprocess.run([FERRY, "inspect", bomb], capture_output=True, text=True,
                    env=dict(os.environ, FERRY_ARCHIVE_MAX_RATIO="1000000", FERRY_ARCHIVE_MAX_BYTES="1048576"))
check(r1.returncode == 65 and r2.returncode == 0 and "zeros.bin" in r2.stdout and r3.returncode == 65
      and "more than 1048576 bytes" in r3.stderr,
      f"bomb limits: refused by default, allowed with FERRY_ARCHIVE_MAX_RATIO, capped by FERRY_ARCHIVE_MAX_BYTES "
      f"({r1.returncode} {r2.returncode} {r3.returncode})")

# zip members compressed with deflate: numpy's savez_compressed, a torch.save file rewritten with
# deflate (torch itself loads it), both beside their stored forms
import numpy as np  # noqa: E402
import torch  # noqa: E402
arrays = {"a": np.random.rand(64, 32).astype(np.float32), "b": np.arange(100, dtype=np.int64),
          "c": np.random.rand(5, 7).astype(np.float16)}
ok_npz = 0
for fn, save in (("s.npz", np.savez), ("sc.npz", np.savez_compressed)):
    p = os.path.join(WORK, fn)
    save(p, **arrays)
    rc, out, err = ferry("inspect", p, "--json", "--hash")
    got = {t["name"]: t["sha256"] for t in json.loads(out)["tensors"]} if rc == 0 else {}
    ok_npz += got == {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in arrays.items()}
check(ok_npz == 2, f"numpy savez and savez_compressed (deflate): every array's bytes as numpy has them ({ok_npz}/2)")
sd = {"w": torch.randn(128, 64), "v": torch.arange(10)}
stored, deflated = os.path.join(WORK, "t.pt"), os.path.join(WORK, "t_deflate.pt")
torch.save(sd, stored)
with zipfile.ZipFile(stored) as zi, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as zo:
    for n in zi.namelist():
        zo.writestr(n, zi.read(n))
rc, out, _ = ferry("diff", stored, deflated)
check(rc == 0 and "2 of 2 tensors identical" in out and torch.equal(torch.load(deflated)["w"], sd["w"]),
      "a PyTorch checkpoint with deflated records (torch loads it too) reads as the stored one")
data = bytearray(open(deflated, "rb").read())
at = data.find(b"data/0") + 40  # inside the first record's compressed bytes
data[at] ^= 0x55
bad_pt = os.path.join(WORK, "t_damaged.pt")
open(bad_pt, "wb").write(bytes(data))
rc, _, err = ferry("inspect", bad_pt)
check(rc == 65 and ("CRC" in err or "damaged" in err), f"a damaged deflated record: exit 65 naming it (rc {rc} {err[-120:]})")

# ferry pack: reproducible, readable by GNU tar and tarfile, verified by ferry
for ext in ("tar", "tar.gz", "tar.xz", "tar.zst"):
    a, b = os.path.join(WORK, f"pack1.{ext}"), os.path.join(WORK, f"pack2.{ext}")
    rc1, _, err1 = ferry("pack", model, "-o", a)
    now = time.time() + 1000
    for rel in tree(model):
        os.utime(os.path.join(model, rel), (now, now))
    rc2, _, _ = ferry("pack", model, "-o", b)
    same = rc1 == 0 and rc2 == 0 and open(a, "rb").read() == open(b, "rb").read()
    out = os.path.join(WORK, f"unpacked_{ext}")
    os.makedirs(out)
    r = subprocess.run([gnu, "-xf", a, "-C", out])
    names = subprocess.run([gnu, "-tf", a], capture_output=True, text=True).stdout.split()
    rcv, _, errv = ferry("verify", a, "--pubkey", pub)
    check(same and r.returncode == 0 and tree(out) == tree(model) and names[:2] ==
          ["model.manifest.json", "model.manifest.json.minisig"] and rcv == 0,
          f"ferry pack .{ext}: byte-identical across runs and file times, GNU tar unpacks the same tree, "
          f"manifest first, ferry verify passes ({err1.strip()[-100:]} {errv.strip()[-100:]})")
rc, _, err = ferry("pack", model, "-o", os.path.join(WORK, "pack1.tar"))
check(rc == 73, f"an existing archive is kept without --force (rc {rc})")

# ferry fetch URL --extract from nginx: unpacked after the signature inside verifies
try:
    from nginx_server import Nginx
except Exception:
    Nginx = None
if Nginx is None or not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
    skip_part("nginx is not installed")
else:
    with Nginx(WORK, os.path.join(WORK, "nginx")) as ng:
        results = []
        for name, want_tree in (("pack1.tar.zst", tree(model)), ("gnu.tar.gz", {"model/" + k: v for k, v in tree(model).items()})):
            out = os.path.join(WORK, "fetched_" + name.replace(".", "_"))
            rc, _, err = ferry("fetch", ng.url(name), "--extract", "--pubkey", pub, "-o", out)
            left = [n for n in os.listdir(out) if n.startswith(".ferry")] if os.path.isdir(out) else ["?"]
            results.append(rc == 0 and tree(out) == want_tree and not left)
            if not results[-1]:
                print(f"   {name}: rc {rc} {sorted(tree(out))[:5] if os.path.isdir(out) else ''} {left} {err[-300:]}")
        check(all(results), "ferry fetch URL --extract (tar.zst made by ferry pack, tar.gz by GNU tar): the "
              "signature inside verified, the tree unpacked, nothing left behind")
        # each unpacked file is reported with the digest the signed manifest gave it (checked),
        # or, not being listed there or without --pubkey, by its size alone (sha256 null)
        reports = {}
        for keyed in (True, False):
            out = os.path.join(WORK, f"fetched_json_{keyed}")
            r = subprocess.run([FERRY, "fetch", ng.url("gnu.tar.gz"), "--extract", "-o", out, "--json",
                                *(["--pubkey", pub] if keyed else [])], capture_output=True, text=True, timeout=120)
            reports[keyed] = {e["file"]: e for e in (json.loads(x) for x in r.stdout.splitlines() if x.startswith("{"))
                              if e["event"] == "done" and not e["file"].startswith("http")}
        want = tree(os.path.join(WORK, "fetched_json_True"))
        listed = {"model/" + k for k in tree(model) if not k.startswith("model.manifest")}
        good = bool(reports[True]) and all(
            (e["sha256"] == want[n] and e["verified_by"] == "the signed manifest") if n in listed else e["sha256"] is None
            for n, e in reports[True].items()) and set(reports[True]) == set(want)
        unkeyed = bool(reports[False]) and all(e["sha256"] is None for e in reports[False].values())
        check(good and unkeyed, f"fetch --extract --json: members the signed manifest lists carry its (checked) "
              f"digest, the others and all without --pubkey sha256 null "
              f"({sorted((n, e['sha256'] and e['sha256'][:8], e['verified_by']) for n, e in reports[True].items())[:4]})")
        out = os.path.join(WORK, "fetched_changed")
        rc, _, err = ferry("fetch", ng.url("changed.tar"), "--extract", "--pubkey", pub, "-o", out)
        got = [n for n in tree(out) if not n.startswith(".ferry")] if os.path.isdir(out) else []
        check(rc == 1 and not got, f"an archive whose member differs from its signed manifest: exit 1, nothing "
              f"unpacked under a final name (rc {rc}, {got})")

        # unpacked while the bytes arrive: a 6 MB tar.zst at nginx's 2 MB/s (/slow/); ferry reports how
        # much of the archive its unpacker had read when the download finished
        big = os.path.join(WORK, "big", "data")
        os.makedirs(big)
        with open(os.path.join(big, "weights.bin"), "wb") as f:
            f.write(np.random.default_rng(3).integers(0, 256, 6 << 20, dtype=np.uint8).tobytes())
        open(os.path.join(big, "config.json"), "w").write('{"a": 1}\n')
        subprocess.run(["tar", "--zstd", "-cf", os.path.join(WORK, "big.tar.zst"), "-C", os.path.dirname(big),
                        "data"], check=True)
        asize = os.path.getsize(os.path.join(WORK, "big.tar.zst"))
        out = os.path.join(WORK, "fetched_big")
        rc, _, err = ferry("fetch", ng.url("slow/big.tar.zst"), "--extract", "-o", out)
        m = re.search(r"(\d+) of the archive's (\d+) bytes were read while it was still arriving", err)
        early = int(m.group(1)) if m else -1
        check(rc == 0 and tree(out) == {"data/" + k: v for k, v in tree(big).items()} and
              early >= asize // 2 and not [n for n in os.listdir(out) if n.startswith(".ferry")],
              f"fetch --extract at 2 MB/s unpacks while the bytes arrive: {early} of {asize} bytes read before "
              f"the download finished (rc {rc}, {err.strip()[-200:]})")
    # Ctrl-C halfway: nothing under a final name, the download kept; the rerun resumes it and unpacks.
    # A 40 MB archive in three 16 MiB segments at 8 MB/s each: the last (8 MB) is whole after about a
    # second, the other two are not; the rerun fetches only those.
    with open(os.path.join(big, "weights.bin"), "wb") as f:
        f.write(np.random.default_rng(4).integers(0, 256, 40 << 20, dtype=np.uint8).tobytes())
    subprocess.run(["tar", "--zstd", "-cf", os.path.join(WORK, "big40.tar.zst"), "-C", os.path.dirname(big),
                    "data"], check=True)
    asize = os.path.getsize(os.path.join(WORK, "big40.tar.zst"))
    with Nginx(WORK, os.path.join(WORK, "nginx8"), rate="8m") as ng:
        out = os.path.join(WORK, "fetched_big_resumed")
        p = subprocess.Popen([FERRY, "fetch", ng.url("slow/big40.tar.zst"), "--extract", "-o", out],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        part = os.path.join(out, ".ferry-extract-download", ".big40.tar.zst.part")
        for _ in range(100):  # until some bytes arrived
            if os.path.exists(part) and os.path.getsize(part) > 0:
                break
            time.sleep(0.05)
        time.sleep(1.4)
        p.send_signal(signal.SIGINT)
        _, perr = p.communicate(timeout=60)
        finals = [n for n in tree(out) if not n.startswith(".ferry")] if os.path.isdir(out) else []
        stages = [n for n in os.listdir(out) if n.startswith(".ferry-extract-") and n != ".ferry-extract-download"]
        rc2, out2, err2 = ferry("fetch", ng.url("slow/big40.tar.zst"), "--extract", "-o", out, "--json")
        moved = [int(x) for x in re.findall(r'"downloaded": *(\d+)', out2)]
        check(p.returncode == 75 and not finals and not stages and rc2 == 0 and moved and 0 < moved[-1] < asize and
              tree(out) == {"data/" + k: v for k, v in tree(big).items()},
              f"Ctrl-C during fetch --extract: exit {p.returncode}, nothing under final names {finals}, no staging "
              f"left {stages}; the rerun moved {moved[-1] if moved else '?'} of {asize} bytes and unpacked "
              f"(rc {rc2}, {err2.strip()[-160:]})")
check.finish()
