#!/bin/bash
# pkcs11-tool.sh - smimekit-pkcs11.so through OpenSC's pkcs11-tool, a
# client nobody on the team wrote: slots and token, objects before and
# after login, signatures (RSA PKCS#1 v1.5 and PSS, ECDSA), decryption
# (PKCS#1 v1.5, OAEP), ECDH and key-pair generation, every result checked
# by openssl; a wrong PIN; C_Initialize in a forked child.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/pkcs11/p11lib.sh"
p11_need pkcs11-tool
need openssl

p11_token
d=$T/p11
tool=(pkcs11-tool --module "$P11_MODULE" --token-label "$P11_TOKEN")
user=("${tool[@]}" --login --pin "$P11_PIN")
rsa=(--id "$P11_RSA_ID")
ec=(--id "$P11_EC_ID")

# objects FILE: pkcs11-tool's object listing as lines "TYPE ID ACCESS LABEL"
# (TYPE cert, pubkey, privkey, secret, data, profile or other; ACCESS the
# Access: line without blanks, - if none).
objects() {
	awk '
		function out() { if (t != "") print t, id, acc, lab }
		/^[A-Za-z]/ {
			out(); id = "-"; acc = "-"; lab = "-"; t = "other"
			if ($0 ~ /^Certificate Object/) t = "cert"
			else if ($0 ~ /^Public Key Object/) t = "pubkey"
			else if ($0 ~ /^Private Key Object/) t = "privkey"
			else if ($0 ~ /^Secret Key Object/) t = "secret"
			else if ($0 ~ /^Data object/) t = "data"
			else if ($0 ~ /^Profile object/) t = "profile"
			next
		}
		/^  label:/ { sub(/^  label: */, ""); lab = $0 }
		/^  ID:/ { id = $2 }
		/^  Access:/ { sub(/^  Access: */, ""); gsub(/ /, ""); acc = $0 }
		END { out() }
	' "$1"
}
# has_object FILE TYPE ID LABEL
has_object() {
	objects "$1" | awk -v t="$2" -v id="$3" -v l="$4" '
		$1 == t && $2 == id { sub(/^[^ ]+ [^ ]+ [^ ]+ /, ""); if ($0 == l) found = 1 }
		END { exit !found }' || { objects "$1" >&2; fail "no $2 object with id $3, label $4"; }
}
# hexlen HEX: the length byte (short form) of HEX's bytes
hexlen() { printf '%02x' $((${#1} / 2)); }
# ec_spki LISTING OUT: the DER SubjectPublicKeyInfo of the (one) EC public
# key in a pkcs11-tool listing, from its EC_PARAMS and EC_POINT (a DER
# OCTET STRING, as PKCS#11 says, or the bare point).
ec_spki() {
	local params point alg bits body
	params=$(awk '/^  EC_PARAMS:/ { print $2; exit }' "$1")
	point=$(awk '/^  EC_POINT:/ { print $2; exit }' "$1")
	[ -n "$params" ] && [ -n "$point" ] || fail "no EC_PARAMS/EC_POINT in: $(cat "$1")"
	if [ "${point:0:2}" = 04 ] && [ $((16#${point:2:2})) = $((${#point} / 2 - 2)) ]; then
		point=${point:4}
	fi
	alg=06072a8648ce3d0201$params
	bits=00$point
	body=30$(hexlen "$alg")${alg}03$(hexlen "$bits")$bits
	printf '30%s%s' "$(hexlen "$body")" "$body" | tr a-f A-F | basenc --base16 -d > "$2"
}
count_objects() { objects "$1" | awk -v t="$2" '$1 == t { n++ } END { print n + 0 }'; }

# ---- slots and token
p11_run "--list-slots" pkcs11-tool --module "$P11_MODULE" --list-slots
has_line "$T/out" "^  token label +: $P11_TOKEN\$" "--list-slots: token label"
has_line "$T/out" '^  token flags +: .*login required' "--list-slots: login required"
has_line "$T/out" '^  token flags +: .*token initialized' "--list-slots: initialized"
has_line "$T/out" '^  token flags +: .*PIN initialized' "--list-slots: PIN initialized"
p11_run "--list-token-slots" pkcs11-tool --module "$P11_MODULE" --list-token-slots
has_line "$T/out" "^  token label +: $P11_TOKEN\$" "--list-token-slots: token label"
ok "--list-slots and --list-token-slots show the token, initialized, login required"

p11_run "--list-mechanisms" "${tool[@]}" --list-mechanisms
for m in RSA-PKCS RSA-PKCS-OAEP RSA-PKCS-PSS SHA256-RSA-PKCS SHA256-RSA-PKCS-PSS \
	ECDSA ECDSA-SHA256 ECDH1-DERIVE RSA-PKCS-KEY-PAIR-GEN ECDSA-KEY-PAIR-GEN AES-CBC; do
	if [ -n "$P11_STANDIN" ] && [ "$m" = ECDSA-SHA256 ]; then continue; fi
	has_line "$T/out" "^  ${m}[ ,]" "--list-mechanisms: $m"
done
ok "--list-mechanisms names the mechanisms of the issue"

# ---- objects: certificates without login, private keys after
p11_run "--list-objects" "${tool[@]}" --list-objects
has_object "$T/out" cert "$P11_RSA_ID" "$P11_RSA_LABEL"
has_object "$T/out" cert "$P11_EC_ID" "$P11_EC_LABEL"
[ "$(count_objects "$T/out" cert)" = 2 ] || fail "want 2 certificates: $(objects "$T/out")"
[ "$(count_objects "$T/out" privkey)" = 0 ] || fail "private keys before login: $(objects "$T/out")"
ok "--list-objects without login: both certificates (id from the public key), no private key"

p11_run "--login --list-objects" "${user[@]}" --list-objects
has_object "$T/out" privkey "$P11_RSA_ID" "$P11_RSA_LABEL"
has_object "$T/out" privkey "$P11_EC_ID" "$P11_EC_LABEL"
has_object "$T/out" cert "$P11_RSA_ID" "$P11_RSA_LABEL"
[ "$(count_objects "$T/out" privkey)" = 2 ] || fail "want 2 private keys: $(objects "$T/out")"
objects "$T/out" | awk '$1 == "privkey"' > "$T/priv"
while read -r _ id acc _; do
	case ,$acc, in *,sensitive,*) ;; *) fail "private key $id not sensitive: $acc" ;; esac
	case ,$acc, in *,extractable,*) fail "private key $id extractable: $acc" ;; esac
done < "$T/priv"
ok "--login --list-objects: both private keys, same id and label as their certificates, sensitive"

for k in rsa ec; do
	if [ $k = rsa ]; then id=$P11_RSA_ID; else id=$P11_EC_ID; fi
	p11_run "read cert $k" "${tool[@]}" --read-object --type cert --id "$id" -o "$T/cert.der"
	same "$d/$k.der" "$T/cert.der" "CKA_VALUE of the $k certificate"
	if [ $k = rsa ]; then
		p11_run "read pubkey $k" "${user[@]}" --read-object --type pubkey --id "$id" -o "$T/pub.der"
	else	# pkcs11-tool 0.23 frees the EC parameters before it uses them (ASan sees it)
		p11_run "list pubkey $k" "${user[@]}" --list-objects --type pubkey --id "$id"
		ec_spki "$T/out" "$T/pub.der"
	fi
	openssl pkey -pubin -in "$d/$k.pub" -outform DER -out "$T/want-pub.der"
	same "$T/want-pub.der" "$T/pub.der" "the $k public key object"
done
ok "certificate and public key objects hold alice's certificates and keys"

# ---- signatures, verified by openssl
printf 'data signed on the token\n' > "$T/data"
openssl dgst -sha256 -binary "$T/data" > "$T/data.sha256"
# RSA-PKCS signs a DigestInfo, as a client (NSS, OpenSSL's pkcs11 engines) builds it
{ printf '\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20'
	cat "$T/data.sha256"; } > "$T/digestinfo"
p11_run "sign RSA-PKCS" "${user[@]}" "${rsa[@]}" --sign -m RSA-PKCS -i "$T/digestinfo" -o "$T/sig"
openssl pkeyutl -verify -pubin -inkey "$d/rsa.pub" -pkeyopt digest:sha256 -in "$T/data.sha256" \
	-sigfile "$T/sig" > /dev/null || fail "openssl rejects the RSA-PKCS signature"
openssl dgst -sha256 -verify "$d/rsa.pub" -signature "$T/sig" "$T/data" > /dev/null ||
	fail "openssl dgst rejects the RSA-PKCS signature"
ok "RSA-PKCS signature of a DigestInfo, verified by openssl"

for h in SHA1 SHA256 SHA384 SHA512; do
	p11_run "sign $h-RSA-PKCS" "${user[@]}" "${rsa[@]}" --sign -m "$h-RSA-PKCS" -i "$T/data" -o "$T/sig"
	openssl dgst "-${h,,}" -verify "$d/rsa.pub" -signature "$T/sig" "$T/data" > /dev/null ||
		fail "openssl rejects the $h-RSA-PKCS signature"
	[ "$(wc -c < "$T/sig")" = 256 ] || fail "$h-RSA-PKCS: signature of $(wc -c < "$T/sig") bytes"
done
ok "SHA1/SHA256/SHA384/SHA512-RSA-PKCS signatures verified by openssl"

p11_run "sign SHA256-RSA-PKCS-PSS" "${user[@]}" "${rsa[@]}" --sign -m SHA256-RSA-PKCS-PSS \
	--mgf MGF1-SHA256 -i "$T/data" -o "$T/sig"
has_line "$T/err" 'salt_len=32' "PSS salt length"
openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -verify "$d/rsa.pub" \
	-signature "$T/sig" "$T/data" > /dev/null || fail "openssl rejects the SHA256-RSA-PKCS-PSS signature"
p11_run "sign SHA256-RSA-PKCS-PSS twice" "${user[@]}" "${rsa[@]}" --sign -m SHA256-RSA-PKCS-PSS \
	--mgf MGF1-SHA256 -i "$T/data" -o "$T/sig2"
! cmp -s "$T/sig" "$T/sig2" || fail "two PSS signatures are equal: no random salt"
p11_run "sign RSA-PKCS-PSS" "${user[@]}" "${rsa[@]}" --sign -m RSA-PKCS-PSS --hash-algorithm SHA256 \
	--mgf MGF1-SHA256 -i "$T/data.sha256" -o "$T/sig"
openssl pkeyutl -verify -pubin -inkey "$d/rsa.pub" -pkeyopt rsa_padding_mode:pss \
	-pkeyopt digest:sha256 -pkeyopt rsa_pss_saltlen:32 -in "$T/data.sha256" -sigfile "$T/sig" \
	> /dev/null || fail "openssl rejects the RSA-PKCS-PSS signature"
p11_run "sign SHA384-RSA-PKCS-PSS" "${user[@]}" "${rsa[@]}" --sign -m SHA384-RSA-PKCS-PSS \
	--mgf MGF1-SHA384 -i "$T/data" -o "$T/sig"
openssl dgst -sha384 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48 -verify "$d/rsa.pub" \
	-signature "$T/sig" "$T/data" > /dev/null || fail "openssl rejects the SHA384-RSA-PKCS-PSS signature"
ok "RSA-PSS signatures (SHA256-RSA-PKCS-PSS, RSA-PKCS-PSS of a digest, SHA384) verified by openssl"

p11_run "sign ECDSA" "${user[@]}" "${ec[@]}" --sign -m ECDSA --signature-format openssl \
	-i "$T/data.sha256" -o "$T/sig"
openssl pkeyutl -verify -pubin -inkey "$d/ec.pub" -in "$T/data.sha256" -sigfile "$T/sig" > /dev/null ||
	fail "openssl rejects the ECDSA signature"
# the plain PKCS#11 form: r || s, 32 bytes each
p11_run "sign ECDSA r||s" "${user[@]}" "${ec[@]}" --sign -m ECDSA -i "$T/data.sha256" -o "$T/sig"
[ "$(wc -c < "$T/sig")" = 64 ] || fail "ECDSA: r || s of $(wc -c < "$T/sig") bytes, want 64"
if ! p11_standin_lacks ECDSA-SHA256; then
	for h in SHA256 SHA384; do
		p11_run "sign ECDSA-$h" "${user[@]}" "${ec[@]}" --sign -m "ECDSA-$h" \
			--signature-format openssl -i "$T/data" -o "$T/sig"
		openssl dgst "-${h,,}" -verify "$d/ec.pub" -signature "$T/sig" "$T/data" > /dev/null ||
			fail "openssl rejects the ECDSA-$h signature"
	done
fi
ok "ECDSA and ECDSA-SHA256/384 signatures (r || s, converted) verified by openssl"

# ---- decryption of what openssl encrypted
head -c 190 /dev/urandom > "$T/secret"
openssl pkeyutl -encrypt -pubin -inkey "$d/rsa.pub" -in "$T/secret" -out "$T/enc"
p11_run "decrypt RSA-PKCS" "${user[@]}" "${rsa[@]}" --decrypt -m RSA-PKCS -i "$T/enc" -o "$T/dec"
same "$T/secret" "$T/dec" "RSA-PKCS decryption"
ok "RSA-PKCS decryption of openssl's ciphertext"

head -c 100 /dev/urandom > "$T/secret"
for h in SHA1 SHA256 SHA384 SHA512; do
	[ $h = SHA1 ] || ! p11_standin_lacks "OAEP with $h" || continue
	openssl pkeyutl -encrypt -pubin -inkey "$d/rsa.pub" -pkeyopt rsa_padding_mode:oaep \
		-pkeyopt "rsa_oaep_md:${h,,}" -pkeyopt "rsa_mgf1_md:${h,,}" -in "$T/secret" -out "$T/enc"
	p11_run "decrypt RSA-PKCS-OAEP $h" "${user[@]}" "${rsa[@]}" --decrypt -m RSA-PKCS-OAEP \
		--hash-algorithm "${h/SHA1/SHA-1}" --mgf "MGF1-$h" -i "$T/enc" -o "$T/dec"
	same "$T/secret" "$T/dec" "RSA-PKCS-OAEP ($h) decryption"
done
if ! p11_standin_lacks "OAEP with SHA-256 and MGF1-SHA1"; then
	openssl pkeyutl -encrypt -pubin -inkey "$d/rsa.pub" -pkeyopt rsa_padding_mode:oaep \
		-pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha1 -in "$T/secret" -out "$T/enc"
	p11_run "decrypt RSA-PKCS-OAEP SHA256/MGF1-SHA1" "${user[@]}" "${rsa[@]}" --decrypt \
		-m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA1 -i "$T/enc" -o "$T/dec"
	same "$T/secret" "$T/dec" "RSA-PKCS-OAEP (SHA-256, MGF1-SHA1) decryption"
fi
# the wrong hash: the padding check fails, and nothing comes out
openssl pkeyutl -encrypt -pubin -inkey "$d/rsa.pub" -pkeyopt rsa_padding_mode:oaep \
	-pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in "$T/secret" -out "$T/enc"
rm -f "$T/dec"
s=$(status "${user[@]}" "${rsa[@]}" --decrypt -m RSA-PKCS-OAEP --hash-algorithm SHA-1 \
	--mgf MGF1-SHA1 -i "$T/enc" -o "$T/dec" 2>"$T/err")
[ "$s" != 0 ] || fail "OAEP with the wrong hash decrypted"
[ ! -s "$T/dec" ] || fail "OAEP with the wrong hash wrote output"
ok "RSA-PKCS-OAEP decryption (SHA-1, SHA-256, SHA-384, SHA-512, mixed MGF1); the wrong hash fails"

# ---- ECDH (CKD_NULL: the raw shared secret) against openssl's
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/peer.key" 2>/dev/null
openssl pkey -in "$T/peer.key" -pubout -outform DER -out "$T/peer.der"
p11_run "derive ECDH1" "${user[@]}" "${ec[@]}" --derive -m ECDH1-DERIVE -i "$T/peer.der" -o "$T/z"
openssl pkeyutl -derive -inkey "$T/peer.key" -peerkey "$d/ec.pub" -out "$T/z-openssl"
same "$T/z-openssl" "$T/z" "ECDH shared secret"
ok "ECDH1-DERIVE gives the shared secret openssl computes"

# ---- key-pair generation: the new key signs, openssl verifies with the
# public key the token gives out (each pkcs11-tool run is a new process:
# the key was stored on the token)
for kt in rsa:2048 EC:prime256v1 EC:secp384r1; do
	label=gen-${kt//:/-}
	case $kt in rsa*) mech=SHA256-RSA-PKCS in=$T/data ;; *) mech=ECDSA in=$T/data.sha256 ;; esac
	p11_run "keypairgen $kt" "${user[@]}" --keypairgen --key-type "$kt" --label "$label" \
		--id "$(openssl rand -hex 20)"
	has_line "$T/out" "^  label: +$label\$" "keypairgen $kt: label"
	# the id the token gave the pair (the one asked for, or its own)
	id=$(objects "$T/out" | awk '$1 == "privkey" { print $2 }')
	[ "$(objects "$T/out" | awk '$1 == "pubkey" { print $2 }')" = "$id" ] ||
		fail "keypairgen $kt: the keys' ids differ: $(objects "$T/out")"
	case $kt in
	rsa*) p11_run "read new pubkey $kt" "${user[@]}" --read-object --type pubkey --id "$id" \
		-o "$T/gen.der" ;;
	*) # pkcs11-tool 0.23's EC export reads freed memory: build it from the listing
		ec_spki "$T/out" "$T/gen.der" ;;
	esac
	openssl pkey -pubin -inform DER -in "$T/gen.der" -out "$T/gen.pub" || fail "$kt: public key"
	case $kt in
	rsa*) openssl pkey -pubin -in "$T/gen.pub" -noout -text | grep -q '(2048 bit)' ||
		fail "$kt: not 2048 bits" ;;
	*prime256v1) openssl pkey -pubin -in "$T/gen.pub" -noout -text | grep -q 'NIST CURVE: P-256' ||
		fail "$kt: not P-256" ;;
	*secp384r1) openssl pkey -pubin -in "$T/gen.pub" -noout -text | grep -q 'NIST CURVE: P-384' ||
		fail "$kt: not P-384" ;;
	esac
	p11_run "sign with new $kt" "${user[@]}" --id "$id" --sign -m "$mech" \
		--signature-format openssl -i "$in" -o "$T/sig"
	if [ $mech = ECDSA ]; then
		openssl pkeyutl -verify -pubin -inkey "$T/gen.pub" -in "$in" -sigfile "$T/sig" \
			> /dev/null || fail "openssl rejects the signature of the new $kt key"
	else
		openssl dgst -sha256 -verify "$T/gen.pub" -signature "$T/sig" "$T/data" > /dev/null ||
			fail "openssl rejects the signature of the new $kt key"
	fi
	p11_run "list after keypairgen" "${user[@]}" --list-objects --type privkey
	objects "$T/out" | grep -q "^privkey .* $label\$" || fail "$kt: no private key $label"
done
ok "--keypairgen rsa:2048, EC:prime256v1 and EC:secp384r1: stored keys that sign, verified by openssl"

# ---- PINs
s=$(status "${tool[@]}" --login --pin wrong-pin --list-objects 2>"$T/err" >"$T/out")
[ "$s" != 0 ] || fail "login with a wrong PIN succeeded"
has_line "$T/err" 'C_Login failed: rv = CKR_PIN_INCORRECT' "wrong PIN"
p11_run "token after a wrong PIN" pkcs11-tool --module "$P11_MODULE" --list-token-slots
has_line "$T/out" '^  token flags +: .*user PIN count low' "CKF_USER_PIN_COUNT_LOW after a failure"
p11_run "login after a wrong PIN" "${user[@]}" --list-objects --type privkey
[ "$(count_objects "$T/out" privkey)" -ge 2 ] || fail "no private keys after login"
p11_run "token after login" pkcs11-tool --module "$P11_MODULE" --list-token-slots
lacks "$T/out" 'user PIN count low' "the failure counter after a good login"
ok "a wrong PIN fails with CKR_PIN_INCORRECT (count low); the right one works and resets the counter"

# C_SetPIN: the keys move to the new PIN (a new process signs with it)
new_pin=new-pin-2468
p11_run "--change-pin" "${tool[@]}" --login --pin "$P11_PIN" --change-pin --new-pin "$new_pin"
s=$(status "${tool[@]}" --login --pin "$P11_PIN" --list-objects 2>"$T/err" >"$T/out")
[ "$s" != 0 ] || fail "the old PIN still works after --change-pin"
has_line "$T/err" 'CKR_PIN_INCORRECT' "old PIN after --change-pin"
p11_run "sign with the new PIN" "${tool[@]}" --login --pin "$new_pin" "${rsa[@]}" --sign \
	-m SHA256-RSA-PKCS -i "$T/data" -o "$T/sig"
openssl dgst -sha256 -verify "$d/rsa.pub" -signature "$T/sig" "$T/data" > /dev/null ||
	fail "openssl rejects the signature made after --change-pin"
p11_run "derive with the new PIN" "${tool[@]}" --login --pin "$new_pin" "${ec[@]}" --derive \
	-m ECDH1-DERIVE -i "$T/peer.der" -o "$T/z"
same "$T/z-openssl" "$T/z" "ECDH after --change-pin"
p11_run "--change-pin back" "${tool[@]}" --login --pin "$new_pin" --change-pin --new-pin "$P11_PIN"
p11_run "sign with the first PIN again" "${user[@]}" "${ec[@]}" --sign -m ECDSA \
	-i "$T/data.sha256" -o "$T/sig"
ok "--change-pin (C_SetPIN): the old PIN fails, both keys work with the new one"

# ---- odds and ends: random, digest, C_Initialize in a forked child
p11_run "generate-random" "${tool[@]}" --generate-random 64 -o "$T/rnd"
[ "$(wc -c < "$T/rnd")" = 64 ] || fail "--generate-random 64 gave $(wc -c < "$T/rnd") bytes"
p11_run "hash" "${tool[@]}" --hash -m SHA256 -i "$T/data" -o "$T/h"
same "$T/data.sha256" "$T/h" "C_Digest SHA-256"
ok "C_GenerateRandom and C_Digest (SHA-256 equal to openssl's)"

# pkcs11-tool's own self test: random, digests, C_Verify, and decryption
# of what it encrypted with OpenSSL (RSA-PKCS, X.509, OAEP with and without
# a label) on every key
if ! p11_standin_lacks "pkcs11-tool --test without errors"; then
	p11_run "--test" "${user[@]}" --test
	has_line "$T/out" '^No errors$' "--test"
	has_line "$T/err" 'encoding parameter \(Label\) present' "--test: OAEP with a label ran"
	[ "$(grep -c '^OK$' "$T/out")" -ge 2 ] || fail "--test: OAEP results: $(cat "$T/out")"
	lacks "$T/out" 'ERR|FAILED|not supported' "--test"
	ok "pkcs11-tool --test: no errors (random, digests, verify, decrypt incl. OAEP with a label)"
fi

if ! p11_standin_lacks "C_Initialize in a forked child"; then
	p11_run "--test-fork" "${user[@]}" --test-fork
	has_line "$T/out" 'Calling C_Initialize in forked child process' "--test-fork ran"
	ok "--test-fork: C_Initialize in a forked child of a logged-in process"
fi

# ---- lockout (last: it ends the token's use): 10 wrong PINs in a row
if ! p11_standin_lacks "PIN lockout flags"; then
	wrong_login() {	# wrong_login PIN: fails; pkcs11-tool's error in $T/err
		s=$(status "${tool[@]}" --login --pin "$1" --list-objects 2>"$T/err" >"$T/out")
		[ "$s" != 0 ] || fail "login with PIN $1 succeeded"
	}
	for i in 1 2 3 4 5 6 7 8 9; do
		wrong_login "wrong-$i"
		has_line "$T/err" 'C_Login failed: rv = CKR_PIN_INCORRECT' "wrong PIN $i"
	done
	p11_run "token after 9 wrong PINs" pkcs11-tool --module "$P11_MODULE" --list-token-slots
	has_line "$T/out" '^  token flags +: .*final user PIN try' "CKF_USER_PIN_FINAL_TRY after 9 failures"
	wrong_login wrong-10
	has_line "$T/err" 'C_Login failed: rv = CKR_PIN_(INCORRECT|LOCKED)' "the 10th wrong PIN"
	p11_run "token after 10 wrong PINs" pkcs11-tool --module "$P11_MODULE" --list-token-slots
	has_line "$T/out" '^  token flags +: .*user PIN locked' "CKF_USER_PIN_LOCKED after 10 failures"
	wrong_login "$P11_PIN"
	has_line "$T/err" 'C_Login failed: rv = CKR_PIN_LOCKED' "the right PIN on a locked token"
	p11_run "certificates on a locked token" "${tool[@]}" --list-objects --type cert
	[ "$(count_objects "$T/out" cert)" -ge 2 ] || fail "no certificates on the locked token"
	ok "10 wrong PINs lock the token (final try, then locked flags); the right PIN gets CKR_PIN_LOCKED"
fi
done_testing
