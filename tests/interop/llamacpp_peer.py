"""llama.cpp as a peer in tests: one llamacpp.mjs command (node, the prebuilt libraries of
npm node-llama-cpp), its JSON answer, and a check that it ran."""
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def llamacpp(check, *args):
    """node llamacpp.mjs ARGS...: the last stdout line as JSON ({} when it failed, which check records)"""
    p = subprocess.run(["node", os.path.join(HERE, "llamacpp.mjs"), *args], capture_output=True, text=True,
                       timeout=300)
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    check(p.returncode == 0 and line.startswith("{"), "llama.cpp %s %s: exit %d %s" %
          (args[0], os.path.basename(args[1]), p.returncode, p.stderr[-400:]))
    return json.loads(line) if p.returncode == 0 and line.startswith("{") else {}
