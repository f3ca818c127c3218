#!/bin/bash
# nss-directory.sh - Thunderbird's path with cloud-held keys: NSS with
# smimekit-pkcs11.so on a directory token (type = directory) against the
# fixture slapd.  An admin escrows alice's RSA key under her PIN (her LDAP
# password: login binds as her entry); NSS lists her published
# certificates without a PIN, cmsutil -D opens mail to her with the key
# fetched from the directory and decrypted on the client; a wrong PIN
# opens nothing.  (Signing by nickname is not tested: alice's three
# certificates share the nickname TOKEN:ADDRESS, and NSS picks the newest,
# which has no escrowed key here.)
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/pkcs11/p11lib.sh"
p11_need certutil modutil cmsutil
. "$SMK_TEST_SRCDIR/ldap/slapd.sh"
need openssl setsid

slapd_new dir
slapd_load_testdata dir
slapd_start dir
base=dc=example,dc=org
export XDG_STATE_HOME=$T/state
printf '[directory]\nuri = %s\nbase = %s\ntimeout = 3\nnetwork_timeout = 3\n\n[token cloud]\ntype = directory\naddress = alice@example.org\n' \
	"$(slapd_uri dir)" "$base" > "$T/smimekit.conf"
export SMIMEKIT_CONF=$T/smimekit.conf
[ -f "$P11_MODULE" ] || fail "$P11_MODULE is missing (not built?)"
_p11_asan
pin=$(cat "$T/alice.pw")
openssl x509 -in "$C/alice-rsa.pem" -outform DER -out "$T/alice-rsa.der"
token=alice@example.org

# The admin seeds alice's key: a new userPKCS12 value under her PIN.
(umask 077 && printf 'p12 password' > "$T/p12pw")
openssl pkcs12 -export -inkey "$C/alice-rsa.key" -in "$C/alice-rsa.pem" -name alice-rsa \
	-passout "file:$T/p12pw" -out "$T/alice-rsa.p12" || fail "openssl pkcs12 -export"
"$SMIMEKIT" token escrow --bind-dn "cn=admin,$base" --bind-password-file "$T/admin.pw" \
	alice@example.org "$T/alice-rsa.p12" --pin-file "$T/alice.pw" --p12-password-file "$T/p12pw" \
	> "$T/escrow.out" 2>&1 || fail "smimekit token escrow: $(cat "$T/escrow.out")"

nss() {	# as in nss.sh: no terminal, output in $T/out and $T/err, status echoed
	local s=0
	setsid -w "${P11_ENV[@]}" "$@" < /dev/null > "$T/out" 2> "$T/err" || s=$?
	echo "$s"
}
db=sql:$T/nss
mkdir "$T/nss"
certutil -N -d "$db" --empty-password
modutil -add smimekit -libfile "$P11_MODULE" -dbdir "$db" -force > "$T/modutil.out" 2>&1 ||
	fail "modutil -add: $(cat "$T/modutil.out")"
certutil -A -d "$db" -n "smimekit test CA" -t C,C,C -i "$C/ca.pem"

# ---- alice's published certificates, no PIN
s=$(nss certutil -L -h "$token" -d "$db")
[ "$s" = 0 ] || fail "certutil -L -h $token: exit $s: $(cat "$T/out" "$T/err")"
lacks "$T/err" 'input terminal|[Pp]assword|PIN' "certutil -L: NSS asked for a PIN"
grep "^$token:" "$T/out" | sed -e 's/  .*//' > "$T/nicks"
[ "$(wc -l < "$T/nicks")" -ge 3 ] || fail "want alice's 3 certificates: $(cat "$T/out")"
# The directory token labels every certificate with the address, so they
# share one nickname (as certificates of one subject do in NSS).
rsa_nick=$token:$token
grep -qx "$rsa_nick" "$T/nicks" || fail "nicknames: $(cat "$T/nicks")"
s=$(nss certutil -L -d "$db" -n "$rsa_nick" -a)
[ "$s" = 0 ] || fail "certutil -L -n $rsa_nick: $(cat "$T/err")"
awk -v d="$T" '/BEGIN CERT/ { n++ } { print > (d "/nick-cert-" n ".pem") }' "$T/out"
found=no
for f in "$T"/nick-cert-*.pem; do
	if openssl x509 -in "$f" -outform DER | cmp -s - "$T/alice-rsa.der"; then found=yes; fi
done
[ $found = yes ] || fail "alice-rsa is not among the token's certificates"
s=$(nss certutil -V -u R -n "$rsa_nick" -d "$db")
[ "$s" = 0 ] || fail "certutil -V -u R -n $rsa_nick: $(cat "$T/out" "$T/err")"
ok "NSS lists alice's certificates from the directory without a PIN; certutil -V -u R accepts alice-rsa"

# The checks below go on after a failure (a `not ok` line each) so that
# one run shows every problem of the token in NSS; the test fails at the end.
bad=0
check() {	# check PROBLEM WHAT: `ok` if PROBLEM is empty, else `not ok`
	if [ -z "$1" ]; then
		ok "$2"
	else
		checks=$((checks + 1))
		echo "not ok $checks - $2: $1"
		bad=$((bad + 1))
	fi
}

# NSS logs in to a token that lists certificates without a PIN only for a
# certificate it takes for one with a key: one with a CKO_PUBLIC_KEY of
# the same CKA_ID (PK11_IsUserCert).  Before login the directory token
# cannot know which certificates have an escrowed key: every certificate
# needs its public key object, or NSS never logs in and finds no key
# (SEC_ERROR_NOT_A_RECIPIENT).
if command -v pkcs11-tool > /dev/null; then
	p11_run "pkcs11-tool --list-objects" pkcs11-tool --module "$P11_MODULE" --list-objects
	awk '/^Certificate Object/ { c = 1 } /^Public Key Object/ { c = 0 }
		/^  ID:/ && c { print $2 }' "$T/out" | sort > "$T/cert-ids"
	awk '/^Public Key Object/ { k = 1 } /^(Certificate|Private Key|Profile)/ { k = 0 }
		/^  ID:/ && k { print $2 }' "$T/out" | sort > "$T/pub-ids"
	[ "$(wc -l < "$T/cert-ids")" -ge 3 ] || fail "certificates before login: $(cat "$T/out")"
	comm -23 "$T/cert-ids" "$T/pub-ids" > "$T/missing"
	problem=
	[ ! -s "$T/missing" ] || problem="no CKO_PUBLIC_KEY before login for $(tr '\n' ' ' < "$T/missing")"
	check "$problem" "before login every certificate has its public key object (what makes NSS log in)"
fi

# ---- decryption with the escrowed key
"$SMIMEKIT" encrypt --to "$C/alice-rsa.pem" -i "$D/multipart.eml" -o "$T/enc.eml"
body_der "$T/enc.eml" "$T/enc.der"
expected_inner "$D/multipart.eml" > "$T/want"
s=$(nss cmsutil -D -i "$T/enc.der" -d "$db" -p "$pin" -o "$T/inner")
problem=
if [ "$s" != 0 ]; then
	problem="cmsutil exit $s: $(tr '\n' ' ' < "$T/err")"
elif ! cmp -s "$T/want" "$T/inner"; then
	problem="the inner entity differs from what was sent"
fi
check "$problem" "cmsutil -D opens mail to alice with her escrowed key (fetched at login, decrypted here)"

rm -f "$T/inner"
s=$(nss cmsutil -D -i "$T/enc.der" -d "$db" -p not-her-pin -o "$T/inner")
[ "$s" != 0 ] || fail "cmsutil -D with a wrong PIN succeeded"
[ ! -s "$T/inner" ] || fail "cmsutil -D with a wrong PIN wrote output"
ok "a wrong PIN opens nothing"

# NSS names a certificate TOKEN:LABEL and caches the name it saw before
# login: the labels must not change at login (the directory token labels
# everything with the address, the escrowed PKCS#12's name included).
if command -v pkcs11-tool > /dev/null; then
	p11_run "pkcs11-tool --list-objects" pkcs11-tool --module "$P11_MODULE" --list-objects --type cert
	grep "^  label:" "$T/out" | sort > "$T/labels-before"
	p11_run "pkcs11-tool --login --list-objects" pkcs11-tool --module "$P11_MODULE" --login \
		--pin "$pin" --list-objects --type cert
	grep "^  label:" "$T/out" | sort > "$T/labels-after"
	[ -s "$T/labels-before" ] || fail "pkcs11-tool listed no certificate labels"
	problem=
	cmp -s "$T/labels-before" "$T/labels-after" ||
		problem="before: $(tr -s ' \n' ' ' < "$T/labels-before"); after: $(tr -s ' \n' ' ' < "$T/labels-after")"
	check "$problem" "certificate labels (NSS nicknames) stay the same at login"
fi
echo "# $checks checks, $bad not ok"
[ "$bad" = 0 ] || fail "NSS cannot use the directory token (not ok lines above)"
