#!/bin/bash
# nss.sh - smimekit-pkcs11.so in NSS, the library Thunderbird uses, through
# NSS's own tools: modutil -add; certutil lists alice's certificates
# without a PIN (the token's CKO_PROFILE CKP_PUBLIC_CERTIFICATES_TOKEN) and
# validates them; cmsutil -D opens mail made by `smimekit encrypt` and mail
# the Dovecot plugin delivered and stored, with the key on the token;
# pkcs11-spy shows the way NSS goes (C_UnwrapKey with CKM_RSA_PKCS into an
# AES key, C_DecryptInit with CKM_AES_CBC); cmsutil -S signs on the token
# and openssl cms -verify accepts it.  (NSS 3.87 cannot open ECDH S/MIME
# at all: see NOTES.md; EC is used here to sign only.)
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/pkcs11/p11lib.sh"
p11_need certutil modutil cmsutil
need openssl setsid

p11_token
d=$T/p11
rsa_nick=$P11_TOKEN:$P11_RSA_LABEL
ec_nick=$P11_TOKEN:$P11_EC_LABEL

# nss_db NAME LIBRARY: a fresh NSS database $T/NAME with the module added
# (LIBRARY: the module itself, or pkcs11-spy in front of it)
nss_db() {
	local db=sql:$T/$1
	mkdir "$T/$1"
	certutil -N -d "$db" --empty-password
	modutil -add smimekit -libfile "$2" -dbdir "$db" -force > "$T/modutil.out" 2>&1 ||
		fail "modutil -add: $(cat "$T/modutil.out")"
	certutil -A -d "$db" -n "smimekit test CA" -t C,C,C -i "$C/ca.pem"
}
# nss CMD ARGS...: an NSS tool without a terminal (setsid: no controlling
# terminal, stdin /dev/null), so a PIN prompt fails at once instead of
# waiting; output in $T/out and $T/err, exit status echoed
nss() {
	local s=0
	setsid -w "${P11_ENV[@]}" "$@" < /dev/null > "$T/out" 2> "$T/err" || s=$?
	echo "$s"
}
no_prompt() {	# no_prompt WHAT: NSS did not try to ask for a PIN
	lacks "$T/err" 'input terminal|[Pp]assword|PIN' "$1: NSS asked for a PIN"
}

nss_db nss "$P11_MODULE"
db=sql:$T/nss
has_line "$T/modutil.out" 'Module "smimekit" added to database' "modutil -add"
p11_run "modutil -list" modutil -list smimekit -dbdir "$db"
has_line "$T/out" "^ *Token Name: $P11_TOKEN *\$" "modutil -list: the token"
ok "modutil -add: NSS loads the module and sees the token"

# ---- certificates without a PIN
s=$(nss certutil -L -h all -d "$db")
[ "$s" = 0 ] || fail "certutil -L -h all: exit $s: $(cat "$T/out" "$T/err")"
has_line "$T/out" "^$rsa_nick " "certutil -L: alice's RSA certificate"
has_line "$T/out" "^$ec_nick " "certutil -L: alice's EC certificate"
if ! p11_standin_lacks "CKO_PROFILE: finding certificates without a PIN"; then
	no_prompt "certutil -L"
	s=$(nss certutil -L -d "$db" -n "$rsa_nick" -a)
	[ "$s" = 0 ] || fail "certutil -L -n $rsa_nick: $(cat "$T/err")"
	# alice's two certificates share a subject, and NSS lists every
	# certificate of that subject under the nickname, in an order of
	# its own: the RSA one must be among them
	awk -v dir="$T/nick" '
		/-----BEGIN CERTIFICATE-----/ { n++; f = dir "." n }
		f { print > f }
		/-----END CERTIFICATE-----/ { close(f); f = "" }
	' "$T/out"
	found=
	for f in "$T"/nick.*; do
		[ -f "$f" ] || continue
		! openssl x509 -in "$f" -outform DER | cmp -s - "$d/rsa.der" || found=1
	done
	[ -n "$found" ] || fail "certutil -L -n $rsa_nick -a does not show alice's RSA certificate"
	no_prompt "certutil -L -n"
fi
ok "certutil -L -h all lists alice's certificates from the token without a PIN"

if ! p11_standin_lacks "CKO_PROFILE: certutil -V without a PIN"; then
	for v in "R $rsa_nick" "S $rsa_nick" "S $ec_nick"; do
		s=$(nss certutil -V -u "${v%% *}" -n "${v#* }" -d "$db")
		[ "$s" = 0 ] || fail "certutil -V -u $v: exit $s: $(cat "$T/out" "$T/err")"
		has_line "$T/out" '^certutil: certificate is valid$' "certutil -V -u $v"
		no_prompt "certutil -V -u $v"
	done
	# the same certificate without the CA trusted: not valid
	mkdir "$T/untrusting"
	certutil -N -d "sql:$T/untrusting" --empty-password
	modutil -add smimekit -libfile "$P11_MODULE" -dbdir "sql:$T/untrusting" -force > /dev/null 2>&1
	s=$(nss certutil -V -u R -n "$rsa_nick" -d "sql:$T/untrusting")
	[ "$s" != 0 ] || fail "certutil -V accepts alice's certificate without a trusted CA"
	ok "certutil -V -u R/S: the token's certificates are valid for S/MIME (and not without the CA)"
fi

# ---- cmsutil -D: mail from smimekit encrypt, the key on the token
for msg in "$D/simple.eml" "$D/multipart.eml"; do
	"$SMIMEKIT" encrypt --to "$C/alice-rsa.pem" -i "$msg" -o "$T/enc.eml"
	body_der "$T/enc.eml" "$T/enc.der"
	expected_inner "$msg" > "$T/want"
	rm -f "$T/inner"
	s=$(nss cmsutil -D -i "$T/enc.der" -d "$db" -p "$P11_PIN" -o "$T/inner")
	[ "$s" = 0 ] || fail "cmsutil -D -p: exit $s: $(cat "$T/err")"
	same "$T/want" "$T/inner" "cmsutil -D -p, $(basename "$msg")"
	rm -f "$T/inner"
	s=$(nss cmsutil -D -i "$T/enc.der" -d "$db" -f "$P11_PIN_FILE" -o "$T/inner")
	[ "$s" = 0 ] || fail "cmsutil -D -f: exit $s: $(cat "$T/err")"
	same "$T/want" "$T/inner" "cmsutil -D -f, $(basename "$msg")"
done
ok "cmsutil -D decrypts smimekit encrypt's messages with the token's key (-p PIN and -f file)"

rm -f "$T/inner"
s=$(nss cmsutil -D -i "$T/enc.der" -d "$db" -p wrong-pin -o "$T/inner")
[ "$s" != 0 ] || fail "cmsutil -D with a wrong PIN succeeded"
[ ! -s "$T/inner" ] || fail "cmsutil -D with a wrong PIN wrote output"
ok "cmsutil -D with a wrong PIN fails"

# ---- what NSS calls: pkcs11-spy between NSS and the module
if [ -f "$P11_SPY" ]; then
	export PKCS11SPY=$P11_MODULE PKCS11SPY_OUTPUT=$T/spy.log
	nss_db spied "$P11_SPY"
	: > "$T/spy.log"
	rm -f "$T/inner"
	s=$(nss cmsutil -D -i "$T/enc.der" -d "sql:$T/spied" -p "$P11_PIN" -o "$T/inner")
	[ "$s" = 0 ] || fail "cmsutil -D through pkcs11-spy: exit $s: $(cat "$T/err")"
	same "$T/want" "$T/inner" "cmsutil -D through pkcs11-spy"
	unset PKCS11SPY PKCS11SPY_OUTPUT
	p11_spy_calls "$T/spy.log" C_UnwrapKey > "$T/unwrap"
	p11_spy_calls "$T/spy.log" C_DecryptInit > "$T/decinit"
	p11_spy_calls "$T/spy.log" C_Login > "$T/login"
	grep -qx 'CKM_RSA_PKCS CKR_OK' "$T/unwrap" ||
		fail "NSS did not unwrap with CKM_RSA_PKCS: $(cat "$T/unwrap")"
	grep -qx 'CKM_AES_CBC CKR_OK' "$T/decinit" ||
		fail "NSS did not decrypt with CKM_AES_CBC on the token: $(cat "$T/decinit")"
	grep -qx -- '- CKR_OK' "$T/login" || fail "no successful C_Login: $(cat "$T/login")"
	# for the record: every function NSS called, how often, and what failed
	echo "# NSS's calls for cmsutil -D: $(grep -E '^[0-9]+: C_' "$T/spy.log" |
		awk '{ print $2 }' | sort | uniq -c | awk '{ printf "%s%s x%d", sep, $2, $1; sep = ", " }')"
	awk '/^[0-9]+: C_/ { f = $2 } /^Returned:/ && $3 != "CKR_OK" { print f " -> " $3 }' \
		"$T/spy.log" | sort | uniq -c | awk '{ print "#   not CKR_OK: " $2 " " $3 " " $4 " x" $1 }'
	ok "pkcs11-spy: NSS decrypts by C_UnwrapKey(CKM_RSA_PKCS) and C_DecryptInit(CKM_AES_CBC) on the token"
else
	echo "# $P11_SPY missing (opensc-pkcs11): NSS's calls not checked"
fi

# ---- cmsutil -S: signed on the token, verified by openssl
printf 'Content-Type: text/plain\r\n\r\nSigned in NSS with a key on the smimekit token.\r\n' > "$T/tosign"
for nick in "$rsa_nick" "$ec_nick"; do
	s=$(nss cmsutil -S -N "$nick" -i "$T/tosign" -d "$db" -p "$P11_PIN" -o "$T/signed.der")
	[ "$s" = 0 ] || fail "cmsutil -S -N $nick: exit $s: $(cat "$T/err")"
	openssl cms -verify -inform DER -in "$T/signed.der" -CAfile "$C/ca.pem" -purpose smimesign \
		-signer "$T/signer.pem" -out "$T/verified" 2> "$T/verify.err" ||
		fail "openssl cms -verify rejects cmsutil's signature ($nick): $(cat "$T/verify.err")"
	same "$T/tosign" "$T/verified" "signed content ($nick)"
	if [ "$nick" = "$rsa_nick" ]; then k=rsa; else k=ec; fi
	openssl x509 -in "$T/signer.pem" -outform DER | cmp -s - "$d/$k.der" ||
		fail "the signer of cmsutil's message is not alice-$k"
done
ok "cmsutil -S -N TOKEN:LABEL signs with the RSA and the EC key; openssl cms -verify accepts both"

# ---- mail the Dovecot plugin delivered and stored, opened by NSS
if [ ! -f "${SMK_DOVECOT_PLUGIN:-}" ]; then
	echo "# the Dovecot plugin is not built: stored mail not checked"
elif [ "$(id -u)" != 0 ]; then
	echo "# not root: Dovecot cannot run here, stored mail not checked"
else
	. "$SMK_TEST_SRCDIR/dovecot/dovecot.sh"
	. "$SMK_TEST_SRCDIR/dovecot/plugin.sh"
	alice_stored nss-token
	body_der "$ALICE_STORED" "$T/stored.der"
	rm -f "$T/inner"
	s=$(nss cmsutil -D -i "$T/stored.der" -d "$db" -p "$P11_PIN" -o "$T/inner")
	[ "$s" = 0 ] || fail "cmsutil -D of the stored message: exit $s: $(cat "$T/err")"
	alice_opened "$T/inner" "opened by NSS"
	ok "a message delivered over LMTP and stored by the plugin opens in NSS with the token's key"
fi
done_testing
