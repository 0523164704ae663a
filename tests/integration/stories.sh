#!/usr/bin/env bash
# The forward pass on a real trained checkpoint (llama2.c's stories260K): greedy decoding from
# BOS must give the 20 ids two independent implementations agree on (testdata README), the
# same with one thread or two, from the .bin and from its GGUF conversion; sampling with a
# seed repeats itself; a token beyond the vocabulary and a prompt longer than the context are
# refused with the usage exit code.
set -u
ferry=$1 testdata=$2 work=$3
model=$testdata/stories260K/stories260K.bin
[ -f "$model" ] || { echo "skipped: no testdata"; exit 77; } # CTest: skipped
rm -rf "$work" && mkdir -p "$work"
fail=0
want="461 461 401 401 401 461 378 455 473 456 435 299 362 409 283 264 283 452 288 13"
for threads in 1 2; do
  got=$("$ferry" run "$model" --temp 0 -n 20 --threads $threads -q)
  [ "$got" = "$want" ] && echo "ok: greedy ids with $threads thread(s)" || { echo "FAIL: greedy ($threads threads): $got"; fail=1; }
done
# stories260K's own 512-token tokenizer is not in the testdata: weights only, on purpose
"$ferry" convert "$model" -o "$work/st.gguf" --type f32 -q --no-vocab
"$ferry" diff "$model" "$work/st.gguf" -q >/dev/null && echo "ok: the GGUF holds the same tensors" || { echo "FAIL: diff .bin vs GGUF"; fail=1; }
got=$("$ferry" run "$work/st.gguf" --temp 0 -n 20 -q)
[ "$got" = "$want" ] && echo "ok: greedy ids from GGUF" || { echo "FAIL: GGUF greedy: $got"; fail=1; }
a=$("$ferry" run "$model" --temp 0.9 --seed 7 -n 40 -q) b=$("$ferry" run "$model" --temp 0.9 --seed 7 -n 40 -q)
[ "$a" = "$b" ] && [ -n "$a" ] && echo "ok: seeded sampling repeats" || { echo "FAIL: seeded sampling differs"; fail=1; }
"$ferry" run "$model" --ids 1,999 -n 1 -q >/dev/null 2>"$work/err"
[ $? = 64 ] && grep -q "outside the vocabulary" "$work/err" && echo "ok: id beyond vocab refused" || { echo "FAIL: id beyond vocab"; cat "$work/err"; fail=1; }
ids=$(seq -s, 1 600)
"$ferry" logits "$model" --ids "$ids" -o "$work/x.npy" >/dev/null 2>"$work/err"
[ $? = 64 ] && grep -q "exceed the context" "$work/err" && echo "ok: long prompt refused" || { echo "FAIL: long prompt"; cat "$work/err"; fail=1; }
exit $fail
