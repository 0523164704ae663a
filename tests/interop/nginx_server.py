"""Runs Debian's nginx on 127.0.0.1 for the fetch tests and benchmarks: ROOT served at /, and at
/slow/ rate-limited (RATE per response). Used as a context manager; the server stops on exit."""
import os
import shutil
import socket
import subprocess
import time
import urllib.request

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self, root, work, rate="2m"):
        self.root, self.work, self.rate = os.path.abspath(root), os.path.abspath(work), rate
        self.proc = None

    def __enter__(self):
        os.makedirs(self.work, exist_ok=True)
        for attempt in range(5):
            self.port = free_port()
            conf = os.path.join(self.work, "nginx.conf")
            w = self.work
            user = "user root;" if os.geteuid() == 0 else ""
            with open(conf, "w") as f:
                f.write(f"""{user}
daemon off;
master_process off;
worker_processes 1;
error_log {w}/error.log;
pid {w}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  log_format ranges '$uri|$http_range|$http_if_range|$status|$body_bytes_sent';
  access_log {w}/access.log ranges;
  client_body_temp_path {w}/body; proxy_temp_path {w}/proxy; fastcgi_temp_path {w}/fcgi;
  uwsgi_temp_path {w}/uwsgi; scgi_temp_path {w}/scgi;
  sendfile on;
  server {{
    listen 127.0.0.1:{self.port};
    root {self.root};
    location /slow/ {{ alias {self.root}/; limit_rate {self.rate}; }}
  }}
}}
""")
            self.proc = subprocess.Popen([NGINX, "-c", conf, "-p", w, "-e", f"{w}/error.log"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(50):
                if self.proc.poll() is not None:
                    break
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__none__", timeout=1)
                except urllib.error.HTTPError:
                    return self  # a 404 from nginx: it is up
                except OSError:
                    time.sleep(0.1)
            self.stop()
        raise RuntimeError("nginx did not start: " + open(os.path.join(self.work, "error.log")).read()[-500:])

    def url(self, path):
        return f"http://127.0.0.1:{self.port}/{path}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __exit__(self, *exc):
        self.stop()
