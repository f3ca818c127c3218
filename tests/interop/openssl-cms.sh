#!/bin/bash
# openssl-cms.sh - every option of `smimekit encrypt`, opened by stock
# `openssl cms -decrypt`: ciphers x RSA paddings x recipient sets x header
# protection, on LF and CRLF messages.  The inner entity must equal the
# original's Content-* fields and body byte for byte (CRLF), and the
# outer header must be as specified.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
need openssl

sed -e 's/$/\r/' "$D/multipart.eml" > "$T/multipart-crlf.eml"

# decrypt_as MSG WHO OUT: WHO is alice-rsa or alice-ec
decrypt_as() {
	openssl cms -decrypt -in "$1" -inkey "$C/$2.key" -recip "$C/$2.pem" -out "$3" ||
		fail "openssl cms -decrypt as $2 failed on $1"
}

check_outer() {	# check_outer MSG ORIG CIPHER PROTECT
	local msg=$1 orig=$2 cipher=$3 protect=$4 type=enveloped-data
	outer_header "$msg" > "$T/outer"
	case $cipher in *gcm) type=authEnveloped-data ;; esac
	has_line "$T/outer" "^Content-Type: application/pkcs7-mime; smime-type=$type;\$" "content type"
	has_line "$T/outer" '^	name="smime.p7m"$' "name parameter"
	has_line "$T/outer" '^Content-Transfer-Encoding: base64$' "transfer encoding"
	has_line "$T/outer" '^Content-Disposition: attachment; filename="smime.p7m"$' "disposition"
	[ "$(grep -c '^MIME-Version:' "$T/outer")" = 1 ] || fail "MIME-Version not exactly once"
	lacks "$T/outer" '^Content-(Type|Transfer-Encoding): (text|multipart|7bit|8bit)' "old MIME fields"
	has_line "$T/outer" '^From: Bob Example <bob@example.org>$' "From kept"
	has_line "$T/outer" '^To: Alice Example <alice@example.org>$' "To kept"
	if [ "$protect" = yes ]; then
		has_line "$T/outer" '^Subject: \[\.\.\.\]$' "Subject hidden"
	else
		# every non-MIME field of the original, in order, unchanged
		sed -e 's/\r$//' -e '/^$/q' "$orig" |
			awk '/^[^ \t]/ { keep = (tolower($0) !~ /^(content-|mime-version:)/) } keep' \
			> "$T/want-outer"
		head -n "$(wc -l < "$T/want-outer")" "$T/outer" > "$T/got-outer"
		same "$T/want-outer" "$T/got-outer" "outer fields of $orig"
	fi
}

n=0
for msg in "$D/simple.eml" "$D/multipart.eml" "$T/multipart-crlf.eml"; do
	expected_inner "$msg" > "$T/want-inner"
	expected_body "$msg" > "$T/want-body"
	for cipher in aes-256-cbc aes-128-cbc aes-256-gcm aes-128-gcm; do
		for padding in pkcs1 oaep; do
			for who in rsa ec both; do
				for protect in no yes; do
					case $who in
					rsa) to=(--to "$C/alice-rsa.pem"); keys=(alice-rsa) ;;
					ec) to=(--to "$C/alice-ec.pem"); keys=(alice-ec) ;;
					both) to=(--to "$C/alice-rsa.pem" --to "$C/alice-ec.pem"); keys=(alice-rsa alice-ec) ;;
					esac
					[ "$who" = ec ] && [ "$padding" = oaep ] && continue
					hp=(); [ "$protect" = yes ] && hp=(--protect-headers)
					out=$T/out.eml
					"$SMIMEKIT" encrypt "${to[@]}" --cipher "$cipher" --rsa-padding "$padding" \
						"${hp[@]}" -i "$msg" -o "$out" || fail "encrypt $cipher $padding $who"
					check_outer "$out" "$msg" "$cipher" "$protect"
					for k in "${keys[@]}"; do
						decrypt_as "$out" "$k" "$T/inner"
						if [ "$protect" = yes ]; then
							body_of "$T/inner" > "$T/got-body"
							same "$T/want-body" "$T/got-body" "body ($cipher $padding $who hp)"
							has_line "$T/inner" '^HP-Outer: Subject: \[\.\.\.\]'$'\r''$' "HP-Outer"
							has_line "$T/inner" '^Subject: ' "inner Subject"
							has_line "$T/inner" 'hp="cipher"'$'\r''$' "hp parameter"
						else
							same "$T/want-inner" "$T/inner" "inner ($cipher $padding $who)"
						fi
						n=$((n + 1))
					done
				done
			done
		done
	done
	ok "$(basename "$msg"): every option decrypts with openssl cms"
done

# The cipher and key transport are what was asked for.
"$SMIMEKIT" encrypt --to "$C/alice-rsa.pem" --rsa-padding oaep --cipher aes-128-gcm \
	-i "$D/simple.eml" -o "$T/oaep.eml"
openssl cms -cmsout -print -in "$T/oaep.eml" > "$T/oaep.txt"
has_line "$T/oaep.txt" 'rsaesOaep' "OAEP algorithm"
has_line "$T/oaep.txt" 'sha256' "OAEP SHA-256"
has_line "$T/oaep.txt" 'aes-128-gcm' "GCM content encryption"
"$SMIMEKIT" encrypt --to "$C/alice-ec.pem" -i "$D/simple.eml" -o "$T/ec.eml"
openssl cms -cmsout -print -in "$T/ec.eml" > "$T/ec.txt"
has_line "$T/ec.txt" 'dhSinglePass-stdDH-sha256kdf-scheme' "ECDH with the SHA-256 X9.63 KDF"
has_line "$T/ec.txt" 'aes-256-cbc' "default cipher"
ok "algorithms in the CMS structure match the options"

# Someone else's key does not open it.
if openssl cms -decrypt -in "$T/ec.eml" -inkey "$C/bob.key" -recip "$C/bob.pem" \
	-out /dev/null 2>/dev/null; then
	fail "bob's key decrypted mail for alice"
fi
ok "a non-recipient cannot decrypt"

echo "# $n decryptions"
done_testing
