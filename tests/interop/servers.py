"""Helpers of the fetch tests: a check list that remembers failures, and fault_server.py started
on two loopback ports (stopped by the caller with stop())."""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Checks:
    def __init__(self):
        self.failures = []

    def __call__(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            self.failures.append(what)

    def finish(self):
        print(f"{len(self.failures)} failures")
        sys.exit(1 if self.failures else 0)


class FaultServer:
    """fault_server.py serving root; ports a and b, requests logged to self.log."""

    def __init__(self, root, work, rate=None):
        self.portfile, self.log = os.path.join(work, "ports"), os.path.join(work, "requests.log")
        env = dict(os.environ, **({"FAULT_RATE": str(rate)} if rate else {}))
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fault_server.py"), root, self.portfile,
                                      self.log], env=env)
        for _ in range(200):
            if os.path.exists(self.portfile):
                break
            time.sleep(0.05)
        self.a, self.b = open(self.portfile).read().split()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
