#!/usr/bin/env bash
# The ferry program's contract on the command line: version and help text, exit codes of
# SPEC section 5, and `inspect` on the real files of the shared testdata (golden output,
# hashes checked against sha256sum over the same byte range).
set -u
ferry=$1 testdata=$2 golden=$3
fail=0
expect_code() { # expected command...
  local want=$1; shift
  "$@" >/dev/null 2>&1; local got=$?
  if [ "$got" != "$want" ]; then echo "FAIL: '$*' exit $got, expected $want"; fail=1; fi
}
[[ "$("$ferry" --version)" =~ ^ferry\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "FAIL: --version"; fail=1; }
help=$("$ferry" --help)
for c in inspect convert diff keygen sign verify license fetch torrent seed run tokenize logits check perplexity demo; do
  grep -q "^  $c " <<<"$help" || { echo "FAIL: --help lacks $c"; fail=1; }
done
# -q and -v on every command (SPEC section 5)
for c in inspect convert diff keygen sign verify license fetch run tokenize logits check perplexity demo; do
  expect_code 0 "$ferry" $c -q --help
  expect_code 0 "$ferry" $c -v --help
done
expect_code 64 "$ferry"
# issue 13's frictions, each as a user met it
out=$("$ferry" convert missing -o x.safetensors 2>&1); code=$?
[ $code = 64 ] && grep -q "names a file" <<<"$out" || { echo "FAIL: -o x.safetensors for a model directory: $code $out"; fail=1; }
kd=$(mktemp -d)
out=$("$ferry" keygen -o "$kd/k" </dev/null 2>&1); code=$?
[ $code = 64 ] && [ ! -e "$kd/k.key" ] && grep -q -- "--no-password" <<<"$out" \
  || { echo "FAIL: keygen without a terminal wrote an unencrypted key: $code $out"; fail=1; }
rm -rf "$kd"
"$ferry" check --help | grep -q "%%" && { echo "FAIL: check --help prints %%"; fail=1; }
"$ferry" convert --help | grep -q -- "--to FORMAT.*meta" || { echo "FAIL: convert --help omits --to meta"; fail=1; }
expect_code 64 "$ferry" no-such-command
expect_code 64 "$ferry" seed
sd=$(mktemp -d)
expect_code 66 "$ferry" seed --listen 127.0.0.1:0 --state "$sd" /nonexistent/model
expect_code 64 "$ferry" torrent create
expect_code 66 "$ferry" torrent magnet /nonexistent.torrent
rm -rf "$sd"
expect_code 64 "$ferry" inspect
expect_code 64 "$ferry" inspect --threads -3 x
expect_code 0 "$ferry" inspect --help
expect_code 66 "$ferry" inspect /nonexistent/model.gguf
expect_code 66 "$ferry" convert a.pt -o b.gguf
expect_code 64 "$ferry" convert a.pt -o outdir
expect_code 64 "$ferry" convert --raw a.pt -o b.unknown

if [ ! -d "$testdata" ]; then echo "skipped: no testdata"; exit $fail; fi
vocab=$testdata/gguf-vocab/ggml-vocab-llama-spm.gguf
counts=$("$ferry" inspect "$vocab" --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["metadata"]), len(d["tensors"]), d["metadata"]["tokenizer.ggml.tokens"]["count"])')
[ "$counts" = "22 0 32000" ] || { echo "FAIL: vocab GGUF keys/tensors/count: $counts"; fail=1; }
full=$("$ferry" inspect "$vocab" --json --full | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); v=d["metadata"]["tokenizer.ggml.tokens"]["value"]; print(len(v), v[1], v[29871])')
[ "$full" = "32000 <s> ▁" ] || { echo "FAIL: vocab --full tokens: $full"; fail=1; }

dec=$("$ferry" tokenize "$testdata/llama2-tokenizer/tokenizer.model" --decode 15043,3186)
[ "$dec" = "Hello world" ] && [ "$("$ferry" tokenize "$testdata/llama2-tokenizer/tokenizer.model" --decode 15043 | tail -c 1 | od -An -c | tr -d ' ')" = '\n' ] \
  || { echo "FAIL: tokenize --decode: '$dec' (and a final newline)"; fail=1; }
"$ferry" inspect "$testdata/llama3-tokenizer/tokenizer.model" | grep -q "tokens: 128256 (256 control)" \
  || { echo "FAIL: inspect tokenizer.model (tiktoken)"; fail=1; }
"$ferry" inspect --json "$testdata/llama2-tokenizer/tokenizer.model" | grep -q '"tokens": 32000' \
  || { echo "FAIL: inspect --json tokenizer.model (sentencepiece)"; fail=1; }
tq=$(mktemp -d)
expect_code 0 "$ferry" convert "$testdata/stories260K/stories260K.bin" -o "$tq/q.gguf" --type Q8_0 --no-vocab
rm -rf "$tq"
# run says when the context ends the generation, and that a --ctx beyond the model's is cut
out=$("$ferry" run "$testdata/stories260K/stories260K.bin" --ids 1 -n 600 --temp 0 --ctx 100000 2>&1 >/dev/null)
grep -q "beyond the model's context of 512" <<<"$out" && grep -q "stopped at the end of the context" <<<"$out" \
  || { echo "FAIL: run at the context limit said nothing: $out"; fail=1; }
stories=$testdata/stories260K/stories260K.bin
out=$(cd "$testdata/stories260K" && "$ferry" inspect stories260K.bin)
if ! diff -u "$golden/stories260K.inspect.txt" - <<<"$out"; then echo "FAIL: golden inspect output"; fail=1; fi
want=$(tail -c +29 "$stories" | head -c 131072 | sha256sum | cut -d' ' -f1)
got=$("$ferry" inspect --hash --json "$stories" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tensors"][0]["sha256"])')
[ "$want" = "$got" ] || { echo "FAIL: token_embedding_table hash $got != $want"; fail=1; }
exit $fail
