#!/usr/bin/env bash
# Signing and verification against peers we did not write: the minisign program (both
# directions), openssl checking ferry's OMS bundles over the DSSE PAE, the reference
# implementation's bundles in the shared testdata; then the attacks of issue 5 and the license
# acceptance flow end to end. usage: signing.sh FERRY WORKDIR TESTDATA
set -u
ferry=$1 work=$2 testdata=$3
py=/usr/bin/python3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 2
export XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data
fail=0
ok()   { echo "ok: $*"; }
bad()  { echo "FAIL: $*"; fail=1; }
# expect CODE MESSAGE-PART cmd...: exit code and a piece of stderr
expect() {
  local code=$1 msg=$2; shift 2
  "$@" >out.txt 2>err.txt; local got=$?
  if [ "$got" != "$code" ]; then bad "'$*' exit $got, expected $code: $(cat err.txt)"; return; fi
  if [ -n "$msg" ] && ! grep -qF -- "$msg" err.txt; then bad "'$*' lacks '$msg': $(cat err.txt)"; return; fi
  ok "$* -> $code${msg:+ ($msg)}"
}
mkmodel() { # DIR: a small model with a license
  mkdir -p "$1/sub"
  printf 'weights-%s' "$1" > "$1/model.safetensors"
  head -c 300000 /dev/urandom > "$1/sub/shard.bin"
  printf '{"dim": 8}\n' > "$1/config.json"
  printf 'Example license text v1\n' > "$1/LICENSE"
  printf 'Acceptable use policy v1\n' > "$1/USE_POLICY.md"
}

# ---- minisign both ways
mkmodel m1
expect 0 "" "$ferry" keygen -o fk --no-password
expect 0 "" "$ferry" sign m1 --key fk.key --license-id example-1.0 --require-acceptance
if minisign -Vm m1/model.manifest.json -p fk.pub >/dev/null; then ok "minisign -V accepts ferry's signature"; else bad "minisign -V rejects ferry's signature"; fi
expect 0 "files OK" "$ferry" verify m1 --pubkey fk.pub
expect 0 "" "$ferry" verify m1 --pubkey "$(tail -1 fk.pub)"
minisign -GW -p mk.pub -s mk.key >/dev/null 2>&1 || bad "minisign -G"
cp -r m1 m2 && rm m2/model.manifest.json.minisig
minisign -Sm m2/model.manifest.json -s mk.key -t "signed by the minisign program" >/dev/null 2>&1 || bad "minisign -S"
expect 0 "signed by the minisign program" "$ferry" verify m2 --pubkey mk.pub
cp -r m2 m2l && minisign -Sl -m m2l/model.manifest.json -s mk.key >/dev/null 2>&1
sed -n 2p m2l/model.manifest.json.minisig | grep -q '^RW' && ok "minisign wrote a legacy Ed signature" || bad "legacy signature"
expect 0 "files OK" "$ferry" verify m2l --pubkey mk.pub
mv m2l/model.manifest.json.minisig m2l/elsewhere.minisig && cp m2l/model.manifest.json m2l/elsewhere
expect 0 "files OK" "$ferry" verify m2l --pubkey mk.pub --signature m2l/elsewhere.minisig --ignore elsewhere --ignore elsewhere.minisig
# --signature elsewhere: the model's own manifest is what it signs (it used to open the file the
# signature's name points to: ms.minisig -> ms)
mkdir -p sigs && cp m1/model.manifest.json.minisig sigs/ms.minisig
expect 0 "files OK" "$ferry" verify m1 --pubkey fk.pub --signature sigs/ms.minisig
expect 1 "is different from public key id" "$ferry" verify m2 --pubkey fk.pub
expect 64 "--pubkey" "$ferry" verify m2
# encrypted keys (scrypt, as minisign): ferry's encrypted key signs, minisign unlocks it too
printf 'correct horse\n' > pw.txt && printf 'wrong\n' > badpw.txt
expect 0 "" "$ferry" keygen -o ek --password-file pw.txt
sed -n 2p ek.key | base64 -d 2>/dev/null | head -c 4 | grep -q "EdSc" && ok "secret key is scrypt-encrypted" || bad "key not encrypted"
cp -r m1 m5 && rm m5/model.manifest.json*
expect 77 "wrong password" "$ferry" sign m5 --key ek.key --password-file badpw.txt
expect 0 "" "$ferry" sign m5 --key ek.key --password-file pw.txt
expect 0 "files OK" "$ferry" verify m5 --pubkey ek.pub
if command -v script >/dev/null; then
  (sleep 1; printf 'correct horse\n') | script -qec "minisign -Sm m5/config.json -s ek.key" /dev/null >/dev/null 2>&1
  minisign -Vm m5/config.json -p ek.pub >/dev/null 2>&1 && ok "minisign unlocks and uses ferry's encrypted key" || bad "minisign cannot use ferry's encrypted key"
  rm -f m5/config.json.minisig
fi
# forged trusted comment
cp -r m1 m3 && sed -i '3s/.*/trusted comment: timestamp:0\tfile:forged/' m3/model.manifest.json.minisig
expect 1 "forged comment" "$ferry" verify m3 --pubkey fk.pub

# ---- attacks on the files
cp -r m1 a1 && printf 'X' >> a1/sub/shard.bin
expect 1 "changed file: sub/shard.bin" "$ferry" verify a1 --pubkey fk.pub
cp -r m1 a2 && echo extra > a2/extra.txt
expect 1 "extra file not in the manifest: extra.txt" "$ferry" verify a2 --pubkey fk.pub
cp -r m1 a3 && rm a3/config.json
expect 1 "missing file: config.json" "$ferry" verify a3 --pubkey fk.pub
cp -r m1 a4 && echo secret > outside.txt && rm a4/config.json && ln -s "$work/outside.txt" a4/config.json
expect 1 "symbolic link" "$ferry" verify a4 --pubkey fk.pub
cp -r m1 a5 && $py - a5/model.manifest.json <<'PY'
import json, sys, hashlib
p = sys.argv[1]; s = json.load(open(p))
r = s["predicate"]["resources"]
r.append(dict(r[0], name="../outside.txt"))
s["subject"][0]["digest"]["sha256"] = hashlib.sha256(b"".join(bytes.fromhex(x["digest"]) for x in r)).hexdigest()
json.dump(s, open(p, "w"), indent=2)
PY
minisign -Sm a5/model.manifest.json -s mk.key >/dev/null 2>&1
expect 1 "not a safe relative path" "$ferry" verify a5 --pubkey mk.pub
cp -r m1 a6 && $py - a6/model.manifest.json <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s["predicate"]["resources"].reverse()   # same set, stale subject digest
json.dump(s, open(p, "w"), indent=2)
PY
minisign -Sm a6/model.manifest.json -s mk.key >/dev/null 2>&1
expect 1 "manifest is inconsistent" "$ferry" verify a6 --pubkey mk.pub
cp -r m1 a7 && sed -i 's/"sha256": "/"sha256": "0/' a7/model.manifest.json
expect 1 "signature verification failed" "$ferry" verify a7 --pubkey fk.pub
mkdir sp && mkfifo sp/fifo && echo x > sp/a
expect 65 "special file" "$ferry" sign sp --key fk.key
expect 73 "--force" "$ferry" sign m1 --key fk.key

# ---- OMS bundles: ferry signs, openssl verifies over the PAE
for curve in p256 p384 p521; do
  mkmodel e_$curve
  expect 0 "" "$ferry" keygen --type $curve -o ek_$curve
  expect 0 "" "$ferry" sign e_$curve --key ek_$curve.pem
  $py - e_$curve/model.sig <<'PY'
import base64, json, sys
b = json.load(open(sys.argv[1])); e = b["dsseEnvelope"]
pay = base64.b64decode(e["payload"]); t = e["payloadType"].encode()
open("pae.bin", "wb").write(b"DSSEv1 %d %s %d %s" % (len(t), t, len(pay), pay))
open("sig.der", "wb").write(base64.b64decode(e["signatures"][0]["sig"]))
PY
  md=sha256; [ $curve = p384 ] && md=sha384; [ $curve = p521 ] && md=sha512
  if openssl dgst -$md -verify ek_$curve.pub.pem -signature sig.der pae.bin | grep -q "Verified OK"; then ok "openssl verifies ferry's $curve bundle"; else bad "openssl rejects ferry's $curve bundle"; fi
  hint=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["verificationMaterial"]["publicKey"]["hint"])' e_$curve/model.sig)
  [ "$hint" = "$(sha256sum < ek_$curve.pub.pem | cut -d' ' -f1)" ] && ok "key hint is SHA-256 of the PEM text" || bad "key hint"
  expect 0 "files OK" "$ferry" verify e_$curve --pubkey ek_$curve.pub.pem
done
expect 1 "key mismatch" "$ferry" verify e_p256 --pubkey ek_p384.pub.pem
# a model signed both ways (model.sig and a .minisig): the key given picks the signature it can
# verify (the bundle used to be checked whatever the key, so a minisign key failed)
mkmodel two && cp -r two two_ec
expect 0 "" "$ferry" sign two --key fk.key
expect 0 "" "$ferry" sign two_ec --key ek_p256.pem
cp two_ec/model.sig two/model.sig
expect 0 "good minisign signature" "$ferry" verify two --pubkey fk.pub
expect 0 "good OpenSSF Model Signing bundle" "$ferry" verify two --pubkey ek_p256.pub.pem
expect 1 "key mismatch" "$ferry" verify two --pubkey ek_p384.pub.pem
expect 64 "signed twice" "$ferry" verify two
# crafted bundles signed with the test key through openssl
craft() { # DIR PREDICATE PAYLOADTYPE: re-sign e_p256's statement with changes
  cp -r e_p256 "$1"
  $py - "$1/model.sig" "$2" "$3" <<'PY'
import base64, json, subprocess, sys
p, pred, ptype = sys.argv[1:4]
b = json.load(open(p)); e = b["dsseEnvelope"]
st = json.loads(base64.b64decode(e["payload"])); st["predicateType"] = pred
pay = json.dumps(st).encode(); e["payloadType"] = ptype
pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype.encode(), len(pay), pay)
sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", "ek_p256.pem"], input=pae, capture_output=True).stdout
e["payload"] = base64.b64encode(pay).decode(); e["signatures"][0]["sig"] = base64.b64encode(sig).decode()
json.dump(b, open(p, "w"))
PY
}
craft b1 "https://model_signing/signature/v1.0" "application/vnd.in-toto+json"
expect 0 "files OK" "$ferry" verify b1 --pubkey ek_p256.pub.pem
craft b2 "https://example.com/other/v1" "application/vnd.in-toto+json"
expect 1 "predicateType" "$ferry" verify b2 --pubkey ek_p256.pub.pem
craft b3 "https://model_signing/signature/v1.0" "text/plain"
expect 1 "payloadType" "$ferry" verify b3 --pubkey ek_p256.pub.pem
cp -r e_p256 b4 && head -c 200 e_p256/model.sig > b4/model.sig
expect 1 "not valid JSON" "$ferry" verify b4 --pubkey ek_p256.pub.pem
cp -r e_p256 b5 && echo 'not json at all' > b5/model.sig
expect 1 "not valid JSON" "$ferry" verify b5 --pubkey ek_p256.pub.pem

# ---- the reference implementation's bundles
if [ -d "$testdata/oms" ]; then
  o=$testdata/oms k=$testdata/oms/keys
  expect 0 "files OK" "$ferry" verify "$o/v1.1.0-elliptic-key" --pubkey "$k/signing-key-pub.pem"
  expect 0 "files OK" "$ferry" verify "$o/v1.0.1-elliptic-key" --pubkey "$k/signing-key-pub.pem" --ignore ignore-me
  expect 0 "files OK" "$ferry" verify "$o/v1.0.0-elliptic-key/signme-1" --signature "$o/v1.0.0-elliptic-key/model.sig" --pubkey "$k/signing-key-pub.pem"
  expect 0 "files OK" "$ferry" verify "$o/v1.1.0-certificate" --cert-chain "$k/ca-cert.pem"
  expect 0 "files OK" "$ferry" verify "$o/v1.0.0-certificate" --cert-chain "$k/ca-cert.pem"
  expect 1 "cannot load certificates" "$ferry" verify "$o/v1.1.0-certificate" --cert-chain ek_p256.pub.pem
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ca.key -out other-ca.pem -subj /CN=other-root -days 2 2>/dev/null
  expect 1 "does not validate" "$ferry" verify "$o/v1.1.0-certificate" --cert-chain other-ca.pem
  expect 64 "--cert-chain" "$ferry" verify "$o/v1.1.0-certificate"
  expect 1 "key mismatch" "$ferry" verify "$o/v1.1.0-elliptic-key" --pubkey ek_p384.pub.pem
  for d in v1.1.0-elliptic-key v1.0.1-elliptic-key v1.1.0-certificate v1.0.0-certificate; do
    cp -r "$o/$d" "t_$d" && chmod -R u+w "t_$d" && printf '\x01' | dd of="t_$d/signme-1" bs=1 seek=0 conv=notrunc 2>/dev/null
    expect 1 "changed file: signme-1" "$ferry" verify "t_$d" --pubkey "$k/signing-key-pub.pem" --cert-chain "$k/ca-cert.pem" --ignore ignore-me
  done
else
  echo "skipped: no testdata (reference bundles)"
fi

# ---- checklists (Meta's md5sum checklist.chk, SHA256SUMS)
mkmodel c1 && (cd c1 && md5sum model.safetensors config.json sub/shard.bin > checklist.chk)
expect 0 "integrity only" "$ferry" verify c1
(cd c1 && sha256sum model.safetensors config.json > SHA256SUMS && rm checklist.chk)
expect 0 "files OK" "$ferry" verify c1
printf 'Y' >> c1/config.json
expect 1 "changed file: config.json (checksum differs)" "$ferry" verify c1
expect 1 "nothing to verify" "$ferry" verify sp

# ---- license acceptance
lic=$(sha256sum m1/LICENSE | cut -d' ' -f1)
expect 1 "no acceptance record for LICENSE" "$ferry" license status m1 --pubkey fk.pub
expect 1 "no acceptance record for LICENSE" "$ferry" verify m1 --pubkey fk.pub --require-license
"$ferry" license show m1 --pubkey fk.pub > show.txt 2>/dev/null
grep -q "Example license text v1" show.txt && grep -q "$lic" show.txt && ok "license show prints text and hash" || bad "license show"
# on a terminal (util-linux script gives one) the text goes through $PAGER, as git does
if command -v script >/dev/null; then
  PAGER="sed s/^/PAGED:/" script -qec "'$ferry' license show m1 --pubkey fk.pub" /dev/null </dev/null > paged.txt 2>&1
  grep -q "PAGED:Example license text v1" paged.txt && ok "license show on a terminal uses \$PAGER" || bad "license show: no pager on a terminal"
else
  echo "skipped: script (util-linux) is missing for the pager check"
fi
expect 64 "no terminal" "$ferry" license accept m1 --pubkey fk.pub </dev/null
expect 64 "give the signer's minisign public key with --pubkey" "$ferry" license accept m1 --accept-license=${lic:0:16}
expect 1 "names another text" "$ferry" license accept m1 --pubkey fk.pub --accept-license=0000000000000000
expect 64 "at least 16" "$ferry" license accept m1 --pubkey fk.pub --accept-license=${lic:0:8}
expect 0 "recorded acceptance" "$ferry" license accept m1 --pubkey fk.pub --accept-license=${lic:0:16} --name "Ada Lovelace" --email ada@example.com --on-behalf-of "Example Corp" --store-in-model
ls config/ferry/acceptance.key >/dev/null 2>&1 && [ "$(stat -c %a config/ferry/acceptance.key)" = 600 ] && ok "acceptance key made on first use, mode 600" || bad "acceptance key"
expect 0 "accepted by Ada Lovelace" "$ferry" license status m1 --pubkey fk.pub
expect 0 "files OK" "$ferry" verify m1 --pubkey fk.pub --require-license
rec=$(ls data/ferry/licenses/*.dsse.json | head -1)
$py - "$rec" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1]))
st = json.loads(base64.b64decode(d["payload"]))
pred = st["predicate"]
assert st["predicateType"] == "urn:ferry:license-acceptance:v1"
assert pred["acceptor"]["name"] == "Ada Lovelace" and pred["acceptor"]["on_behalf_of"] == "Example Corp"
assert pred["method"] == "flag:--accept-license" and pred["accepted_at"].endswith("Z")
assert len(pred["policies"]) == 1 and pred["policies"][0]["path"] == "USE_POLICY.md"
PY
[ $? = 0 ] && ok "record holds acceptor, method, time and policies" || bad "record contents"
# a tampered record: change the acceptor inside the signed payload
for r in data/ferry/licenses/*.dsse.json m1/license-acceptance.dsse.json; do
  $py - "$r" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1]))
pay = base64.b64decode(d["payload"]).replace(b"Ada Lovelace", b"Eve Mallory")
d["payload"] = base64.b64encode(pay).decode()
json.dump(d, open(sys.argv[1], "w"))
PY
done
expect 1 "record was changed after signing" "$ferry" license status m1 --pubkey fk.pub
# a changed license text needs a new acceptance
expect 0 "" "$ferry" license accept m1 --pubkey fk.pub --accept-license=$lic --name Ada
expect 0 "accepted by Ada" "$ferry" license status m1 --pubkey fk.pub
printf 'Example license text v2\n' > m1/LICENSE
expect 0 "" "$ferry" sign m1 --key fk.key --force --license-id example-2.0 --require-acceptance
expect 1 "no acceptance record for LICENSE" "$ferry" license status m1 --pubkey fk.pub
lic2=$(sha256sum m1/LICENSE | cut -d' ' -f1)
expect 1 "names another text" "$ferry" license accept m1 --pubkey fk.pub --accept-license=$lic
expect 0 "" "$ferry" license accept m1 --pubkey fk.pub --accept-license=$lic2
expect 0 "accepted by" "$ferry" license status m1 --pubkey fk.pub
# issue 11, the license-gate bypass: a record counts only when it is bound to this manifest's
# root and signed by a trusted key. An outsider's self-signed record dropped into the model
# directory, and the user's own record for another model with the same license text, used to
# make status and verify --require-license exit 0.
mkmodel g1 && "$ferry" sign g1 --key fk.key --require-acceptance -q
glic=$(sha256sum g1/LICENSE | cut -d' ' -f1)
XDG_CONFIG_HOME=$work/evil XDG_DATA_HOME=$work/evildata "$ferry" license accept g1 --pubkey fk.pub \
  --accept-license=$glic --name Mallory --store-in-model -q 2>/dev/null || bad "outsider's record"
expect 1 "neither your acceptance key nor one given with --trust-acceptor" "$ferry" license status g1 --pubkey fk.pub
expect 1 "bound to this model and made by a trusted key" "$ferry" verify g1 --pubkey fk.pub --require-license
expect 0 "accepted by Mallory" "$ferry" license status g1 --pubkey fk.pub --trust-acceptor evil/ferry/acceptance.pub
expect 0 "files OK" "$ferry" verify g1 --pubkey fk.pub --require-license --trust-acceptor evil/ferry/acceptance.pub
"$ferry" license status g1 --pubkey fk.pub --json 2>/dev/null > gst.json
$py -c 'import json,sys; r=json.load(open("gst.json"))["license"]["records"]; sys.exit(not (len(r)==1 and r[0]["trusted"] is False and r[0]["counts"] is False and r[0]["name"]=="Mallory"))' \
  && ok "status --json lists the untrusted record with its acceptor" || bad "status --json: $(cat gst.json)"
mkmodel g2 && "$ferry" sign g2 --key fk.key --require-acceptance -q
expect 0 "recorded acceptance" "$ferry" license accept g2 --pubkey fk.pub --accept-license=$glic --store-in-model
cp g2/license-acceptance.dsse.json g1/license-acceptance.dsse.json
expect 1 "made for another model" "$ferry" license status g1 --pubkey fk.pub
expect 1 "bound to this model" "$ferry" verify g1 --pubkey fk.pub --require-license
expect 1 "made for another model" "$ferry" license status g1 --pubkey fk.pub --trust-acceptor evil/ferry/acceptance.pub
# a FIFO where the record would be: refused at once, not waited on
rm g1/license-acceptance.dsse.json && mkfifo g1/license-acceptance.dsse.json
expect 1 "not a regular file (a FIFO)" timeout 10 "$ferry" license status g1 --pubkey fk.pub
rm g1/license-acceptance.dsse.json && mkfifo data/ferry/licenses/fifo.dsse.json
expect 1 "not a regular file (a FIFO)" timeout 10 "$ferry" license status g1 --pubkey fk.pub
rm data/ferry/licenses/fifo.dsse.json

# interactive acceptance needs the exact words on a terminal (script gives one)
if command -v script >/dev/null; then
  mkmodel m4 && "$ferry" sign m4 --key fk.key --require-acceptance -q
  (sleep 1; printf 'I ACCEPT\n') | script -qec "$ferry license accept m4 --pubkey fk.pub" /dev/null > tty.txt 2>&1
  grep -q "recorded acceptance" tty.txt && ok "typed I ACCEPT on a terminal" || bad "interactive accept: $(tail -3 tty.txt)"
  (sleep 1; printf 'yes\n') | script -qec "$ferry license accept m4 --pubkey fk.pub" /dev/null > tty2.txt 2>&1
  grep -q "not accepted" tty2.txt && ok "other words are refused" || bad "interactive refusal"
fi
exit $fail
