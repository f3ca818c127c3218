#!/bin/bash
# search.sh - OSSL_STORE searches in smimekit.so's pkcs11: store loader,
# with the stock `openssl storeutl` (-subject, -issuer/-serial,
# -fingerprint with a digest, -alias) and, to tell which private key a
# search found (storeutl prints only "Pkey" for a token key), the same
# searches through tests/provider/store-probe (OSSL_STORE_find as storeutl
# calls it; it prints the SHA-256 of each certificate and of each key's
# SubjectPublicKeyInfo).  Alice's file token holds her RSA and EC
# certificates and keys, both certificates with subject "CN=Alice
# Example" from "CN=smimekit test CA" (serials 0x1000 and 0x1002).
#
# Each search is checked for exactly the objects it must find, for
# certificates (-certs), private keys (-keys, with the PIN) and public
# keys (type=public).  A search matching nothing is "Total found: 0" and
# exit 0, while a URI naming nothing is still an error.  Garbage values
# are refused with an error naming the problem: by storeutl itself where
# it parses them (a subject that is not /type=value, a fingerprint whose
# length does not match -sha256), and by the loader when a caller hands
# it raw parameters (a subject that is not a DER name, a fingerprint of
# the wrong length for its digest, an unknown digest, an issuer without a
# serial number).
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
need openssl setsid
PROBE=${SMK_STORE_PROBE:?run through make check}
[ -x "$PROBE" ] || fail "$PROBE is missing (not built?)"

prov_token
d=$T/prov
tok="pkcs11:token=$PROV_TOKEN"
pv="pin-value=$PROV_PIN"
ca="/CN=smimekit test CA"

# sha256: the SHA-256 of standard input, upper-case hex.
sha256() { openssl dgst -sha256 -r | cut -c1-64 | tr a-f A-F; }
cert_fp() { openssl x509 -in "$1" -outform DER | sha256; }
key_fp() { openssl pkey -pubin -in "$1" -outform DER | sha256; }
serial() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=/0x/'; }
# cert_digest MD PEM, key_digest MD PUBKEY-PEM: the fingerprint (digest
# MD, e.g. sha1) of a certificate or a public key, hex without colons
cert_digest() { openssl x509 -in "$2" -outform DER | openssl dgst "-$1" -r | cut -d' ' -f1; }
key_digest() { openssl pkey -pubin -in "$2" -outform DER | openssl dgst "-$1" -r | cut -d' ' -f1; }

RSA_CERT=$(cert_fp "$C/alice-rsa.pem")
EC_CERT=$(cert_fp "$C/alice-ec.pem")
RSA_KEY=$(key_fp "$d/rsa.pub")
EC_KEY=$(key_fp "$d/ec.pub")

# storeutl_certs: the SHA-256 of every PEM certificate in storeutl's
# output ($T/out), sorted, one a line.
storeutl_certs() {
	local f
	rm -f "$T"/blk.*
	awk -v dir="$T/blk" '
		/-----BEGIN CERTIFICATE-----/ { n++; f = dir "." n }
		f { print > f }
		/-----END CERTIFICATE-----/ { close(f); f = "" }
	' "$T/out"
	for f in "$T"/blk.*; do
		[ -f "$f" ] && cert_fp "$f"
	done | sort
}
# want WHAT EXPECTED ACTUAL: the two sorted lists are equal
want() {
	[ "$2" = "$3" ] || fail "$1: found
$3
want
$2"
}
both() { printf '%s\n' "$@" | sort; }
found() { has_line "$T/out" "^Total found: $1\$" "$2"; }

# probe WHAT URI CRITERION...: store-probe, must succeed; its CERT/PKEY/
# PUBKEY lines (the fingerprints, sorted) in PROBED
probe() {
	local what=$1
	shift
	"${PROV_ENV[@]}" "$PROBE" "$@" > "$T/pout" 2> "$T/perr" ||
		{ cat "$T/pout" "$T/perr" >&2; fail "$what: store-probe exit $?"; }
	PROBED=$(awk '$1 ~ /^(CERT|PKEY|PUBKEY)$/ { print $2 }' "$T/pout" | sort)
	grep -q '^Total found:' "$T/pout" || fail "$what: store-probe printed no total"
}
# probe_refused WHAT REGEX URI CRITERION...: store-probe fails, its error
# output names the problem, and it lists nothing
probe_refused() {
	local what=$1 re=$2 st=0
	shift 2
	"${PROV_ENV[@]}" "$PROBE" "$@" > "$T/pout" 2> "$T/perr" || st=$?
	[ "$st" = 1 ] || { cat "$T/pout" "$T/perr" >&2; fail "$what: store-probe exit $st, want 1"; }
	grep -i ':error:' "$T/perr" | grep -Eq -e "$re" ||
		{ cat "$T/perr" >&2; fail "$what: no error matching /$re/"; }
	lacks "$T/pout" '^(CERT|PKEY|PUBKEY) ' "$what: objects listed"
}

# ---- certificates (no PIN)
prov_ok "-certs -subject" storeutl -certs -subject "/CN=Alice Example" "$tok"
found 2 "-certs -subject"
want "-certs -subject" "$(both "$RSA_CERT" "$EC_CERT")" "$(storeutl_certs)"
prov_ok "-certs -issuer -serial" storeutl -certs -issuer "$ca" -serial "$(serial "$C/alice-ec.pem")" "$tok"
found 1 "-certs -issuer -serial"
want "-certs -issuer -serial (EC)" "$EC_CERT" "$(storeutl_certs)"
prov_ok "-certs -issuer -serial RSA" storeutl -certs -issuer "$ca" -serial "$(serial "$C/alice-rsa.pem")" "$tok"
want "-certs -issuer -serial (RSA)" "$RSA_CERT" "$(storeutl_certs)"
ok "storeutl -certs -subject: both of alice's certificates; -issuer/-serial: exactly the one with that serial"

prov_ok "-certs -sha256 -fingerprint" storeutl -certs -sha256 \
	-fingerprint "$(cert_digest sha256 "$C/alice-rsa.pem")" "$tok"
found 1 "-certs -sha256 -fingerprint"
want "-certs -sha256 -fingerprint (certificate)" "$RSA_CERT" "$(storeutl_certs)"
prov_ok "-certs -sha1 -fingerprint" storeutl -certs -sha1 \
	-fingerprint "$(cert_digest sha1 "$C/alice-ec.pem")" "$tok"
want "-certs -sha1 -fingerprint (certificate)" "$EC_CERT" "$(storeutl_certs)"
# the fingerprint of the public key finds its certificate too
prov_ok "-certs -fingerprint of the key" storeutl -certs -sha384 \
	-fingerprint "$(key_digest sha384 "$d/ec.pub")" "$tok"
want "-certs -sha384 -fingerprint (public key)" "$EC_CERT" "$(storeutl_certs)"
ok "storeutl -certs -fingerprint (-sha256, -sha1 of the certificate, -sha384 of its public key): exactly that certificate"

prov_ok "-certs -alias" storeutl -certs -alias "$PROV_EC_LABEL" "$tok"
found 1 "-certs -alias"
want "-certs -alias" "$EC_CERT" "$(storeutl_certs)"
prov_ok "-alias, no -certs" storeutl -alias "$PROV_RSA_LABEL" "$tok"
found 1 "-alias without -certs (no PIN: certificates only)"
want "-alias without -certs" "$RSA_CERT" "$(storeutl_certs)"
ok "storeutl -alias LABEL (with and without -certs): exactly that certificate"

# ---- private keys (PIN), which the probe identifies
prov_ok "-keys -subject" storeutl -keys -subject "/CN=Alice Example" "$tok?$pv"
found 2 "-keys -subject"
[ "$(grep -c '^[0-9]*: Pkey$' "$T/out")" = 2 ] || fail "-keys -subject: want 2 keys: $(cat "$T/out")"
probe "subject (keys)" "$tok?$pv" expect=key "subject-of=$C/alice-rsa.pem"
want "subject (keys)" "$(both "$RSA_KEY" "$EC_KEY")" "$PROBED"

prov_ok "-keys -issuer -serial" storeutl -keys -passin "file:$PROV_PIN_FILE" \
	-issuer "$ca" -serial "$(serial "$C/alice-ec.pem")" "$tok"
found 1 "-keys -issuer -serial (PIN from -passin)"
has_line "$T/out" '^0: Pkey$' "-keys -issuer -serial: a key"
probe "issuer+serial (keys)" "$tok?$pv" expect=key "issuer-serial-of=$C/alice-ec.pem"
want "issuer+serial (keys)" "$EC_KEY" "$PROBED"
probe "issuer+serial (keys, RSA)" "$tok?$pv" expect=key "issuer-serial-of=$C/alice-rsa.pem"
want "issuer+serial (keys, RSA)" "$RSA_KEY" "$PROBED"
ok "storeutl -keys -subject: both keys; -issuer/-serial: the key of that certificate (store-probe: exactly those keys)"

prov_ok "-keys -fingerprint (certificate)" storeutl -keys -sha256 \
	-fingerprint "$(cert_digest sha256 "$C/alice-rsa.pem")" "$tok?$pv"
found 1 "-keys -fingerprint of the certificate"
probe "fingerprint of the certificate (keys)" "$tok?$pv" expect=key digest=SHA256 \
	"fingerprint=$(cert_digest sha256 "$C/alice-rsa.pem")"
want "fingerprint of the certificate (keys)" "$RSA_KEY" "$PROBED"
prov_ok "-keys -fingerprint (public key)" storeutl -keys -sha256 \
	-fingerprint "$(key_digest sha256 "$d/ec.pub")" "$tok?$pv"
found 1 "-keys -fingerprint of the public key"
probe "fingerprint of the public key (keys)" "$tok?$pv" expect=key digest=SHA256 \
	"fingerprint=$(key_digest sha256 "$d/ec.pub")"
want "fingerprint of the public key (keys)" "$EC_KEY" "$PROBED"
ok "storeutl -keys -fingerprint: the key whose certificate or public key has that digest"

prov_ok "-keys -alias" storeutl -keys -alias "$PROV_RSA_LABEL" "$tok?$pv"
found 1 "-keys -alias"
probe "alias (keys)" "$tok?$pv" expect=key "alias=$PROV_RSA_LABEL"
want "alias (keys)" "$RSA_KEY" "$PROBED"
# a URI with a PIN and no -keys/-certs: the certificate and the key
probe "alias (all)" "$tok?$pv" "alias=$PROV_EC_LABEL"
want "alias (all)" "$(both "$EC_CERT" "$EC_KEY")" "$PROBED"
ok "storeutl -keys -alias LABEL: that key; without -keys (PIN in the URI) its certificate and key"

# ---- public keys (type=public): storeutl prints them
prov_ok "type=public -alias" storeutl -alias "$PROV_EC_LABEL" "$tok;type=public"
found 1 "type=public -alias"
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$T/out" > "$T/pub.pem"
same "$d/ec.pub" "$T/pub.pem" "type=public -alias: alice's EC public key"
prov_ok "type=public -issuer -serial" storeutl -issuer "$ca" -serial "$(serial "$C/alice-rsa.pem")" \
	"$tok;type=public"
found 1 "type=public -issuer -serial"
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$T/out" > "$T/pub.pem"
same "$d/rsa.pub" "$T/pub.pem" "type=public -issuer -serial: alice's RSA public key"
ok "type=public with -alias and -issuer/-serial: exactly that public key"

# ---- no match: an empty result, not an error
prov_ok "-certs -subject bob" storeutl -certs -subject "/CN=Bob Example" "$tok"
found 0 "-certs -subject of someone else"
prov_ok "-certs -issuer -serial bob" storeutl -certs -issuer "$ca" -serial "$(serial "$C/bob.pem")" "$tok"
found 0 "-certs -issuer/-serial of someone else's certificate"
prov_ok "-keys -fingerprint bob" storeutl -keys -sha256 -fingerprint "$(cert_digest sha256 "$C/bob.pem")" "$tok?$pv"
found 0 "-keys -fingerprint of someone else's certificate"
prov_ok "-keys -alias nobody" storeutl -keys -alias nobody "$tok?$pv"
found 0 "-keys -alias nobody"
lacks "$T/err" ':error:' "a search finding nothing: an error"
# the label and the URI's object= both hold: RSA label, EC object
prov_ok "-alias against object=" storeutl -alias "$PROV_RSA_LABEL" "$tok;object=$PROV_EC_LABEL"
found 0 "-alias and object= naming different objects"
# but a URI naming nothing stays an error
prov_fails "object=nobody with a search" storeutl -certs -subject "/CN=Alice Example" "$tok;object=nobody"
prov_err_names "object=nobody with a search" "names no certificate labelled 'nobody'"
ok "a search finding nothing: 'Total found: 0', exit 0, no error; a URI naming nothing is still an error"

# ---- garbage: storeutl's own checks
prov_fails "subject not a name" storeutl -certs -subject "CN=no slash" "$tok"
grep -Eiq "subject.*expected to be in the format|name is expected" "$T/err" ||
	{ cat "$T/err" >&2; fail "subject not a name: no error saying so"; }
prov_fails "fingerprint of the wrong length" storeutl -certs -sha256 -fingerprint 0123abcd "$tok"
prov_err_names "fingerprint of the wrong length" "fingerprint size does not match digest"
ok "storeutl refuses a subject that is not /type=value and a fingerprint whose size is not the digest's"

# ---- garbage handed to the loader directly (OSSL_STORE_open_ex parameters)
probe_refused "raw subject not a name" "subject \(5 bytes\) is not a DER-encoded X.509 name" \
	"$tok" raw-subject=3003020101
probe_refused "raw issuer not a name" "issuer \(1 bytes\) is not a DER-encoded X.509 name" \
	"$tok" raw-issuer=30 raw-serial=4096
probe_refused "raw fingerprint wrong length" "fingerprint has 20 bytes, a SHA2-256 digest has 32" \
	"$tok" raw-digest=SHA256 "raw-fingerprint=$(cert_digest sha1 "$C/alice-rsa.pem")"
probe_refused "raw fingerprint, no digest, odd length" "fingerprint of 3 bytes and no digest named" \
	"$tok" raw-fingerprint=0123ab
probe_refused "raw unknown digest" "unknown fingerprint digest 'no-such-digest'" \
	"$tok" raw-digest=no-such-digest raw-fingerprint=00
probe_refused "raw XOF digest" "SHAKE256 has no fixed size" \
	"$tok" raw-digest=SHAKE256 "raw-fingerprint=$(cert_digest sha256 "$C/alice-rsa.pem")"
probe_refused "raw issuer without serial" "issuer needs a serial number" "$tok" raw-issuer=3000
probe_refused "raw serial without issuer" "issuer needs a serial number" "$tok" raw-serial=4096
# a fingerprint without a digest: the SHA-1/SHA-2 digest of its size
probe "raw fingerprint, no digest" "$tok?$pv" "raw-fingerprint=$(cert_digest sha1 "$C/alice-rsa.pem")"
want "raw 20-byte fingerprint without a digest (SHA-1)" "$(both "$RSA_CERT" "$RSA_KEY")" "$PROBED"
ok "the loader refuses raw garbage (not a DER name, wrong fingerprint length, unknown or XOF digest, issuer without serial), naming it; a digest-less fingerprint is taken by its size"

done_testing
