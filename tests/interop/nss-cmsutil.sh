#!/bin/bash
# nss-cmsutil.sh - the default output of `smimekit encrypt` (AES-256-CBC,
# RSA PKCS#1 v1.5) opens with NSS (the library Thunderbird uses), through
# its cmsutil tool.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
need certutil pk12util cmsutil

db=sql:$T/nssdb
mkdir "$T/nssdb"
certutil -N -d "$db" --empty-password
pk12util -i "$C/alice-rsa.p12" -d "$db" -W test >/dev/null ||
	fail "pk12util cannot import the test key"

sed -e 's/$/\r/' "$D/simple.eml" > "$T/simple-crlf.eml"
for msg in "$D/simple.eml" "$T/simple-crlf.eml" "$D/multipart.eml" "$D/no-mime.eml"; do
	for cipher in aes-256-cbc aes-128-cbc; do
		"$SMIMEKIT" encrypt --to "$C/alice-rsa.pem" --cipher "$cipher" -i "$msg" -o "$T/out.eml"
		body_der "$T/out.eml" "$T/out.der"
		cmsutil -D -i "$T/out.der" -d "$db" -o "$T/inner" 2>"$T/dec.log" ||
			{ cat "$T/dec.log" >&2; fail "cmsutil -D failed ($cipher, $msg)"; }
		expected_inner "$msg" > "$T/want"
		same "$T/want" "$T/inner" "NSS inner entity ($cipher, $(basename "$msg"))"
	done
	ok "NSS cmsutil decrypts $(basename "$msg")"
done

# Two recipients: NSS finds its own RecipientInfo among several.
"$SMIMEKIT" encrypt --to "$C/bob.pem" --to "$C/alice-rsa.pem" -i "$D/simple.eml" -o "$T/two.eml"
body_der "$T/two.eml" "$T/two.der"
cmsutil -D -i "$T/two.der" -d "$db" -o "$T/two-inner" 2>/dev/null ||
	fail "cmsutil cannot decrypt a message with two recipients"
expected_inner "$D/simple.eml" > "$T/want"
same "$T/want" "$T/two-inner" "NSS inner entity, two recipients"
ok "NSS cmsutil decrypts with two recipients"
done_testing
