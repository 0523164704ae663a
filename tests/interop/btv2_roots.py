#!/usr/bin/python3
"""The BEP 52 pieces roots ferry records in a manifest (ferry.btv2_root) must equal the roots
libtorrent computes for the same files (Debian's python3-libtorrent), for sizes around the
16 KiB leaf and ferry's 4 MiB merkle segment, an empty file and a multi-segment file.
usage: btv2_roots.py FERRY WORKDIR"""
import json
import os
import shutil
import subprocess
import sys

import libtorrent as lt

FERRY, WORK = sys.argv[1], sys.argv[2]
shutil.rmtree(WORK, ignore_errors=True)
model = os.path.join(WORK, "m")
os.makedirs(os.path.join(model, "d"))
sizes = {"empty": 0, "one": 1, "leaf": 16384, "leaf1": 16385, "three": 3 * 16384 + 7,
         "seg": 4 << 20, "seg1": (4 << 20) + 1, "d/big": 9 * (4 << 20) + 12345}
for name, n in sizes.items():
    with open(os.path.join(model, name), "wb") as f:
        f.write(os.urandom(n))
subprocess.run([FERRY, "keygen", "--no-password", "-o", os.path.join(WORK, "k")], check=True, capture_output=True)
subprocess.run([FERRY, "sign", model, "--key", os.path.join(WORK, "k.key"), "-q"], check=True)
man = json.load(open(os.path.join(model, "model.manifest.json")))
ours = {r["name"]: r.get("ferry.btv2_root") for r in man["predicate"]["resources"]}

fs = lt.file_storage()
lt.add_files(fs, model)
t = lt.create_torrent(fs, 0, lt.create_torrent.v2_only)
lt.set_piece_hashes(t, WORK)
files = lt.torrent_info(t.generate()).files()
theirs = {}
for i in range(files.num_files()):
    name = files.file_path(i).split(os.sep, 1)[1]
    theirs[name] = files.root(i).to_bytes().hex() if files.file_size(i) else None
bad = [(n, ours.get(n), theirs.get(n)) for n in sizes if ours.get(n) != theirs.get(n)]
for b in bad:
    print("FAIL:", b)
print("%d files compared, %d differ" % (len(sizes), len(bad)))

# `ferry verify --torrent`: libtorrent's v2 and hybrid torrents of the model must match the
# signed roots; a torrent of a changed file must not
def torrent_of(flags, out):
    fs = lt.file_storage()
    lt.add_files(fs, model)
    t = lt.create_torrent(fs, 0, flags)
    lt.set_piece_hashes(t, WORK)
    open(out, "wb").write(lt.bencode(t.generate()))


def verify(torrent):
    return subprocess.run([FERRY, "verify", model, "--pubkey", os.path.join(WORK, "k.pub"), "--torrent", torrent],
                          capture_output=True, text=True)


for label, flags in (("v2", lt.create_torrent.v2_only), ("hybrid", 0)):
    tp = os.path.join(WORK, label + ".torrent")
    torrent_of(flags, tp)
    p = verify(tp)
    if p.returncode != 0:
        bad.append(label)
        print("FAIL: verify --torrent (%s): %s" % (label, p.stderr))
leaf = os.path.join(model, "leaf")
orig = open(leaf, "rb").read()
open(leaf, "wb").write(bytes([orig[0] ^ 0xff]) + orig[1:])
tp = os.path.join(WORK, "changed.torrent")
torrent_of(lt.create_torrent.v2_only, tp)
open(leaf, "wb").write(orig)  # the files are right again; only the torrent is wrong
p = verify(tp)
if p.returncode != 1 or "leaf (torrent BEP 52 pieces root differs" not in p.stderr or "manifest: 8 files OK" not in p.stderr:
    bad.append("changed")
    print("FAIL: a torrent with another root was accepted: %d %s" % (p.returncode, p.stderr))
sys.exit(1 if bad else 0)
