#!/bin/bash
# storeutl.sh - smimekit.so's store loader and key management with the
# stock `openssl storeutl` and `openssl pkey`: pkcs11: URIs naming alice's
# file token list her certificates without a PIN (the same certificates
# that were imported), her private keys after login (PIN from pin-value,
# pin-source or openssl's passphrase callback), one object by label or
# id, public keys; the public half of a token key, exported by the
# provider, equals the certificate's key.  A URI with an unknown
# attribute, one naming nothing, a wrong, missing or locked PIN and a
# directory token whose server is down are errors that name the cause
# (and never show the PIN).  doc/openssl/smimekit.cnf, used as
# OPENSSL_CONF, activates the provider.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
need openssl setsid

prov_token "max_failures = 3"
d=$T/prov
tok="pkcs11:token=$PROV_TOKEN"
pv="pin-value=$PROV_PIN"

# fingerprints FILE: the SHA-256 fingerprints of the PEM certificates in
# FILE, sorted, one a line.
fingerprints() {
	awk -v dir="$T/fp" '
		/-----BEGIN CERTIFICATE-----/ { n++; f = dir "." n }
		f { print > f }
		/-----END CERTIFICATE-----/ { close(f); f = "" }
	' "$1"
	local f
	for f in "$T"/fp.*; do
		[ -f "$f" ] || continue
		openssl x509 -in "$f" -noout -fingerprint -sha256
		rm -f "$f"
	done | sort
}
# found N WHAT: storeutl's output ($T/out) reports N objects.
found() {
	has_line "$T/out" "^Total found: $1\$" "$2"
}

# ---- certificates, no PIN (no terminal: a prompt would fail)
prov_ok "storeutl -certs" storeutl -certs "$tok"
found 2 "storeutl -certs: alice's two certificates"
cat "$C/alice-rsa.pem" "$C/alice-ec.pem" > "$T/want.pem"
[ "$(fingerprints "$T/out")" = "$(fingerprints "$T/want.pem")" ] ||
	fail "storeutl -certs: not the certificates that were imported: $(cat "$T/out")"
ok "storeutl -certs $tok: alice's RSA and EC certificates, without a PIN"

prov_ok "storeutl, no type, no PIN" storeutl "$tok"
found 2 "storeutl without type= and PIN"
[ "$(grep -c '^[0-9]*: Certificate$' "$T/out")" = 2 ] || fail "want 2 certificates: $(cat "$T/out")"
ok "storeutl $tok (no type, no PIN): the certificates only, no login"

prov_ok "type=cert;object=" storeutl "$tok;type=cert;object=$PROV_EC_LABEL"
found 1 "one certificate by label"
[ "$(fingerprints "$T/out")" = "$(fingerprints "$C/alice-ec.pem")" ] ||
	fail "type=cert;object=$PROV_EC_LABEL: not alice's EC certificate"
prov_ok "type=cert;id=" storeutl -certs "$tok;id=$(prov_pct "$PROV_RSA_ID")"
found 1 "one certificate by id"
[ "$(fingerprints "$T/out")" = "$(fingerprints "$C/alice-rsa.pem")" ] ||
	fail "id=<RSA id>: not alice's RSA certificate"
ok "type=cert;object=LABEL and id=ID: exactly that certificate"

# ---- private keys
prov_ok "storeutl -keys pin-value" storeutl -keys "$tok?$pv"
found 2 "storeutl -keys with pin-value"
[ "$(grep -c '^[0-9]*: Pkey$' "$T/out")" = 2 ] || fail "want 2 keys: $(cat "$T/out")"
ok "storeutl -keys '$tok?pin-value=...': alice's two private keys"

prov_ok "storeutl -keys pin-source" storeutl -keys "$tok;object=$PROV_RSA_LABEL?pin-source=file:$PROV_PIN_FILE"
found 1 "-keys, object=, pin-source"
prov_ok "storeutl -keys -passin" storeutl -keys -passin "file:$PROV_PIN_FILE" \
	"$tok;type=private;id=$(prov_pct "$PROV_EC_ID")"
found 1 "-keys, id=, PIN from the passphrase callback"
ok "-keys: one key by label (pin-source=file:) and by id (PIN through openssl's -passin)"

prov_ok "type=public" storeutl "$tok;type=public;object=$PROV_EC_LABEL"
found 1 "type=public"
has_line "$T/out" '^0: Public key$' "type=public: a public key"
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$T/out" > "$T/pub.pem"
same "$d/ec.pub" "$T/pub.pem" "type=public: alice's EC public key"
ok "type=public: the public key, without a PIN"

# The public half a token key exports equals the certificate's key.
for k in rsa ec; do
	prov_ok "pkey -pubout $k" pkey -in "$tok;type=private;object=alice-$k?$pv" -pubout
	same "$d/$k.pub" "$T/out" "openssl pkey -pubout ($k)"
done
ok "openssl pkey -in 'pkcs11:...;type=private' -pubout: the certificates' public keys (RSA, EC)"

# The activation snippet (doc/openssl/smimekit.cnf) as OPENSSL_CONF, with
# module = the built provider: no -provider options needed.
sed -e "s|^# module = .*|module = $PROV_SO|" "$SMK_TEST_SRCDIR/../doc/openssl/smimekit.cnf" \
	> "$T/openssl.cnf"
grep -q "^module = $PROV_SO\$" "$T/openssl.cnf" || fail "smimekit.cnf: no '# module =' line to set"
OPENSSL_CONF=$T/openssl.cnf "${PROV_ENV[@]}" openssl storeutl -certs "$tok" > "$T/out" 2> "$T/err" ||
	{ cat "$T/err" >&2; fail "storeutl with smimekit.cnf"; }
found 2 "storeutl -certs with smimekit.cnf"
OPENSSL_CONF=$T/openssl.cnf "${PROV_ENV[@]}" openssl pkey -in "$tok;type=private;object=alice-rsa?$pv" \
	-pubout > "$T/out" 2> "$T/err" || { cat "$T/err" >&2; fail "pkey with smimekit.cnf"; }
same "$d/rsa.pub" "$T/out" "openssl pkey -pubout with smimekit.cnf"
# Signing there: the token key's operation runs in smimekit.
printf 'signed through smimekit.cnf\n' | openssl dgst -sha256 -binary > "$T/hash"
OPENSSL_CONF=$T/openssl.cnf "${PROV_ENV[@]}" openssl pkeyutl -sign \
	-inkey "$tok;type=private;object=alice-rsa?$pv" -in "$T/hash" -out "$T/sig" 2> "$T/err" ||
	{ cat "$T/err" >&2; fail "pkeyutl -sign with smimekit.cnf"; }
openssl pkeyutl -verify -pubin -inkey "$d/rsa.pub" -in "$T/hash" -sigfile "$T/sig" > /dev/null ||
	fail "pkeyutl -sign with smimekit.cnf: the signature does not verify"
ok "doc/openssl/smimekit.cnf activates the provider (storeutl, pkey, pkeyutl -sign without -provider)"

# Either activation order: token keys sign in smimekit, file keys in default.
for k in rsa ec; do
	for key in "$tok;type=private;object=alice-$k?$pv" "$C/alice-$k.key"; do
		"${PROV_ENV[@]}" openssl pkeyutl -provider-path "$SMK_PROVIDER_DIR" -provider default \
			-provider smimekit -sign -inkey "$key" -in "$T/hash" -out "$T/sig" 2> "$T/err" ||
			{ cat "$T/err" >&2; fail "pkeyutl -sign, default first ($key)"; }
		openssl pkeyutl -verify -pubin -inkey "$d/$k.pub" -in "$T/hash" -sigfile "$T/sig" \
			> /dev/null || fail "pkeyutl -sign, default first ($key): does not verify"
	done
done
ok "-provider default -provider smimekit: token and file keys (RSA, EC) both sign"

# ---- errors naming the cause
prov_fails "unknown path attribute" storeutl "$tok;colour=blue"
prov_err_names "unknown path attribute" "unsupported path attribute 'colour'"
prov_fails "unknown query attribute" storeutl "$tok?flavour=mint"
prov_err_names "unknown query attribute" "unsupported query attribute 'flavour'"
prov_fails "malformed URI" storeutl "pkcs11:token=al%zzice"
prov_err_names "malformed URI" "bad pkcs11 URI.*encoding"
ok "an unknown attribute (path or query) or a malformed URI: error naming it"

prov_fails "no such token" storeutl -certs "pkcs11:token=bob"
prov_err_names "no such token" "names no smimekit token"
prov_fails "no such object" storeutl "$tok;object=nobody?$pv"
prov_err_names "no such object" "names no object"
prov_fails "no such key" storeutl -keys "$tok;object=nobody?$pv"
prov_err_names "no such key" "names no private key"
prov_fails "type=data" storeutl "$tok;type=data?$pv"
prov_err_names "type=data" "names no object"
ok "a URI naming no token, no object or no key: error, not an empty list"

prov_fails "keys without PIN" storeutl -keys "$tok"
prov_err_names "keys without PIN" "PIN error.*token 'alice': no PIN given"
ok "-keys without a PIN and no terminal: error (the passphrase prompt fails)"

prov_fails "wrong PIN" storeutl -keys "$tok?pin-value=wrong-pin-1"
prov_err_names "wrong PIN" "PIN error.*incorrect"
grep -i ':error:' "$T/err" > "$T/errq" || true
lacks "$T/errq" "wrong-pin-1" "wrong PIN: the PIN in an error message"
prov_fails "wrong PIN file" storeutl -keys "$tok?pin-source=file:$d/missing-pin"
prov_err_names "wrong PIN file" "pin-source: .*missing-pin"
ok "a wrong PIN, an unreadable pin-source: errors naming the cause (not the PIN)"

# A directory token whose server cannot be reached (nothing listens on
# port 9): naming it is an error saying so, the file token still works,
# and a URI naming every token fails rather than listing only some.
{
	cat "$d/smimekit.conf"
	printf '\n[directory]\nuri = ldap://127.0.0.1:9\nbase = dc=example,dc=org\n'
	printf 'timeout = 2\nnetwork_timeout = 2\n\n[token cloud]\ntype = directory\n'
	printf 'address = alice@example.org\n'
} > "$T/dir.conf"
export XDG_STATE_HOME=$T/state
SMIMEKIT_CONF=$T/dir.conf prov_fails "directory down" storeutl -certs "pkcs11:token=alice@example.org"
prov_err_names "directory down" "directory unavailable.*ldap://127.0.0.1:9"
SMIMEKIT_CONF=$T/dir.conf prov_fails "directory down, all tokens" storeutl -certs "pkcs11:"
prov_err_names "directory down, all tokens" "directory unavailable"
SMIMEKIT_CONF=$T/dir.conf prov_ok "directory down, file token" storeutl -certs "$tok"
found 2 "the file token beside a directory token that is down"
ok "a directory token that is down: error naming it (also for pkcs11: naming all tokens); the file token still listed"

# max_failures = 3: one failure above, two more lock the PIN.
prov_fails "wrong PIN 2" storeutl -keys "$tok?pin-value=wrong-pin-2"
prov_fails "wrong PIN 3" storeutl -keys "$tok?pin-value=wrong-pin-3"
prov_fails "locked" storeutl -keys "$tok?$pv"
prov_err_names "locked" "PIN error.*locked"
prov_ok "certificates while locked" storeutl -certs "$tok"
found 2 "certificates while the PIN is locked"
ok "a locked PIN: the right PIN is refused naming the lock; certificates still listed"

done_testing
