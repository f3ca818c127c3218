#!/bin/bash
# gpgsm.sh - the default output of `smimekit encrypt` (AES-256-CBC,
# RSA PKCS#1 v1.5) opens with GnuPG's gpgsm.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
need gpgsm gpgconf

export GNUPGHOME=$T/gnupg
mkdir -m 700 "$GNUPGHOME"
on_exit 'gpgconf --kill all'

gpg_pass() { gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 "$@"; }

echo test | gpg_pass --import "$C/alice-rsa.p12" 2>"$T/import.log" ||
	{ cat "$T/import.log" >&2; fail "gpgsm cannot import the test key"; }

sed -e 's/$/\r/' "$D/multipart.eml" > "$T/multipart-crlf.eml"
for msg in "$D/simple.eml" "$D/multipart.eml" "$T/multipart-crlf.eml" "$D/no-mime.eml"; do
	for cipher in aes-256-cbc aes-128-cbc; do
		"$SMIMEKIT" encrypt --to "$C/alice-rsa.pem" --cipher "$cipher" -i "$msg" -o "$T/out.eml"
		body_der "$T/out.eml" "$T/out.der"
		echo test | gpg_pass --decrypt --output "$T/inner" "$T/out.der" 2>"$T/dec.log" ||
			{ cat "$T/dec.log" >&2; fail "gpgsm --decrypt failed ($cipher, $msg)"; }
		expected_inner "$msg" > "$T/want"
		same "$T/want" "$T/inner" "gpgsm inner entity ($cipher, $(basename "$msg"))"
	done
	ok "gpgsm decrypts $(basename "$msg")"
done

# Header protection is only a different inner entity: gpgsm opens it too.
"$SMIMEKIT" encrypt --to "$C/alice-rsa.pem" --protect-headers -i "$D/simple.eml" -o "$T/hp.eml"
body_der "$T/hp.eml" "$T/hp.der"
echo test | gpg_pass --decrypt --output "$T/hp-inner" "$T/hp.der" 2>/dev/null ||
	fail "gpgsm cannot decrypt a header-protected message"
has_line "$T/hp-inner" '^Subject: Lunch on Friday\?'$'\r''$' "protected Subject inside"
ok "gpgsm decrypts a header-protected message"
done_testing
