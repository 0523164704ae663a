#!/usr/bin/python3
"""A full disk and a read-only one, on small tmpfs file systems mounted here (root only; skipped
visibly otherwise): convert (GGUF and safetensors), pack and sign into a 12 MiB tmpfs must exit
74 (or 73 when they can tell beforehand that the space is short) with nothing half-written and
no temporary left; into a read-only mount they exit 73.
usage: disk_full.py FERRY WORKDIR"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_llama  # noqa: E402
from servers import Checks  # noqa: E402
from skips import skip_test  # noqa: E402

FERRY, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
if os.geteuid() != 0:
    skip_test("mounting a tmpfs needs root", installed_by_deps=False)
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()
full, ro = os.path.join(WORK, "full"), os.path.join(WORK, "ro")
os.makedirs(full)
os.makedirs(ro)
if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", full]).returncode != 0:
    skip_test("cannot mount a tmpfs here", installed_by_deps=False)
subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro], check=True)


def ferry(*args):
    r = subprocess.run([FERRY, *args], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, TMPDIR=full))
    return r.returncode, r.stderr


try:
    model = os.path.join(WORK, "model")
    cfg = make_llama.config(dim=256, layers=4, heads=4, kv_heads=2, ff=512, vocab=2048)
    make_llama.write_hf(model, make_llama.weights(cfg), cfg)  # about 20 MB of F32
    ferry("keygen", "--no-password", "-o", os.path.join(WORK, "k"))
    zst = os.path.join(WORK, "model.tar.zst")  # staged beside the output: the staging fills the disk
    subprocess.run(["tar", "--zstd", "-cf", zst, "-C", WORK, "model"], check=True)
    cases = [
        ("convert a .tar.zst (staged)", ["convert", zst, "-o", os.path.join(full, "m.gguf"), "--no-vocab"]),
        ("convert to GGUF", ["convert", model, "-o", os.path.join(full, "m.gguf"), "--type", "f32", "--no-vocab"]),
        ("convert to safetensors", ["convert", model, "-o", os.path.join(full, "hf"), "--to", "safetensors"]),
        ("pack", ["pack", model, "-o", os.path.join(full, "m.tar")]),
    ]
    for label, args in cases:
        rc, err = ferry(*args)
        left = os.listdir(full)
        check(rc in (73, 74) and not left and ("space" in err.lower() or "No space" in err),
              f"{label} on a full disk: exit {rc} (74 or 73), nothing left behind {left} ({err.strip()[-120:]})")
    signed = os.path.join(full, "s")
    os.makedirs(signed)
    shutil.copy(os.path.join(model, "config.json"), signed)
    try:  # the disk is left with (almost) nothing
        with open(os.path.join(signed, "filler.bin"), "wb") as f:
            f.write(b"\0" * (12 << 20))
    except OSError:
        pass
    rc, err = ferry("sign", signed, "--key", os.path.join(WORK, "k.key"))
    sig = [n for n in os.listdir(signed) if n.startswith("model.manifest") or ".tmp." in n]
    check(rc == 74 and not sig, f"sign on a full disk: exit {rc}, no manifest or temporary left {sig} ({err.strip()[-100:]})")
    shutil.rmtree(signed)
    rom = os.path.join(WORK, "ro-model")  # the model folder itself, mounted read-only
    os.makedirs(rom)
    bound = subprocess.run(["mount", "--bind", model, rom]).returncode == 0 and \
        subprocess.run(["mount", "-o", "remount,ro,bind", rom]).returncode == 0
    for label, args in (("convert", ["convert", model, "-o", os.path.join(ro, "m.gguf"), "--no-vocab"]),
                        ("pack", ["pack", model, "-o", os.path.join(ro, "m.tar")]),
                        ("sign", ["sign", rom, "--key", os.path.join(WORK, "k.key")])):
        if label == "sign" and not bound:
            print("skipped: a read-only bind mount for sign")
            continue
        rc, err = ferry(*args)
        check(rc == 73, f"{label} into a read-only file system: exit {rc} ({err.strip()[-100:]})")
    subprocess.run(["umount", rom])
finally:
    subprocess.run(["umount", full])
    subprocess.run(["umount", ro])
check.finish()
