#!/bin/bash
# p11tool.sh - smimekit-pkcs11.so through GnuTLS's p11tool: the token and
# its certificates without login, private keys after login (PIN from
# GNUTLS_PIN, keys addressed by RFC 7512 pkcs11: URLs), the public key
# behind a private key, and --test-sign with RSA PKCS#1 v1.5, RSA-PSS and
# ECDSA, each verified by GnuTLS against the key's parameters and the
# public key object on the token.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/pkcs11/p11lib.sh"
p11_need p11tool
need openssl

p11_token
d=$T/p11
tok="pkcs11:token=$P11_TOKEN"
p11() { p11tool --provider "$P11_MODULE" "$@"; }
unset GNUTLS_PIN GNUTLS_SO_PIN
# colon_id HEX: the id as p11tool prints it (19:f4:...)
colon_id() { sed -e 's/../&:/g' -e 's/:$//' <<< "$1"; }

# ---- the token and its certificates, no PIN
# GnuTLS initialises a module with CKF_LIBRARY_CANT_CREATE_OS_THREADS |
# CKF_OS_LOCKING_OK and, unlike NSS, does not try again without them.
s=$(status p11 --list-tokens > "$T/out" 2> "$T/err")
if grep -q 'Thread locking error' "$T/err"; then
	fail "GnuTLS cannot load the module: C_Initialize answers CKF_LIBRARY_CANT_CREATE_OS_THREADS" \
		"with CKR_NEED_TO_CREATE_THREADS (the module starts no threads: CKR_OK is right)"
fi
p11_run "--list-tokens" p11 --list-tokens
has_line "$T/out" "^	URL: pkcs11:.*token=$P11_TOKEN(;|\$)" "--list-tokens: URL"
has_line "$T/out" "^	Label: $P11_TOKEN\$" "--list-tokens: label"
has_line "$T/out" '^	Flags: .*Requires login' "--list-tokens: login required"
ok "--list-tokens: the token, with its pkcs11: URL, login required"

p11_run "--list-all-certs" p11 --list-all-certs "$tok"
[ "$(grep -c '^Object [0-9]*:' "$T/out")" = 2 ] || fail "want 2 certificates: $(cat "$T/out")"
has_line "$T/out" "^	Label: $P11_RSA_LABEL\$" "RSA certificate label"
has_line "$T/out" "^	Label: $P11_EC_LABEL\$" "EC certificate label"
has_line "$T/out" "^	ID: $(colon_id "$P11_RSA_ID")\$" "RSA certificate id"
has_line "$T/out" "^	ID: $(colon_id "$P11_EC_ID")\$" "EC certificate id"
has_line "$T/out" '^	Type: X.509 Certificate \(RSA-2048\)$' "RSA certificate type"
has_line "$T/out" '^	Type: X.509 Certificate \(EC/ECDSA-SECP256R1\)$' "EC certificate type"
for k in rsa ec; do
	if [ $k = rsa ]; then l=$P11_RSA_LABEL; else l=$P11_EC_LABEL; fi
	p11_run "--export $k" p11 --export "$tok;object=$l;type=cert" --outfile "$T/cert.pem"
	openssl x509 -in "$T/cert.pem" -outform DER -out "$T/cert.der"
	same "$d/$k.der" "$T/cert.der" "p11tool --export of the $k certificate"
done
s=$(status p11 --list-privkeys "$tok" > "$T/out" 2>&1)
! grep -q '^Object ' "$T/out" || fail "private keys listed without login: $(cat "$T/out")"
ok "--list-all-certs and --export without a PIN: both certificates; no private key"

# ---- private keys, with GNUTLS_PIN
export GNUTLS_PIN=$P11_PIN
p11_run "--list-privkeys --login" p11 --list-privkeys --login "$tok"
[ "$(grep -c '^Object [0-9]*:' "$T/out")" = 2 ] || fail "want 2 private keys: $(cat "$T/out")"
has_line "$T/out" '^	Type: Private key \(RSA-2048\)$' "RSA private key"
has_line "$T/out" '^	Type: Private key \(EC/ECDSA-SECP256R1\)$' "EC private key"
has_line "$T/out" "^	ID: $(colon_id "$P11_RSA_ID")\$" "RSA private key id"
has_line "$T/out" "^	ID: $(colon_id "$P11_EC_ID")\$" "EC private key id"
lacks "$T/out" '^	Flags: .*CKA_EXTRACTABLE' "private keys extractable"
has_line "$T/out" '^	Flags: .*CKA_SENSITIVE' "private keys sensitive"
# The key URLs as p11tool gives them out
rsa_url=$(awk -v l="object=$P11_RSA_LABEL;" '/^	URL: / && index($2";", l) { print $2; exit }' "$T/out")
ec_url=$(awk -v l="object=$P11_EC_LABEL;" '/^	URL: / && index($2";", l) { print $2; exit }' "$T/out")
[ -n "$rsa_url" ] && [ -n "$ec_url" ] || fail "no key URLs in: $(cat "$T/out")"
case $rsa_url in *"type=private"*) ;; *) fail "RSA key URL without type=private: $rsa_url" ;; esac
ok "--list-privkeys --login: both private keys, sensitive, same ids as the certificates"

for k in rsa ec; do
	if [ $k = rsa ]; then url=$rsa_url; else url=$ec_url; fi
	p11_run "--export-pubkey $k" p11 --login --export-pubkey "$url" --outfile "$T/pub.pem"
	openssl pkey -pubin -in "$T/pub.pem" -outform DER -out "$T/got.der"
	openssl pkey -pubin -in "$d/$k.pub" -outform DER -out "$T/want.der"
	same "$T/want.der" "$T/got.der" "the public key of the $k private key"
done
ok "--export-pubkey of each private key is the certificate's public key"

# ---- --test-sign: GnuTLS signs through the token and verifies
# test_sign WHAT URL [ARGS]: the signature, then both verifications ok
test_sign() {
	local what=$1 url=$2
	shift 2
	p11_run "--test-sign $what" p11 --login --test-sign "$@" "$url"
	cat "$T/out" "$T/err" > "$T/all"	# p11tool reports on stderr
	has_line "$T/all" "^Signing using $what\\.\\.\\. ok\$" "--test-sign $what: signing"
	has_line "$T/all" '^Verifying against private key parameters\.\.\. ok$' \
		"--test-sign $what: verify with the key's parameters"
	has_line "$T/all" '^Verifying against public key in the token\.\.\. ok$' \
		"--test-sign $what: verify with the public key object"
}
test_sign RSA-SHA256 "$rsa_url"
ok "--test-sign RSA (PKCS#1 v1.5, SHA-256): signed and verified twice"
test_sign RSA-PSS-SHA256 "$rsa_url" --sign-params RSA-PSS
ok "--test-sign --sign-params RSA-PSS: signed and verified twice"
test_sign ECDSA-SHA256 "$ec_url"
ok "--test-sign ECDSA (P-256, SHA-256): signed and verified twice"
test_sign RSA-SHA256 "$tok;object=$P11_RSA_LABEL;type=private"
ok "--test-sign with a hand-written URL (token and object)"

# ---- a wrong PIN
s=$(GNUTLS_PIN=wrong-pin status p11 --login --test-sign "$rsa_url" > "$T/out" 2>&1)
[ "$s" != 0 ] || fail "--test-sign with a wrong PIN succeeded"
has_line "$T/out" 'Wrong PIN has been provided|PIN.*incorrect' "wrong PIN message"
lacks "$T/out" '^Signing using' "signing with a wrong PIN"
test_sign ECDSA-SHA256 "$ec_url"
ok "a wrong GNUTLS_PIN is refused; the right one works again"
done_testing
