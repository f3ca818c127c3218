#!/bin/bash
# cms.sh - S/MIME with the stock `openssl cms` and alice's keys on a file
# token through smimekit.so: `cms -decrypt -inkey 'pkcs11:...' -recip CERT`
# opens what `smimekit encrypt` made for her RSA key (AES-256-CBC and
# AES-256-GCM, PKCS#1 v1.5 and OAEP key transport) and her EC key (ECDH
# with the X9.63 KDF), and a message the Dovecot plugin delivered and
# stored; a message to someone else does not open.  `cms -sign` with a
# token key (RSA PKCS#1 v1.5, RSA-PSS, ECDSA) makes signatures that
# `openssl cms -verify` and NSS's `cmsutil -D` accept with the test CA.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
need openssl setsid certutil cmsutil

prov_token
key_rsa=$PROV_RSA_KEY
# shellcheck disable=SC2034 # used as ${!key}
key_ec=$PROV_EC_KEY

# ---- decryption: every cipher and RSA padding of smimekit encrypt
for msg in "$D/simple.eml" "$D/multipart.eml"; do
	expected_inner "$msg" > "$T/want"
	for who in rsa ec; do
		key=key_$who
		for cipher in aes-256-cbc aes-256-gcm; do
			for padding in pkcs1 oaep; do
				[ "$who" = ec ] && [ "$padding" = oaep ] && continue
				what="$(basename "$msg") to alice-$who, $cipher, $padding"
				"$SMIMEKIT" encrypt --to "$C/alice-$who.pem" --cipher "$cipher" \
					--rsa-padding "$padding" -i "$msg" -o "$T/enc.eml" || fail "encrypt: $what"
				rm -f "$T/inner"
				prov_ok "cms -decrypt ($what)" cms -decrypt -in "$T/enc.eml" -inkey "${!key}" \
					-recip "$C/alice-$who.pem" -out "$T/inner"
				same "$T/want" "$T/inner" "cms -decrypt ($what)"
			done
		done
	done
done
ok "cms -decrypt with the token's keys opens smimekit encrypt's messages: RSA (CBC, GCM; PKCS#1, OAEP) and EC (CBC, GCM)"

# Two recipients, no -recip: openssl tries the token key on each.
expected_inner "$D/multipart.eml" > "$T/want"
"$SMIMEKIT" encrypt --to "$C/bob.pem" --to "$C/alice-rsa.pem" --to "$C/alice-ec.pem" \
	-i "$D/multipart.eml" -o "$T/enc3.eml" || fail "encrypt to three recipients"
for who in rsa ec; do
	key=key_$who
	rm -f "$T/inner"
	prov_ok "cms -decrypt without -recip ($who)" cms -decrypt -in "$T/enc3.eml" -inkey "${!key}" \
		-out "$T/inner"
	same "$T/want" "$T/inner" "cms -decrypt without -recip ($who)"
done
ok "a message to bob, alice-rsa and alice-ec opens with either token key, without -recip"

# Not a recipient: no output, an error.
"$SMIMEKIT" encrypt --to "$C/bob.pem" -i "$D/simple.eml" -o "$T/bob.eml" || fail "encrypt to bob"
rm -f "$T/inner"
prov_fails "cms -decrypt of bob's message with alice's key" cms -decrypt -in "$T/bob.eml" \
	-inkey "$key_rsa" -recip "$C/alice-rsa.pem" -out "$T/inner"
[ ! -s "$T/inner" ] || fail "cms -decrypt of a message to bob wrote output"
ok "a message to bob does not open with alice's token key"

# ---- a message the Dovecot plugin delivered and stored
if [ ! -f "${SMK_DOVECOT_PLUGIN:-}" ]; then
	echo "# the Dovecot plugin is not built: stored mail not checked"
elif [ "$(id -u)" != 0 ]; then
	echo "# not root: Dovecot cannot run here, stored mail not checked"
else
	. "$SMK_TEST_SRCDIR/dovecot/dovecot.sh"
	. "$SMK_TEST_SRCDIR/dovecot/plugin.sh"
	alice_stored provider-token
	rm -f "$T/inner"
	prov_ok "cms -decrypt of the stored message" cms -decrypt -in "$ALICE_STORED" -inkey "$key_rsa" \
		-recip "$C/alice-rsa.pem" -out "$T/inner"
	alice_opened "$T/inner" "opened with the token key"
	ok "a message delivered over LMTP and stored by the plugin opens with openssl cms and the token key"
fi

# ---- signing on the token
db=sql:$T/nss
mkdir "$T/nss"
certutil -N -d "$db" --empty-password
certutil -A -d "$db" -n "smimekit test CA" -t C,C,C -i "$C/ca.pem"
printf 'Content-Type: text/plain\r\n\r\nSigned by openssl cms with a key on the smimekit token.\r\n' \
	> "$T/tosign"

# verify_signed FILE FORMAT WHO WHAT: openssl cms -verify with the test CA;
# the content and the signer are checked
verify_signed() {
	rm -f "$T/verified" "$T/signer.pem"
	openssl cms -verify -in "$1" -inform "$2" -CAfile "$C/ca.pem" -purpose smimesign \
		-signer "$T/signer.pem" -out "$T/verified" 2> "$T/verify.err" ||
		fail "openssl cms -verify rejects the signature ($4): $(cat "$T/verify.err")"
	same "$T/tosign" "$T/verified" "signed content ($4)"
	openssl x509 -in "$T/signer.pem" -outform DER | cmp -s - <(openssl x509 -in "$C/alice-$3.pem" -outform DER) ||
		fail "the signer ($4) is not alice-$3"
}

for who in rsa ec; do
	key=key_$who
	# S/MIME multipart/signed, as a mail client sends it
	prov_ok "cms -sign ($who)" cms -sign -in "$T/tosign" -inkey "${!key}" -signer "$C/alice-$who.pem" \
		-out "$T/signed.eml"
	has_line "$T/signed.eml" '^Content-Type: multipart/signed; protocol="application/(x-)?pkcs7-signature"' \
		"multipart/signed ($who)"
	verify_signed "$T/signed.eml" SMIME "$who" "multipart/signed, $who"
	# DER, content inside, for NSS
	prov_ok "cms -sign -nodetach ($who)" cms -sign -binary -nodetach -outform DER -in "$T/tosign" \
		-inkey "${!key}" -signer "$C/alice-$who.pem" -out "$T/signed.der"
	verify_signed "$T/signed.der" DER "$who" "DER, $who"
	rm -f "$T/nss-out"
	cmsutil -D -i "$T/signed.der" -d "$db" -o "$T/nss-out" 2> "$T/cmsutil.err" ||
		fail "NSS cmsutil -D rejects the signature ($who): $(cat "$T/cmsutil.err")"
	same "$T/tosign" "$T/nss-out" "content NSS verified ($who)"
done
ok "cms -sign with the token's RSA and EC keys: openssl cms -verify and NSS cmsutil -D accept the signatures"

prov_ok "cms -sign RSA-PSS" cms -sign -in "$T/tosign" -inkey "$key_rsa" -signer "$C/alice-rsa.pem" \
	-keyopt rsa_padding_mode:pss -keyopt rsa_pss_saltlen:32 -binary -nodetach -outform DER \
	-out "$T/pss.der"
verify_signed "$T/pss.der" DER rsa "RSA-PSS"
openssl cms -cmsout -print -inform DER -in "$T/pss.der" > "$T/pss.txt"
has_line "$T/pss.txt" 'algorithm: rsassaPss' "the signature algorithm is RSASSA-PSS"
ok "cms -sign -keyopt rsa_padding_mode:pss: an RSASSA-PSS signature openssl cms -verify accepts"
done_testing
