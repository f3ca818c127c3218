#!/bin/bash
# syncrepl.sh - scale-out as doc/ldap/README.md describes it: a provider
# (syncprov) and a read-only consumer (syncrepl refreshAndPersist); lookups
# keep working on one while the other is down.  Stock OpenLDAP clients only.
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
. "${SMK_TEST_SRCDIR:?}/lib.sh"
# shellcheck source=ldap/slapd.sh
. "$SMK_TEST_SRCDIR/ldap/slapd.sh"

B=dc=example,dc=org
people=ou=people,$B
export LDAPNOINIT=1

slapd_new p --provider
slapd_new c --consumer-of p
slapd_start p
slapd_load_testdata p
slapd_start c
P=$(slapd_uri p)
R=$(slapd_uri c)
[ "$P" != "$R" ] || fail "provider and consumer on one port"

# lookup URI MAIL OUT: anonymous search by mail, LDIF in OUT.
lookup() {
	ldapsearch -x -H "$1" -b "$B" -LLL -o ldif-wrap=no -o nettimeout=2 "(mail=$2)" \
		'userCertificate;binary' userSMIMECertificate >"$3"
}
ncerts() { grep -c '^userCertificate;binary:: ' "$1" || true; }
as_helper=(-x -D "uid=admin-helper,$people" -y "$T/admin-helper.pw")

slapd_wait_for c '(mail=admin-helper@example.org)' 10 || fail "test data did not replicate"
lookup "$R" alice@example.org "$T/a"
[ "$(ncerts "$T/a")" = 2 ] || fail "consumer: alice has $(ncerts "$T/a") certificates, want 2"
has_line "$T/a" '^userSMIMECertificate:: ' "consumer: alice's userSMIMECertificate"
lookup "$R" garbage@example.org "$T/a"
[ "$(ncerts "$T/a")" = 2 ] || fail "consumer: garbage has $(ncerts "$T/a") certificates, want 2 (no broken ones on a provider)"
# Passwords and escrowed keys replicate too; the consumer applies the same ACL.
ldapsearch -x -D "uid=alice,$people" -y "$T/alice.pw" -H "$R" -b "$B" -LLL \
	'(mail=alice@example.org)' userPKCS12 >"$T/a"
has_line "$T/a" '^userPKCS12:: ' "consumer: alice reads her userPKCS12"
ldapsearch -x -H "$R" -b "$B" -LLL '(mail=alice@example.org)' userPKCS12 >"$T/a"
lacks "$T/a" '^userPKCS12' "consumer: anonymous reads userPKCS12"
ok "test data loaded on the provider is on the consumer (ACL included)"

# A certificate published on the provider is found through the consumer.
openssl x509 -in "$C/bob.pem" -outform DER -out "$T/bob.der"
printf '%s\n' "dn: uid=carol,$people" "changetype: modify" "add: userCertificate;binary" \
	"userCertificate;binary:: $(base64 -w0 "$T/bob.der")" >"$T/carol.ldif"
t0=$(date +%s%N)
ldapmodify "${as_helper[@]}" -H "$P" -f "$T/carol.ldif" >/dev/null
slapd_wait_for c '(&(mail=carol@example.org)(userCertificate=*))' 5 ||
	fail "new certificate not on the consumer after 5 s"
ms=$((($(date +%s%N) - t0) / 1000000))
lookup "$R" carol@example.org "$T/a"
[ "$(ncerts "$T/a")" = 1 ] || fail "consumer: carol's certificate"
ok "a userCertificate added on the provider is on the consumer after $ms ms"

# The consumer is read-only: writes there fail (no update referral set).
s=$(status ldapmodify -Y EXTERNAL -Q -H "$(slapd_ldapi c)" -f "$T/carol.ldif" 2>/dev/null)
[ "${s##*$'\n'}" != 0 ] || fail "consumer accepted a write"
ok "the consumer refuses writes"

# Either server answers while the other is down.
slapd_stop c
lookup "$P" alice@example.org "$T/a"
[ "$(ncerts "$T/a")" = 2 ] || fail "provider without consumer"
slapd_start c
slapd_stop p
lookup "$R" alice@example.org "$T/a"
[ "$(ncerts "$T/a")" = 2 ] || fail "consumer without provider"
lookup "$R" carol@example.org "$T/a"
[ "$(ncerts "$T/a")" = 1 ] || fail "consumer without provider: carol"
ok "provider answers with the consumer stopped, and vice versa"

# Back together: the consumer reconnects (retry every second) and catches up.
slapd_start p
sed -e "s/^dn: uid=carol,/dn: uid=bob,/" "$T/carol.ldif" >"$T/bob.ldif"
openssl x509 -in "$C/alice-rsa-new.pem" -outform DER -out "$T/new.der"
sed -i -e "s|^userCertificate;binary:: .*|userCertificate;binary:: $(base64 -w0 "$T/new.der")|" "$T/bob.ldif"
ldapmodify "${as_helper[@]}" -H "$P" -f "$T/bob.ldif" >/dev/null
end=$(($(date +%s) + 5))
until lookup "$R" bob@example.org "$T/a" && [ "$(ncerts "$T/a")" = 2 ]; do
	[ "$(date +%s)" -lt "$end" ] || fail "consumer did not catch up after the provider restarted"
	sleep 0.1
done
ok "after the provider restarts, changes reach the consumer again"

# ---- the same through smimekit --------------------------------------------
# Publish with `smimekit directory` on the provider, find it through the
# consumer, and keep looking up with both URIs configured while either
# server is stopped.
S=$SMIMEKIT
issue_smime_cert "$T/carol" Carol 0xc0ffee carol@example.org
"$S" directory publish --uri "$P" --base "$B" --bind-dn "uid=admin-helper,$people" \
	--bind-password-file "$T/admin-helper.pw" carol@example.org "$T/carol.pem" >"$T/out" ||
	fail "smimekit directory publish on the provider: $(cat "$T/out")"
has_line "$T/out" '^published serial C0FFEE ' "publish"
end=$(($(date +%s) + 5))
until "$S" directory lookup --uri "$R" --base "$B" --pem carol@example.org 2>"$T/err" >"$T/pem" &&
	grep -q 'BEGIN CERTIFICATE' "$T/pem"; do
	[ "$(date +%s)" -lt "$end" ] || fail "published certificate not found through the consumer: $(cat "$T/err")"
	sleep 0.1
done
cmp -s <(openssl x509 -in "$T/pem" -outform DER) <(openssl x509 -in "$T/carol.pem" -outform DER) ||
	fail "the consumer returned another certificate"
ok "smimekit directory publish on the provider; lookup through the consumer finds it"

both=(--uri "$R" --uri "$P" --base "$B")
"$S" directory lookup "${both[@]}" carol@example.org 2>"$T/err" || fail "both up: $(cat "$T/err")"
slapd_stop c
"$S" directory lookup "${both[@]}" -v carol@example.org 2>"$T/err" ||
	fail "consumer stopped: $(cat "$T/err")"
has_line "$T/err" "from $P\$" "answered by the provider"
slapd_start c
slapd_stop p
"$S" directory lookup "${both[@]}" -v carol@example.org 2>"$T/err" ||
	fail "provider stopped: $(cat "$T/err")"
has_line "$T/err" "from $R\$" "answered by the consumer"
slapd_stop c
s=0
"$S" directory lookup "${both[@]}" carol@example.org 2>"$T/err" || s=$?
[ "$s" = 2 ] || fail "both stopped: exit $s, want 2"
has_line "$T/err" 'directory unavailable' "both stopped"
ok "lookups with both URIs keep working while either server is stopped"

done_testing
