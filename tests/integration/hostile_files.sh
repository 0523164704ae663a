#!/usr/bin/env bash
# Hostile files that cannot be committed as data (issue 11): FIFOs where a reader expects a
# regular file (open used to block forever), a file the user may not read (77), and a
# conversion killed or interrupted at random moments (no half-written output directory, no
# temporary files after SIGINT/SIGTERM, a plain rerun succeeds). Every ferry run has a
# timeout, so a hang fails the test instead of stalling it. usage: hostile_files.sh FERRY WORKDIR
set -u
ferry=$1 work=$2
py=/usr/bin/python3
data=$(cd "$(dirname "$0")/../data" && pwd)
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 2
export XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
# expect CODE MESSAGE-PART args...: ferry's exit code and a piece of its stderr, within 20 s
expect() {
  local code=$1 msg=$2; shift 2
  timeout 20 "$ferry" "$@" >out.txt 2>err.txt
  local got=$?
  if [ "$got" = 124 ]; then bad "ferry $* still running after 20 s"; return; fi
  if [ "$got" != "$code" ]; then bad "ferry $* exit $got, expected $code: $(cat err.txt)"; return; fi
  if [ -n "$msg" ] && ! grep -qF -- "$msg" err.txt; then bad "ferry $* lacks '$msg': $(cat err.txt)"; return; fi
  if grep -q "Sanitizer\|runtime error" err.txt; then bad "ferry $*: sanitizer report: $(cat err.txt)"; return; fi
  ok "ferry $* -> $code${msg:+ ($msg)}"
}

# ---- FIFOs
mkfifo pipe.gguf
expect 65 "not a regular file (a FIFO)" inspect pipe.gguf
mkdir st && mkfifo st/model-00001-of-00001.safetensors
printf '{"weight_map": {"w": "model-00001-of-00001.safetensors"}}' > st/model.safetensors.index.json
expect 65 "a FIFO" inspect st/model.safetensors.index.json
mkdir pt && mkfifo pt/pytorch_model-00001-of-00001.bin
printf '{"weight_map": {"w": "pytorch_model-00001-of-00001.bin"}}' > pt/pytorch_model.bin.index.json
expect 65 "a FIFO" inspect pt/pytorch_model.bin.index.json
mkdir tk && mkfifo tk/tokenizer.json
expect 65 "a FIFO" tokenize tk/tokenizer.json -p hi
mkdir hf && mkfifo hf/config.json
expect 66 "no config.json" convert hf -o hf.gguf
# a signed model whose file was replaced by a FIFO after signing; a checklist naming a FIFO
mkdir m && head -c 5000 /dev/urandom > m/weights.bin && printf 'license\n' > m/LICENSE
expect 0 "" keygen -o k --no-password
expect 0 "" sign m --key k.key
rm m/weights.bin && mkfifo m/weights.bin
expect 1 "weights.bin" verify m --pubkey k.pub
mkdir c && mkfifo c/weights.bin && printf '%s  weights.bin\n' "$(printf x | md5sum | cut -d' ' -f1)" > c/checklist.chk
expect 1 "not a regular file" verify c

# ---- a file the user may not read: 77, as the README says (root reads anything, so drop to nobody)
# (a folder only its owner enters, for root dropped to nobody; the file itself unreadable, for a
# user who owns the folder)
mkdir -p locked && printf 'x' > locked/a.gguf && chmod 700 locked && chmod 000 locked/a.gguf
as_user=()
if [ "$(id -u)" = 0 ]; then
  chmod 755 "$work" && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
"${as_user[@]}" "$ferry" inspect "$work/locked/a.gguf" >/dev/null 2>err.txt
got=$?
[ "$got" = 77 ] && grep -q "Permission denied" err.txt && ok "unreadable (EACCES) -> 77" || bad "EACCES: exit $got: $(cat err.txt)"

# ---- conversion killed at random moments, and interrupted
$py - src <<'PY'
import json, os, struct, sys
import numpy as np
out = sys.argv[1]
E, L, F, V, H = 512, 8, 1536, 8192, 8  # ~140 MB of F32: conversion takes a few tenths of a second
os.makedirs(out, exist_ok=True)
json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": E,
           "num_hidden_layers": L, "intermediate_size": F, "num_attention_heads": H,
           "num_key_value_heads": H, "vocab_size": V, "rms_norm_eps": 1e-5,
           "max_position_embeddings": 256}, open(os.path.join(out, "config.json"), "w"))
ts = {"model.embed_tokens.weight": (V, E), "model.norm.weight": (E,), "lm_head.weight": (V, E)}
for l in range(L):
    p = f"model.layers.{l}."
    ts.update({p + "input_layernorm.weight": (E,), p + "post_attention_layernorm.weight": (E,),
               p + "self_attn.q_proj.weight": (E, E), p + "self_attn.k_proj.weight": (E, E),
               p + "self_attn.v_proj.weight": (E, E), p + "self_attn.o_proj.weight": (E, E),
               p + "mlp.gate_proj.weight": (F, E), p + "mlp.up_proj.weight": (F, E),
               p + "mlp.down_proj.weight": (E, F)})
hdr, off = {}, 0
for k, s in ts.items():
    n = int(np.prod(s)) * 4
    hdr[k] = {"dtype": "F32", "shape": list(s), "data_offsets": [off, off + n]}
    off += n
h = json.dumps(hdr).encode()
rng = np.random.default_rng(0)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for k, s in ts.items():
        f.write((rng.standard_normal(s, dtype=np.float32) * 0.02).astype("<f4").tobytes())
PY
# complete(DIR): the directory a conversion to safetensors makes, whole
complete() { [ -f "$1/config.json" ] && "$ferry" inspect "$1" >/dev/null 2>&1; }
leftovers() { ls -A | grep -c '\.tmp\.' ; }
for fmt in safetensors pytorch meta; do
  killed=0 partial=0
  for delay in 0.02 0.05 0.1 0.15 0.2 0.3; do
    rm -rf out
    "$ferry" convert src -o out --to $fmt --type bf16 --threads 1 -q 2>/dev/null &
    pid=$!
    sleep $delay
    kill -KILL $pid 2>/dev/null && killed=$((killed + 1))
    wait $pid 2>/dev/null
    if [ -e out ]; then
      if [ $fmt = meta ]; then [ -f out/params.json ] || partial=$((partial + 1))
      else complete out || partial=$((partial + 1)); fi
    fi
  done
  [ $partial = 0 ] && ok "--to $fmt: $killed SIGKILLs mid-conversion left no partial output directory" \
    || bad "--to $fmt: $partial of $killed SIGKILLs left a partial output directory"
  rm -rf out
  timeout 60 "$ferry" convert src -o out --to $fmt --type bf16 -q 2>err.txt \
    && ok "--to $fmt: a plain rerun after the kills succeeds" || bad "--to $fmt rerun: $(cat err.txt)"
  [ "$(leftovers)" = 0 ] && ok "--to $fmt: the killed runs' staging directories are gone after the rerun" \
    || bad "--to $fmt: left $(ls -A | grep '\.tmp\.')"
  rm -rf out
done
for sig in INT TERM; do
  for target in out.gguf out; do
    to=gguf && [ $target = out ] && to=safetensors
    nv= && [ $to = gguf ] && nv=--no-vocab
    "$ferry" convert src -o $target --to $to --type bf16 --threads 1 -q $nv 2>err.txt &
    pid=$!
    # signal once the output's temporary exists: the handler is in place by then, however slowly
    # the process starts (a sanitizer build on a loaded machine took longer than a fixed 0.1 s)
    for _ in $(seq 200); do ls -A | grep -q "^\.$target\.tmp\.$pid" && break; sleep 0.05; done
    kill -$sig $pid
    wait $pid
    got=$?
    if [ $got = 0 ]; then echo "note: the conversion finished before SIG$sig"; rm -rf $target; continue; fi
    [ $got = 75 ] && grep -q "interrupted" err.txt && [ ! -e $target ] && [ "$(leftovers)" = 0 ] \
      && ok "SIG$sig during --to $to: exit 75, nothing left behind" \
      || bad "SIG$sig during --to $to: exit $got, left $(ls -A): $(cat err.txt)"
  done
done
# ---- generated text on a terminal: byte tokens that are control characters (ESC, BEL, NUL)
# are shown escaped, not sent to the terminal raw (script gives ferry a terminal)
if command -v script >/dev/null; then
  $py - "$data" ctl.gguf <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from make_corpus import llama_gguf
toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in (0x1B, 0x07, 0x00, 0x08, 0x9B, 0x0D)]
open(sys.argv[2], "wb").write(llama_gguf(tokens=toks))
PY
  script -qec "$ferry run ctl.gguf -p hi -n 16 --temp 0 -q" /dev/null > tty.txt 2>&1
  if grep -q '\x' tty.txt && ! LC_ALL=C grep -q $'\|\|' tty.txt; then
    ok "control bytes of generated text are escaped on a terminal: $(head -c 60 tty.txt | tr -d '
')"
  else
    bad "raw control bytes reached the terminal: $(od -c tty.txt | head -3)"
  fi
  "$ferry" run ctl.gguf -p hi -n 16 --temp 0 -q > pipe.txt 2>/dev/null
  LC_ALL=C grep -q $'\|\|\|
' pipe.txt && ok "to a pipe the generated bytes go out unchanged" \
    || bad "pipe output lost its bytes: $(od -c pipe.txt | head -2)"
fi
exit $fail
