#!/bin/bash
# signed.sh - signed-only mail is encrypted whole, and its signature still
# verifies after decryption (clear-signed multipart/signed and opaque
# signed-data).
. "${SMK_TEST_SRCDIR:?}/lib.sh"
need openssl

# Bob signs with his key; Alice receives.
printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\nA signed invitation.\r\n' > "$T/body.txt"

for mode in detached opaque; do
	flags=(-binary)
	[ "$mode" = opaque ] && flags+=(-nodetach)
	openssl smime -sign -in "$T/body.txt" -signer "$C/bob.pem" -inkey "$C/bob.key" \
		-from bob@example.org -to alice@example.org -subject "signed lunch" \
		"${flags[@]}" -out "$T/signed.eml"
	# before: the signature verifies
	openssl smime -verify -in "$T/signed.eml" -CAfile "$C/ca.pem" -out /dev/null 2>/dev/null ||
		fail "the $mode test message does not verify to start with"

	"$SMIMEKIT" encrypt --to "$C/alice-rsa.pem" -i "$T/signed.eml" -o "$T/enc.eml"
	outer_header "$T/enc.eml" > "$T/outer"
	has_line "$T/outer" 'smime-type=enveloped-data' "$mode signed mail was encrypted"
	lacks "$T/enc.eml" 'A signed invitation' "$mode plaintext leaked"

	openssl cms -decrypt -in "$T/enc.eml" -inkey "$C/alice-rsa.key" -recip "$C/alice-rsa.pem" \
		-out "$T/inner.eml"
	# the decrypted entity is the signed entity: it verifies, and its
	# content is what Bob signed
	openssl smime -verify -in "$T/inner.eml" -CAfile "$C/ca.pem" -out "$T/content" 2>"$T/verify.log" ||
		{ cat "$T/verify.log" >&2; fail "$mode signature does not verify after decryption"; }
	grep -q 'A signed invitation' "$T/content" || fail "$mode signed content differs"
	ok "$mode signed mail is encrypted whole and still verifies"
done
done_testing
