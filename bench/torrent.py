#!/usr/bin/python3
"""Benchmark: BitTorrent over 127.0.0.1, ferry beside libtorrent's own Python binding (Debian
python3-libtorrent 2.0.8, TCP only, the same settings) in the same run, runs interleaved:
1. download: `ferry fetch T --peer SEEDER` against a Python libtorrent downloader, both from one
   libtorrent seeder (seed_mode, data in page cache); ratio = libtorrent's time / ferry's;
2. seed: a Python libtorrent downloader fetching from `ferry seed` against fetching from a
   libtorrent seeder; ratio = time from libtorrent's seeder / time from ferry's.
Times are whole processes (start to files complete); outputs deleted between runs. Prints the
median and range of each and `ratio=` (higher = ferry faster; target >= 0.9).
usage: bench/torrent.py FERRY [SIZE_MB] [RUNS]"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import libtorrent as lt

FERRY = os.path.abspath(sys.argv[1])
SIZE_MB = int(sys.argv[2]) if len(sys.argv) > 2 else 300
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
LT = {"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False, "enable_upnp": False,
      "enable_natpmp": False, "allow_multiple_connections_per_ip": True, "enable_outgoing_utp": False,
      "enable_incoming_utp": False, "alert_mask": 0}
DOWNLOADER = r"""
import libtorrent as lt, sys, time
s = lt.session(%r)
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(sys.argv[1])
atp.save_path = sys.argv[2]
atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
atp.peers = [("127.0.0.1", int(sys.argv[3]))]
h = s.add_torrent(atp)
t0 = time.time()
while not h.status().is_seeding:
    if time.time() - t0 > 300:
        sys.exit(1)
    time.sleep(0.01)
""" % LT


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=600)
    return time.perf_counter() - t


def show(name, ours, peer):
    r = statistics.median(peer) / statistics.median(ours)
    print(f"{name:9s} ferry={statistics.median(ours):.2f}s [{min(ours):.2f}-{max(ours):.2f}]  "
          f"libtorrent={statistics.median(peer):.2f}s [{min(peer):.2f}-{max(peer):.2f}]  ratio={r:.2f}")


def main():
    tmp = tempfile.mkdtemp(prefix="ferry-bench-torrent-")
    model = os.path.join(tmp, "src", "model")
    os.makedirs(model)
    block = os.urandom(1 << 20)
    with open(os.path.join(model, "model.safetensors"), "wb") as f:
        for _ in range(SIZE_MB):
            f.write(block[: (1 << 20) - 7] + os.urandom(7))
    with open(os.path.join(model, "config.json"), "w") as f:
        f.write('{"dim": 4096}\n')
    tor = os.path.join(tmp, "model.torrent")
    subprocess.run([FERRY, "torrent", "create", model, "-o", tor, "-q"], check=True, stdout=subprocess.DEVNULL)
    dl = os.path.join(tmp, "dl.py")
    open(dl, "w").write(DOWNLOADER)
    py = sys.executable
    out = os.path.join(tmp, "out")
    try:
        ses = lt.session(LT)
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(tor)
        atp.save_path = os.path.dirname(model)
        atp.flags |= lt.torrent_flags.seed_mode
        atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
        ses.add_torrent(atp)
        while not ses.listen_port():
            time.sleep(0.05)
        port = ses.listen_port()
        # warm up: the seeder verifies pieces as they are asked for the first time
        subprocess.run([py, dl, tor, out, str(port)], check=True, timeout=600)
        ours, peer = [], []
        for _ in range(RUNS):
            shutil.rmtree(out, ignore_errors=True)
            ours.append(timed([FERRY, "fetch", tor, "-o", out, "--peer", f"127.0.0.1:{port}", "-q"]))
            shutil.rmtree(out, ignore_errors=True)
            peer.append(timed([py, dl, tor, out, str(port)]))
        print(f"{SIZE_MB} MB over loopback, {RUNS} runs each, interleaved")
        show("download", ours, peer)
        # ferry seed against the libtorrent seeder, the same downloader fetching
        seed = subprocess.Popen([FERRY, "seed", model, "--listen", "127.0.0.1:0", "--state",
                                 os.path.join(tmp, "state"), "--json"], stdout=subprocess.PIPE, text=True)
        fport, ftor = 0, None
        for line in seed.stdout:
            if '"listening"' in line:
                fport = int(line.split('"port":')[1].split("}")[0])
            if '"added"' in line:
                break
        ftor = [os.path.join(tmp, "state", n) for n in os.listdir(os.path.join(tmp, "state"))
                if n.endswith(".torrent")][0]
        subprocess.run([py, dl, ftor, out + "w", str(fport)], check=True, timeout=600)
        from_ferry, from_lt = [], []
        for _ in range(RUNS):
            shutil.rmtree(out, ignore_errors=True)
            from_ferry.append(timed([py, dl, ftor, out, str(fport)]))
            shutil.rmtree(out, ignore_errors=True)
            from_lt.append(timed([py, dl, tor, out, str(port)]))
        seed.terminate()
        seed.wait()
        show("seed", from_ferry, from_lt)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
