#!/usr/bin/env python3
"""A misbehaving HTTP/1.1 file server for the fetch tests.

Serves ROOT on two ports of 127.0.0.1 (written to PORTFILE as "A B") and appends one JSON line
per request to LOG (port, method, path, range, if-range, authorization present). The first path
part picks the behaviour; the rest names a file under ROOT:

  ok        Range, If-Range and a strong ETag, as a correct server
  linked    as ok, plus X-Linked-Etag with the SHA-256 of the file
  badlinked as ok, plus an X-Linked-Etag that does not match
  cut       every ranged body is cut after half, the first time each start offset is asked
  norange   always 200 with the whole file
  corrupt   correct headers, one byte of every body flipped
  busy      503 with Retry-After: 1 to the first two requests for the file
  badrange  206 whose Content-Range starts one byte late (except for ranges from 0)
  redirect  302 to the other port, path ok/NAME
  auth      401 unless "Authorization: Bearer secret"
  gated     403 with X-Error-Code: GatedRepo
  slow      as ok, at about RATE bytes per second per response
  huge      206 claiming a 4 EiB object
  maxsize   206 claiming an object of 2^64-1 bytes
  claim     206 "bytes 0-0/N" to every request, N the name (a size with no data behind it)
  junkrange 206 whose Content-Range total is followed by junk ("bytes 0-0/1000x")
  zerosize  206 with Content-Range "bytes 0-0/0" and no body
  trickle   as ok, but ranged bodies after the first byte come at 2 bytes per second
  meta      as ok when the query holds Signature=goodsig (a presigned link), else 403
  changing  content from ROOT/v<N>/NAME where N is read from ROOT/version; ETag "v<N>"

and a small Hugging Face-compatible hub over the folders ROOT/hub/<ORG>/<NAME>/:
  /api/models/ORG/NAME/revision/REV   {"sha": commit} and X-Repo-Commit
  /api/models/ORG/NAME/tree/COMMIT    the files, two per page, Link rel="next" pagination
  /ORG/NAME/resolve/COMMIT/PATH       regular files served here (ETag = git blob SHA-1); files
                                      over 64 KiB are "LFS": 302 to the other port's ok/ path
Repositories named gated* need "Authorization: Bearer secret" (401 without a token, 403 with
another, both with X-Error-Code: GatedRepo). evil* lists "../escape"; liar* lists a wrong
LFS SHA-256 for its large files.
"""
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, PORTFILE, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
RATE = int(os.environ.get("FAULT_RATE", "1000000"))
lock = threading.Lock()
counts = {}
cut_seen = set()
ports = []


def log(entry):
    with lock, open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def hub(self):
        path, _, query = self.path.partition("?")
        p = path.lstrip("/").split("/")
        if p[0] == "api":
            org, name, kind = p[2], p[3], p[4]
        else:
            org, name, kind = p[0], p[1], p[2]
        repo_dir = os.path.join(ROOT, "hub", org, name)
        if not os.path.isdir(repo_dir):
            return self.reply(404, b"repository not found\n")
        if name.startswith("gated"):
            auth = self.headers.get("Authorization")
            if auth != "Bearer secret":
                return self.reply(401 if auth is None else 403, b"gated\n", {"X-Error-Code": "GatedRepo"})
        files = []
        for dirpath, _, names in os.walk(repo_dir):
            for n in sorted(names):
                full = os.path.join(dirpath, n)
                files.append((os.path.relpath(full, repo_dir), open(full, "rb").read()))
        files.sort()
        commit = hashlib.sha1(repr([(f, hashlib.sha256(d).hexdigest()) for f, d in files]).encode()).hexdigest()
        if kind == "revision":
            body = json.dumps({"id": f"{org}/{name}", "sha": commit}).encode()
            return self.reply(200, body, {"X-Repo-Commit": commit, "Content-Type": "application/json"})
        if kind == "tree":
            entries = [{"type": "directory", "path": "sub", "oid": "0" * 40, "size": 0}]
            for f, d in files:
                git = hashlib.sha1(b"blob %d\0" % len(d) + d).hexdigest()
                e = {"type": "file", "path": f, "size": len(d), "oid": git}
                if len(d) > 65536:
                    sha = hashlib.sha256(d + (b"lie" if name.startswith("liar") else b"")).hexdigest()
                    e["lfs"] = {"oid": sha, "size": len(d), "pointerSize": 134}
                entries.append(e)
            if name.startswith("evil"):
                entries.append({"type": "file", "path": "../escape", "size": 1, "oid": "1" * 40})
            start = int(query.split("cursor=")[1]) if "cursor=" in query else 0
            page = entries[start:start + 2]
            headers = {"Content-Type": "application/json"}
            if start + 2 < len(entries):
                headers["Link"] = (f'<http://127.0.0.1:{self.server.server_port}{path}?recursive=true&'
                                   f'cursor={start + 2}>; rel="next"')
            return self.reply(200, json.dumps(page).encode(), headers)
        if kind == "resolve":
            rel = "/".join(p[4:])
            data = dict(files).get(rel)
            if data is None or p[3] != commit:
                return self.reply(404, b"entry not found\n", {"X-Error-Code": "EntryNotFound"})
            git = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            if len(data) > 65536:
                other = ports[1] if self.server.server_port == ports[0] else ports[0]
                return self.reply(302, b"", {"Location": f"http://127.0.0.1:{other}/ok/hub/{org}/{name}/{rel}",
                                             "X-Repo-Commit": commit, "X-Linked-Size": str(len(data)),
                                             "X-Linked-Etag": '"%s"' % hashlib.sha256(data).hexdigest()})
            rng = self.headers.get("Range")
            headers = {"ETag": f'"{git}"', "X-Repo-Commit": commit}
            if rng and rng.startswith("bytes="):
                a, b = rng[6:].split("-")
                first, last = int(a), min(int(b) if b else len(data) - 1, len(data) - 1)
                headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
                return self.reply(206, data[first:last + 1], headers)
            return self.reply(200, data, headers)
        return self.reply(404, b"unknown hub route\n")

    def do_GET(self):
        if self.path.startswith("/api/") or "/resolve/" in self.path:
            log({"port": self.server.server_port, "path": self.path, "range": self.headers.get("Range"),
                 "if_range": None, "auth": self.headers.get("Authorization") is not None})
            return self.hub()
        parts = self.path.split("?")[0].lstrip("/").split("/", 1)
        mode, name = parts[0], parts[1] if len(parts) > 1 else ""
        rng = self.headers.get("Range")
        log({"port": self.server.server_port, "path": self.path, "range": rng,
             "if_range": self.headers.get("If-Range"),
             "auth": self.headers.get("Authorization") is not None})
        with lock:
            counts[self.path] = counts.get(self.path, 0) + 1
            n = counts[self.path]
        if mode == "redirect":
            other = ports[1] if self.server.server_port == ports[0] else ports[0]
            return self.reply(302, b"", {"Location": f"http://127.0.0.1:{other}/ok/{name}"})
        if mode == "auth" and self.headers.get("Authorization") != "Bearer secret":
            return self.reply(401, b"unauthorized\n")
        if mode == "huge":
            return self.reply(206, b"x", {"Content-Range": "bytes 0-0/4611686018427387904", "ETag": '"huge"'})
        if mode == "maxsize":
            return self.reply(206, b"x", {"Content-Range": "bytes 0-0/18446744073709551615", "ETag": '"max"'})
        if mode == "claim":
            return self.reply(206, b"x", {"Content-Range": f"bytes 0-0/{int(name)}", "ETag": '"claim"'})
        if mode == "junkrange":
            return self.reply(206, b"x", {"Content-Range": "bytes 0-0/1000x", "ETag": '"junk"'})
        if mode == "zerosize":
            return self.reply(206, b"", {"Content-Range": "bytes 0-0/0", "ETag": '"zero"'})
        if mode == "meta" and "Signature=goodsig" not in self.path:
            return self.reply(403, b"<Error>AccessDenied</Error>\n")
        if mode == "gated":
            return self.reply(403, b"gated\n", {"X-Error-Code": "GatedRepo"})
        if mode == "busy" and n <= 2:
            return self.reply(503, b"busy\n", {"Retry-After": "1"})
        if mode == "changing":
            version = open(os.path.join(ROOT, "version")).read().strip()
            path, etag = os.path.join(ROOT, "v" + version, name), f'"v{version}"'
        else:
            path = os.path.join(ROOT, name)
        if not name or ".." in name or not os.path.isfile(path):
            return self.reply(404, b"not found\n")
        data = open(path, "rb").read()
        if mode != "changing":
            etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
        headers = {"ETag": etag, "Accept-Ranges": "bytes"}
        if mode == "linked":
            headers["X-Linked-Etag"] = '"%s"' % hashlib.sha256(data).hexdigest()
        if mode == "badlinked":
            headers["X-Linked-Etag"] = '"%s"' % hashlib.sha256(data + b"x").hexdigest()
        status, first, last = 200, 0, len(data) - 1
        ifr = self.headers.get("If-Range")
        if rng and mode != "norange" and (ifr is None or ifr == etag) and rng.startswith("bytes="):
            a, b = rng[6:].split("-")
            first, last = int(a), min(int(b) if b else len(data) - 1, len(data) - 1)
            status = 206
            shift = 1 if mode == "badrange" and first > 0 else 0
            headers["Content-Range"] = f"bytes {first + shift}-{last}/{len(data)}"
        body = bytearray(data[first:last + 1])
        if mode == "corrupt" and body:
            body[len(body) // 2] ^= 0xFF
        cut = None
        if mode == "cut" and status == 206 and len(body) > 1:
            with lock:
                if first not in cut_seen:
                    cut_seen.add(first)
                    cut = len(body) // 2
        self.reply(status, bytes(body), headers, cut=cut, slow=mode in ("slow", "changing"),
                   trickle=mode == "trickle" and status == 206 and len(body) > 1)

    def reply(self, status, body, headers=None, cut=None, slow=False, trickle=False):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if cut is not None:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            if trickle:  # bounded: the test's fetch gives up long before the body ends
                for i in range(min(len(body), 120)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.5)
                self.close_connection = True
                return
            if not slow:
                self.wfile.write(body)
                return
            chunk = max(1, RATE // 20)
            for i in range(0, len(body), chunk):
                self.wfile.write(body[i:i + chunk])
                self.wfile.flush()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients hang up on purpose in these tests


def main():
    servers = [Server(("127.0.0.1", 0), Handler) for _ in range(2)]
    for s in servers:
        s.daemon_threads = True
        ports.append(s.server_port)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(f"{ports[0]} {ports[1]}\n")
    os.rename(PORTFILE + ".tmp", PORTFILE)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
