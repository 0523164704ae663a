#!/usr/bin/env bash
# The man pages and the bash completion are generated from the program's --help texts
# (scripts/gen-docs.py); the committed ones must equal a fresh run, so they never drift from what
# `ferry CMD --help` says. usage: docs.sh FERRY SOURCE_DIR
set -u
ferry=$1 src=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 "$src/scripts/gen-docs.py" "$ferry" "$out" >/dev/null || { echo "FAIL: gen-docs.py"; exit 1; }
if diff -r "$src/docs/man" "$out/man" && diff -r "$src/docs/completion" "$out/completion"; then
  echo "ok: $(ls "$out/man" | wc -l) man pages and the completion match the --help texts"
else
  echo "FAIL: docs/ differ from the --help texts: run scripts/gen-docs.py FERRY"
  exit 1
fi
