#!/bin/bash
# pkeyutl.sh - smimekit.so with the stock `openssl pkeyutl`, alice's keys
# on a file token named by pkcs11: URIs: RSA PKCS#1 v1.5 and PSS and ECDSA
# signatures (of a hash and of the data: raw and digest-sign), RSA
# decryption (PKCS#1 v1.5, OAEP with SHA-1, with SHA-256, with a label) of
# data openssl encrypted to the certificate's public key, and ECDH
# against a software peer.  Every result is checked against the same key
# used from its file by the default provider: deterministic results
# (PKCS#1 v1.5 signatures, plaintexts, shared secrets) byte for byte,
# randomised signatures (PSS, ECDSA) by verifying them with the public
# key.  The PIN comes from the URI (pin-source, pin-value, in the path or
# the query) or from openssl's passphrase callback (-passin).
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
need openssl setsid

prov_token
d=$T/prov
printf 'The provider signs this with a key that stays on the token.\n' > "$T/msg"
openssl dgst -sha256 -binary -out "$T/hash256" "$T/msg"
openssl dgst -sha384 -binary -out "$T/hash384" "$T/msg"
printf 'Another message.\n' | openssl dgst -sha256 -binary -out "$T/hash256.other"

# sw_verify PUB SIG IN OPTS...: the default provider verifies SIG over IN
sw_verify() {
	local pub=$1 sig=$2 in=$3
	shift 3
	openssl pkeyutl -verify -pubin -inkey "$pub" -sigfile "$sig" -in "$in" "$@" \
		> "$T/verify.out" 2>&1
}

# ---- the PIN: every way of giving it
if ! prov_standin_lacks "PINs in URIs and -passin"; then
	for uri in "$PROV_RSA_KEY" "$PROV_RSA_KEY_PV" \
		"pkcs11:token=$PROV_TOKEN;object=$PROV_RSA_LABEL;type=private?pin-source=file:$PROV_PIN_FILE" \
		"pkcs11:token=$PROV_TOKEN;object=$PROV_RSA_LABEL;type=private?pin-value=$PROV_PIN" \
		"pkcs11:token=$PROV_TOKEN;id=$(prov_pct "$PROV_RSA_ID");type=private;pin-value=$PROV_PIN"; do
		rm -f "$T/sig"
		prov_ok "sign with $uri" pkeyutl -sign -inkey "$uri" -pkeyopt digest:sha256 \
			-in "$T/hash256" -out "$T/sig"
		sw_verify "$d/rsa.pub" "$T/sig" "$T/hash256" -pkeyopt digest:sha256 ||
			fail "the signature made with $uri does not verify: $(cat "$T/verify.out")"
	done
	ok "the PIN from pin-source=file: and pin-value=, in the path or the query; a key by label or by id="

	rm -f "$T/sig"
	prov_ok "sign, PIN through -passin" pkeyutl -sign \
		-inkey "pkcs11:token=$PROV_TOKEN;object=$PROV_RSA_LABEL;type=private" \
		-passin "file:$PROV_PIN_FILE" -pkeyopt digest:sha256 -in "$T/hash256" -out "$T/sig"
	sw_verify "$d/rsa.pub" "$T/sig" "$T/hash256" -pkeyopt digest:sha256 ||
		fail "the signature made with the PIN from -passin does not verify"
	ok "without a PIN in the URI, the PIN comes through openssl's passphrase callback (-passin)"
fi

# ---- RSA PKCS#1 v1.5: deterministic, so equal to the software signature
for md in sha256 sha384; do
	h=$T/hash${md#sha}
	prov_ok "RSA PKCS#1 $md" pkeyutl -sign -inkey "$PROV_RSA_KEY" -pkeyopt "digest:$md" \
		-in "$h" -out "$T/sig"
	openssl pkeyutl -sign -inkey "$C/alice-rsa.key" -pkeyopt "digest:$md" -in "$h" -out "$T/sig.sw"
	same "$T/sig.sw" "$T/sig" "RSA PKCS#1 v1.5 signature ($md) from the token"
done
prov_ok "RSA PKCS#1 digest-sign" pkeyutl -sign -inkey "$PROV_RSA_KEY" -rawin -digest sha256 \
	-in "$T/msg" -out "$T/sig"
openssl pkeyutl -sign -inkey "$C/alice-rsa.key" -rawin -digest sha256 -in "$T/msg" -out "$T/sig.sw"
same "$T/sig.sw" "$T/sig" "RSA PKCS#1 v1.5 digest-sign from the token"
openssl dgst -sha256 -verify "$d/rsa.pub" -signature "$T/sig" "$T/msg" > /dev/null ||
	fail "openssl dgst -verify rejects the digest-sign signature"
ok "RSA PKCS#1 v1.5: signatures of a hash (SHA-256, SHA-384) and of the data equal the software key's"

# ---- RSA-PSS: salt length and MGF1 digest as asked
pss() {	# pss MD SALTLEN MGF1MD
	printf '%s\n' -pkeyopt rsa_padding_mode:pss -pkeyopt "digest:$1" \
		-pkeyopt "rsa_pss_saltlen:$2" -pkeyopt "rsa_mgf1_md:$3"
}
mapfile -t o < <(pss sha256 32 sha256)
prov_ok "RSA-PSS sha256/32" pkeyutl -sign -inkey "$PROV_RSA_KEY" "${o[@]}" -in "$T/hash256" -out "$T/sig"
sw_verify "$d/rsa.pub" "$T/sig" "$T/hash256" "${o[@]}" ||
	fail "RSA-PSS (SHA-256, salt 32, MGF1-SHA-256) does not verify: $(cat "$T/verify.out")"
mapfile -t o2 < <(pss sha256 20 sha256)
if sw_verify "$d/rsa.pub" "$T/sig" "$T/hash256" "${o2[@]}"; then
	fail "RSA-PSS: a signature made with salt length 32 verifies with salt length 20"
fi
mapfile -t o < <(pss sha384 48 sha1)
prov_ok "RSA-PSS sha384/48/mgf1-sha1" pkeyutl -sign -inkey "$PROV_RSA_KEY" "${o[@]}" \
	-in "$T/hash384" -out "$T/sig"
sw_verify "$d/rsa.pub" "$T/sig" "$T/hash384" "${o[@]}" ||
	fail "RSA-PSS (SHA-384, salt 48, MGF1-SHA-1) does not verify: $(cat "$T/verify.out")"
mapfile -t o2 < <(pss sha384 48 sha384)
if sw_verify "$d/rsa.pub" "$T/sig" "$T/hash384" "${o2[@]}"; then
	fail "RSA-PSS: a signature made with MGF1-SHA-1 verifies as MGF1-SHA-384"
fi
prov_ok "RSA-PSS digest-sign" pkeyutl -sign -inkey "$PROV_RSA_KEY" -rawin -digest sha256 \
	-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:digest -in "$T/msg" -out "$T/sig"
openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -verify "$d/rsa.pub" \
	-signature "$T/sig" "$T/msg" > /dev/null || fail "RSA-PSS digest-sign does not verify"
ok "RSA-PSS: signatures with the asked salt length and MGF1 digest verify (and not with others)"

# ---- ECDSA
prov_ok "ECDSA" pkeyutl -sign -inkey "$PROV_EC_KEY" -in "$T/hash256" -out "$T/sig"
sw_verify "$d/ec.pub" "$T/sig" "$T/hash256" || fail "ECDSA signature of a hash does not verify"
openssl asn1parse -inform DER -in "$T/sig" > "$T/asn1" 2>&1 || fail "ECDSA signature is not DER"
[ "$(grep -c 'prim: INTEGER' "$T/asn1")" = 2 ] || fail "ECDSA signature is not SEQUENCE { r, s }"
if sw_verify "$d/ec.pub" "$T/sig" "$T/hash256.other"; then
	fail "ECDSA signature verifies over another hash"
fi
prov_ok "ECDSA digest-sign" pkeyutl -sign -inkey "$PROV_EC_KEY_PV" -rawin -digest sha384 \
	-in "$T/msg" -out "$T/sig"
openssl dgst -sha384 -verify "$d/ec.pub" -signature "$T/sig" "$T/msg" > /dev/null ||
	fail "ECDSA digest-sign (SHA-384) does not verify"
ok "ECDSA P-256: DER signatures of a hash and of the data verify with the certificate's key"

# ---- verification through the provider (the public half from the token)
if ! prov_standin_lacks "public key from the token"; then
	openssl pkeyutl -sign -inkey "$C/alice-rsa.key" -pkeyopt digest:sha256 -in "$T/hash256" -out "$T/sig.sw"
	prov_ok "verify with the token's public key" pkeyutl -verify -pubin \
		-inkey "pkcs11:token=$PROV_TOKEN;object=$PROV_RSA_LABEL;type=public" \
		-pkeyopt digest:sha256 -in "$T/hash256" -sigfile "$T/sig.sw"
	has_line "$T/out" '^Signature Verified Successfully' "pkeyutl -verify with type=public"
	prov_fails "verify a signature over another hash" pkeyutl -verify -pubin \
		-inkey "pkcs11:token=$PROV_TOKEN;object=$PROV_RSA_LABEL;type=public" \
		-pkeyopt digest:sha256 -in "$T/hash256.other" -sigfile "$T/sig.sw"
	ok "pkeyutl -verify with the token's public key (type=public) accepts a good signature, refuses a bad one"
fi

# ---- RSA decryption of what openssl encrypted to the certificate
head -c 32 /dev/urandom > "$T/secret"
# dec NAME OPTS...: encrypt with the certificate in software, decrypt on the token
dec() {
	local name=$1
	shift
	rm -f "$T/ct" "$T/pt"
	openssl pkeyutl -encrypt -certin -inkey "$C/alice-rsa.pem" "$@" -in "$T/secret" -out "$T/ct" ||
		fail "openssl pkeyutl -encrypt ($name)"
	prov_ok "decrypt $name" pkeyutl -decrypt -inkey "$PROV_RSA_KEY" "$@" -in "$T/ct" -out "$T/pt"
	same "$T/secret" "$T/pt" "RSA decryption ($name) on the token"
}
dec "PKCS#1 v1.5" -pkeyopt rsa_padding_mode:pkcs1
dec "OAEP SHA-1" -pkeyopt rsa_padding_mode:oaep
dec "OAEP SHA-256" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
dec "OAEP SHA-256 label" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
	-pkeyopt rsa_mgf1_md:sha256 -pkeyopt rsa_oaep_label:0123456789abcdef
# the parameters count: another OAEP digest or label does not decrypt
prov_fails "OAEP-SHA-256 ciphertext as OAEP-SHA-1" pkeyutl -decrypt -inkey "$PROV_RSA_KEY" \
	-pkeyopt rsa_padding_mode:oaep -in "$T/ct" -out "$T/pt"
prov_fails "OAEP ciphertext with another label" pkeyutl -decrypt -inkey "$PROV_RSA_KEY" \
	-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 \
	-pkeyopt rsa_oaep_label:fedcba9876543210 -in "$T/ct" -out "$T/pt"
ok "RSA decrypt: PKCS#1 v1.5, OAEP SHA-1, OAEP SHA-256 (with and without a label) give back the plaintext; wrong OAEP parameters fail"

# ---- ECDH against a software peer
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/peer.key" 2> /dev/null
openssl pkey -in "$T/peer.key" -pubout -out "$T/peer.pub"
prov_ok "ECDH derive" pkeyutl -derive -inkey "$PROV_EC_KEY" -peerkey "$T/peer.pub" -out "$T/z"
openssl pkeyutl -derive -inkey "$T/peer.key" -peerkey "$d/ec.pub" -out "$T/z.peer"
openssl pkeyutl -derive -inkey "$C/alice-ec.key" -peerkey "$T/peer.pub" -out "$T/z.sw"
[ "$(wc -c < "$T/z")" = 32 ] || fail "ECDH P-256 secret is $(wc -c < "$T/z") bytes, want 32"
same "$T/z.peer" "$T/z" "ECDH secret (the peer's side)"
same "$T/z.sw" "$T/z" "ECDH secret (alice's software key)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T/p384.key" 2> /dev/null
openssl pkey -in "$T/p384.key" -pubout -out "$T/p384.pub"
rm -f "$T/z"
prov_fails "ECDH with a P-384 peer" pkeyutl -derive -inkey "$PROV_EC_KEY" -peerkey "$T/p384.pub" -out "$T/z"
[ ! -s "$T/z" ] || fail "ECDH with a peer on another curve wrote a secret"
ok "ECDH: the token's secret with a software peer equals both software sides; a P-384 peer is refused"

# ---- the provider leaves keys from files alone
prov_ok "file key with the provider loaded" pkeyutl -sign -inkey "$C/alice-rsa.key" \
	-pkeyopt digest:sha256 -in "$T/hash256" -out "$T/sig"
openssl pkeyutl -sign -inkey "$C/alice-rsa.key" -pkeyopt digest:sha256 -in "$T/hash256" -out "$T/sig.sw"
same "$T/sig.sw" "$T/sig" "signature with a key file, provider loaded"
ok "with smimekit loaded, keys from files still sign through the default provider"
done_testing
