#!/bin/bash
# errors.sh - bad input to smimekit.so through the stock openssl command:
# a malformed URI, an unknown URI attribute or type, a URI that names no
# token or no key, a wrong PIN, no PIN and no terminal, an unreadable
# pin-source, a locked token (max_failures = 3), and a directory (cloud)
# token whose slapd is stopped.  Each time: openssl exits non-zero, the
# error queue names the cause, nothing is written, no crash (signal or
# sanitizer report), and no other key is used instead.  The directory
# token first works: the decryption after login with her PIN against the
# fixture slapd.  An error line carries the file:line of the provider
# source that raised it.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
need openssl setsid
export XDG_STATE_HOME=$T/state

prov_token "max_failures = 3"
printf 'Nobody signs this.\n' | openssl dgst -sha256 -binary -out "$T/hash"
tok="pkcs11:token=$PROV_TOKEN"

# refused WHAT REGEX URI: pkeyutl -sign with URI fails, the error queue
# names the cause (REGEX), no signature is written
refused() {
	rm -f "$T/sig"
	prov_fails "$1" pkeyutl -sign -inkey "$3" -pkeyopt digest:sha256 -in "$T/hash" -out "$T/sig"
	prov_err_names "$1" "$2"
	[ ! -s "$T/sig" ] || fail "$1: a signature was written"
}
# signs WHAT URI: pkeyutl -sign with URI works
signs() {
	rm -f "$T/sig"
	prov_ok "$1" pkeyutl -sign -inkey "$2" -pkeyopt digest:sha256 -in "$T/hash" -out "$T/sig"
	[ -s "$T/sig" ] || fail "$1: no signature"
}

signs "the token works" "$PROV_RSA_KEY"

# ---- the URI
refused "unknown path attribute" "frobnicate" \
	"$tok;object=$PROV_RSA_LABEL;frobnicate=yes;type=private;pin-value=$PROV_PIN"
refused "unknown type" "unknown type 'secret-sauce'" \
	"$tok;object=$PROV_RSA_LABEL;type=secret-sauce;pin-value=$PROV_PIN"
# The error line carries the file and line that raised it, as OpenSSL's
# own errors do (ERR_print_errors: ...:reason:FILE:LINE:message): that
# line of the provider's source is the call raising this message.
line=$(grep -i ':error:.*unknown type' "$T/err" | head -1)
[[ "$line" =~ :([^:]*store\.c):([0-9]+):pkcs11:\ URI ]] ||
	fail "unknown type: no file:line on the error line: $line"
src=$SMK_TEST_SRCDIR/../provider/store.c
n=${BASH_REMATCH[2]}
sed -n "${n}p" "$src" | grep -q 'smk_prov_error(' ||
	fail "unknown type: store.c line $n raises no error: $(sed -n "${n}p" "$src")"
sed -n "${n},$((n + 3))p" "$src" | grep -q 'unknown type' ||
	fail "unknown type: store.c line $n is not where 'unknown type' is raised"
refused "malformed escape" "bad encoding in the 'id' value" "$tok;id=%zz;type=private;pin-value=$PROV_PIN"
refused "attribute without value" "attribute 'object' has no value" "$tok;object;type=private;pin-value=$PROV_PIN"
refused "overlong token label" "'token' value has 40 bytes, more than the 32" \
	"pkcs11:token=$(printf 'x%.0s' {1..40});type=private;pin-value=$PROV_PIN"
refused "another PKCS#11 library" "names another PKCS#11 library" \
	"$tok;object=$PROV_RSA_LABEL;type=private;library-manufacturer=OpenSC;pin-value=$PROV_PIN"
refused "bad library-version" "library-version" \
	"$tok;object=$PROV_RSA_LABEL;type=private;library-version=x;pin-value=$PROV_PIN"
lacks "$T/err" "smimekit:.*$PROV_PIN" "the PIN in the provider's error"
ok "a URI with an unknown attribute, type value, a bad escape, a missing value, an overlong label or another library is refused, the error naming it (with the provider's file:line)"

refused "no such object" "names no private key labelled 'nobody'" \
	"$tok;object=nobody;type=private;pin-value=$PROV_PIN"
refused "no such id" "names no private key with id 000102" \
	"$tok;id=%00%01%02;type=private;pin-value=$PROV_PIN"
refused "no such token" "names no smimekit token 'nobody'" \
	"pkcs11:token=nobody;object=$PROV_RSA_LABEL;type=private;pin-value=$PROV_PIN"
# a certificate is not a private key: not one of the token's keys instead
refused "a label with the wrong type" "names no (private key|object)" \
	"$tok;object=$PROV_RSA_LABEL;type=cert;pin-value=$PROV_PIN"
ok "a URI that names no token or no key fails with an error saying so (no other key is used)"

# ---- the PIN
refused "no PIN, no terminal" "PIN" "$tok;object=$PROV_RSA_LABEL;type=private"
refused "unreadable pin-source" "pin-source.*$T/no-such-pin-file|$T/no-such-pin-file" \
	"$tok;object=$PROV_RSA_LABEL;type=private;pin-source=file:$T/no-such-pin-file"
signs "no failure counted so far" "$PROV_RSA_KEY"
ok "no PIN (no terminal to ask on) and an unreadable pin-source file are errors naming the PIN"

printf 'not-the-pin' > "$T/wrong-pin"
refused "wrong PIN (pin-value)" "PIN incorrect|incorrect PIN|wrong PIN" \
	"$tok;object=$PROV_RSA_LABEL;type=private;pin-value=not-the-pin"
refused "wrong PIN (pin-source)" "PIN incorrect|incorrect PIN|wrong PIN" \
	"$tok;object=$PROV_RSA_LABEL;type=private;pin-source=file:$T/wrong-pin"
lacks "$T/err" 'not-the-pin' "the wrong PIN in the error"
signs "the right PIN after two wrong ones" "$PROV_RSA_KEY"
ok "a wrong PIN (pin-value, pin-source) is an error saying so; the PIN is not in it"

# ---- locked: max_failures = 3
for i in 1 2 3; do
	refused "wrong PIN $i of 3" "PIN incorrect|incorrect PIN|wrong PIN|locked" \
		"$tok;object=$PROV_EC_LABEL;type=private;pin-value=not-the-pin"
done
refused "the right PIN on a locked token" "locked" "$PROV_RSA_KEY"
refused "the other key on a locked token" "locked" "$PROV_EC_KEY_PV"
ok "three wrong PINs in a row lock the token (max_failures = 3): even the right PIN is refused, naming the lock"

# ---- a directory (cloud) token: works, then slapd is stopped
prov_cloud_token
uri=$PROV_CLOUD_URI
cloud="pkcs11:token=alice@example.org;id=$(prov_pct "$PROV_RSA_ID");type=private"
cloud_key="$cloud;pin-source=file:$T/alice.pw"

head -c 32 /dev/urandom > "$T/secret"
openssl pkeyutl -encrypt -certin -inkey "$C/alice-rsa.pem" -pkeyopt rsa_padding_mode:oaep \
	-pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in "$T/secret" -out "$T/ct"
decrypt() {	# decrypt URI: OAEP-SHA-256 decryption of $T/ct into $T/pt
	rm -f "$T/pt"
	prov_run pkeyutl -decrypt -inkey "$1" -pkeyopt rsa_padding_mode:oaep \
		-pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in "$T/ct" -out "$T/pt"
}
decrypt "$cloud_key"
[ "$PROV_STATUS" = 0 ] || { cat "$T/err" >&2; fail "decrypt on the directory token: exit $PROV_STATUS"; }
same "$T/secret" "$T/pt" "decryption with the escrowed key"
"$SMIMEKIT" encrypt --to "$C/alice-rsa.pem" -i "$D/simple.eml" -o "$T/enc.eml"
expected_inner "$D/simple.eml" > "$T/want"
rm -f "$T/inner"
prov_ok "cms -decrypt on the directory token" cms -decrypt -in "$T/enc.eml" -inkey "$cloud_key" \
	-recip "$C/alice-rsa.pem" -out "$T/inner"
same "$T/want" "$T/inner" "cms -decrypt with the escrowed key"
ok "directory token: after login with her PIN, the escrowed key decrypts (pkeyutl OAEP, cms) against the fixture slapd"

decrypt "$cloud;pin-value=not-her-pin"
[ "$PROV_STATUS" != 0 ] || fail "the directory token decrypts with a wrong PIN"
prov_err_names "directory token, wrong PIN" "PIN incorrect|incorrect PIN|wrong PIN"
[ ! -s "$T/pt" ] || fail "directory token, wrong PIN: output written"
ok "directory token: a wrong PIN is an error saying so"

slapd_stop dir
start=$(date +%s)
decrypt "$cloud_key"
took=$(($(date +%s) - start))
[ "$PROV_STATUS" != 0 ] || fail "the directory token decrypts with slapd stopped"
prov_err_names "directory token, slapd stopped" "${uri//./\\.}|directory.*(unavailable|down|reach)"
[ ! -s "$T/pt" ] || fail "directory token, slapd stopped: output written"
[ "$took" -le 15 ] || fail "slapd stopped: openssl took $took s (timeout 3 s)"
ok "directory token with slapd stopped: an error naming the directory, after ${took} s, no output"
done_testing
