#!/usr/bin/env bash
# A forward-pass worker that cannot allocate (issue 12): the worker threads' malloc fails
# (tests/unit/fail_worker_malloc.c, preloaded), and `ferry logits` must exit 70 "out of
# memory" instead of writing logits with rows missing and exit 0. The same command without the
# failure must succeed, so the test cannot pass by refusing everything.
# usage: alloc_failure.sh FERRY SHIM WORKDIR DATADIR
set -u
ferry=$1 shim=$2 work=$3 data=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 2
/usr/bin/python3 - "$data" model.gguf <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from make_corpus import llama_gguf
open(sys.argv[2], "wb").write(llama_gguf(n_embd=64, n_head=4, n_head_kv=2, n_ff=128))
PY
fail=0
"$ferry" logits model.gguf --ids 1,4,5,6 --all-positions --threads 2 -o ok.npy 2>err.txt \
  && echo "ok: logits without the failure" || { echo "FAIL: logits: $(cat err.txt)"; fail=1; }
LD_PRELOAD=$shim FERRY_FAIL_WORKER_MALLOC=1 "$ferry" logits model.gguf --ids 1,4,5,6 --all-positions \
  --threads 2 -o bad.npy 2>err.txt
got=$?
if [ $got = 70 ] && grep -q "out of memory" err.txt && [ ! -e bad.npy ]; then
  echo "ok: a worker's failed allocation gives exit 70 and no output"
else
  echo "FAIL: worker allocation failure: exit $got, $(ls bad.npy 2>/dev/null): $(cat err.txt)"
  fail=1
fi
exit $fail
