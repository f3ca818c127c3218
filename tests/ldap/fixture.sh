#!/bin/bash
# fixture.sh - the slapd test fixture (tests/ldap/slapd.sh) and the shipped
# sample ACL and indexes (doc/ldap/), checked with stock OpenLDAP clients.
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
. "${SMK_TEST_SRCDIR:?}/lib.sh"
# shellcheck source=ldap/slapd.sh
. "$SMK_TEST_SRCDIR/ldap/slapd.sh"

B=dc=example,dc=org
people=ou=people,$B
alice=uid=alice,$people
export LDAPNOINIT=1	# no ldap.conf or ~/.ldaprc of the machine

slapd_new s
slapd_start s
slapd_load_testdata s
U=$(slapd_uri s)
L=$(slapd_ldapi s)
[[ $U =~ ^ldap://127\.0\.0\.1:[0-9]+$ ]] || fail "slapd_uri: $U"
[[ $L =~ ^ldapi://%2F ]] || fail "slapd_ldapi: $L"
ok "server up at $U and $L"

# Who is who.
anon=(-x)
as_alice=(-x -D "$alice" -y "$T/alice.pw")
as_bob=(-x -D "uid=bob,$people" -y "$T/bob.pw")
as_helper=(-x -D "uid=admin-helper,$people" -y "$T/admin-helper.pw")
as_root=(-Y EXTERNAL -Q)

# q OUT WHO... -- FILTER [ATTRS...]: search the suffix at $U, LDIF in OUT.
q() {
	local out=$1 who=()
	shift
	while [ "$1" != -- ]; do who+=("$1"); shift; done
	shift
	ldapsearch "${who[@]}" -H "$U" -b "$B" -LLL -o ldif-wrap=no "$@" >"$out"
}
# nvals FILE ATTR: how many values of ATTR (base64 or plain) FILE has.
nvals() { grep -c -E "^$2::? " "$1" || true; }
# val FILE ATTR N OUT: the Nth value of ATTR, decoded.
val() { grep -E "^$2:: " "$1" | sed -n "$3p" | sed "s/^[^:]*:: //" | base64 -d >"$4"; }
# mod WHO... -- LDIF-FILE: ldapmodify, prints the result code.
mod() {
	local who=()
	while [ "$1" != -- ]; do who+=("$1"); shift; done
	local s=0
	ldapmodify "${who[@]}" -H "$U" -f "$2" >"$T/mod.out" 2>&1 || s=$?
	echo "$s"
}
der() { openssl x509 -in "$C/$1.pem" -outform DER -out "$T/$1.der"; echo "$T/$1.der"; }

# --- the shipped files apply as README.md says (online, root over ldapi) ----
[ "$(ldapwhoami "${as_root[@]}" -H "$L")" = "dn:gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth" ] ||
	fail "ldapi root identity"
for f in acl indexes; do
	ldapmodify "${as_root[@]}" -H "$L" -f "$SMK_TEST_SRCDIR/../doc/ldap/$f.ldif" >"$T/out" 2>&1 ||
		{ cat "$T/out" >&2; fail "ldapmodify -Y EXTERNAL -H ldapi -f doc/ldap/$f.ldif"; }
done
ldapsearch "${as_root[@]}" -H "$L" -b 'olcDatabase={1}mdb,cn=config' -s base -LLL \
	olcDbIndex olcAccess >"$T/cfg"
has_line "$T/cfg" '^olcDbIndex: mail eq$' "indexes"
has_line "$T/cfg" '^olcDbIndex: mailLocalAddress eq$' "indexes"
has_line "$T/cfg" '^olcAccess: \{4\}to \*' "acl"
ok "doc/ldap/acl.ldif and indexes.ldif apply with ldapmodify -Y EXTERNAL -H ldapi"

# --- anonymous lookups by mail ------------------------------------------------
q "$T/a" "${anon[@]}" -- '(mail=alice@example.org)' 'userCertificate;binary' userSMIMECertificate userPKCS12 userPassword
has_line "$T/a" "^dn: $alice\$" "anonymous finds alice by mail"
[ "$(nvals "$T/a" 'userCertificate;binary')" = 2 ] || fail "alice: want 2 userCertificate;binary values"
val "$T/a" 'userCertificate;binary' 1 "$T/c1"
val "$T/a" 'userCertificate;binary' 2 "$T/c2"
same "$T/c1" "$(der alice-rsa)" "first userCertificate value"
same "$T/c2" "$(der alice-ec)" "second userCertificate value"
[ "$(nvals "$T/a" userSMIMECertificate)" = 1 ] || fail "alice: want 1 userSMIMECertificate value"
val "$T/a" userSMIMECertificate 1 "$T/p7"
openssl pkcs7 -inform DER -in "$T/p7" -print_certs -out "$T/p7.pem" || fail "userSMIMECertificate is no PKCS#7"
openssl x509 -in "$T/p7.pem" -outform DER -out "$T/p7c.der"
same "$T/p7c.der" "$(der alice-rsa-new)" "certificate in userSMIMECertificate"
[ "$(nvals "$T/a" userPKCS12)" = 0 ] || fail "anonymous reads userPKCS12"
[ "$(nvals "$T/a" userPassword)" = 0 ] || fail "anonymous reads userPassword"
ok "anonymous: alice by mail, 2 x userCertificate;binary, PKCS#7 userSMIMECertificate, no userPKCS12"

q "$T/a" "${anon[@]}" -- '(mailLocalAddress=ali@example.org)' 1.1
has_line "$T/a" "^dn: $alice\$" "alias"
q "$T/a" "${anon[@]}" -- '(mail=carol@example.org)' 'userCertificate;binary' userSMIMECertificate
has_line "$T/a" "^dn: uid=carol," "carol"
[ "$(nvals "$T/a" 'userCertificate;binary')$(nvals "$T/a" userSMIMECertificate)" = 00 ] ||
	fail "carol has a certificate"
q "$T/a" "${anon[@]}" -- '(mail=bob@example.org)' 'userCertificate;binary'
[ "$(nvals "$T/a" 'userCertificate;binary')" = 1 ] || fail "bob: want 1 certificate"
q "$T/a" "${anon[@]}" -- '(mail=garbage@example.org)' 'userCertificate;binary' userSMIMECertificate
[ "$(nvals "$T/a" 'userCertificate;binary')" = 4 ] || fail "garbage: want 4 userCertificate values"
[ "$(nvals "$T/a" userSMIMECertificate)" = 1 ] || fail "garbage: want 1 userSMIMECertificate value"
val "$T/a" 'userCertificate;binary' 4 "$T/g4"
same "$T/g4" "$(der alice-rsa-new)" "garbage's good certificate"
ok "alias via mailLocalAddress, carol without certificate, bob, garbage's 4 values"

# --- the literal addresses: why filter values must be RFC 4515-escaped --------
q "$T/a" "${anon[@]}" -- '(mail=\2a@example.org)' 1.1
[ "$(grep -c '^dn:' "$T/a")" = 1 ] && has_line "$T/a" "^dn: uid=star,$people\$" "escaped *"
q "$T/a" "${anon[@]}" -- '(mail=*@example.org)' 1.1
n=$(grep -c '^dn:' "$T/a")
[ "$n" -ge 5 ] || fail "unescaped (mail=*@example.org) matched $n entries"
q "$T/a" "${anon[@]}" -- '(mail=\22a\29\28uid=\2a\22@example.org)' 1.1
[ "$(grep -c '^dn:' "$T/a")" = 1 ] && has_line "$T/a" "^dn: uid=paren,$people\$" "escaped parentheses"
s=$(status q "$T/a" "${anon[@]}" -- '(mail="a)(uid=*"@example.org)' 1.1 2>/dev/null)
[ "$s" != 0 ] || ! grep -q "^dn: uid=paren," "$T/a" || fail "unescaped parentheses found uid=paren"
ok "(mail=\\2a@example.org) finds only uid=star; unescaped * matches $n entries"

# --- escrowed keys: self only --------------------------------------------------
q "$T/a" "${as_alice[@]}" -- '(mail=alice@example.org)' userPKCS12
[ "$(nvals "$T/a" userPKCS12)" = 1 ] || fail "alice cannot read her userPKCS12"
val "$T/a" userPKCS12 1 "$T/k1"
same "$T/k1" "$C/alice-rsa.p12" "alice's userPKCS12"
q "$T/a" "${as_bob[@]}" -- '(mail=alice@example.org)' userPKCS12 userPassword 'userCertificate;binary'
has_line "$T/a" "^dn: $alice\$" "bob finds alice"
[ "$(nvals "$T/a" 'userCertificate;binary')" = 2 ] || fail "bob cannot read alice's certificates"
[ "$(nvals "$T/a" userPKCS12)$(nvals "$T/a" userPassword)" = 00 ] ||
	fail "bob reads alice's userPKCS12 or userPassword"
ok "alice reads her userPKCS12; bob and anonymous do not"

# A second key: OpenLDAP refuses modify/add of a value to an attribute
# without an equality rule (18); escrow replaces with old + new values.
printf '%s\n' "dn: $alice" changetype:\ modify add:\ userPKCS12 \
	"userPKCS12:: $(base64 -w0 "$C/alice-ec.p12")" >"$T/p12add"
printf '%s\n' "dn: $alice" changetype:\ modify replace:\ userPKCS12 \
	"userPKCS12:: $(base64 -w0 "$C/alice-rsa.p12")" \
	"userPKCS12:: $(base64 -w0 "$C/alice-ec.p12")" >"$T/p12repl"
s=$(mod "${as_alice[@]}" -- "$T/p12add")
[ "$s" = 18 ] || { cat "$T/mod.out" >&2; fail "modify/add of a 2nd userPKCS12 value: $s, want 18"; }
s=$(mod "${as_bob[@]}" -- "$T/p12repl")
[ "$s" = 50 ] || { cat "$T/mod.out" >&2; fail "bob replaces alice's userPKCS12: $s"; }
s=$(mod "${as_alice[@]}" -- "$T/p12repl")
[ "$s" = 0 ] || { cat "$T/mod.out" >&2; fail "alice escrows a second key: $s"; }
q "$T/a" "${as_alice[@]}" -- '(mail=alice@example.org)' userPKCS12
[ "$(nvals "$T/a" userPKCS12)" = 2 ] || fail "alice: want 2 userPKCS12 values"
q "$T/a" "${as_helper[@]}" -- '(mail=alice@example.org)' userPKCS12
[ "$(nvals "$T/a" userPKCS12)" = 0 ] || fail "admin-helper reads alice's userPKCS12"
q "$T/a" "${anon[@]}" -- '(mail=alice@example.org)' userPKCS12
[ "$(nvals "$T/a" userPKCS12)" = 0 ] || fail "anonymous reads userPKCS12"
ok "alice adds a userPKCS12 value (replace with old + new; plain add gives 18); bob cannot; admins do not read it"

# --- who may change certificates ----------------------------------------------
printf '%s\n' "dn: $alice" changetype:\ modify add:\ userCertificate\;binary \
	"userCertificate;binary:: $(base64 -w0 "$(der alice-rsa-new)")" >"$T/certadd"
for who in anon as_bob as_alice; do
	declare -n w=$who
	s=$(mod "${w[@]}" -- "$T/certadd")
	[ "$s" = 50 ] || [ "$who:$s" = anon:8 ] || { cat "$T/mod.out" >&2; fail "$who adds a certificate to alice: $s"; }
done
q "$T/a" "${anon[@]}" -- '(mail=alice@example.org)' 'userCertificate;binary'
[ "$(nvals "$T/a" 'userCertificate;binary')" = 2 ] || fail "alice's certificates changed"
s=$(mod "${as_helper[@]}" -- "$T/certadd")
[ "$s" = 0 ] || { cat "$T/mod.out" >&2; fail "admin-helper adds a certificate: $s"; }
q "$T/a" "${anon[@]}" -- '(mail=alice@example.org)' 'userCertificate;binary'
[ "$(nvals "$T/a" 'userCertificate;binary')" = 3 ] || fail "admin-helper's certificate is not there"
sed -e 's/^add:/delete:/' "$T/certadd" >"$T/certdel"
s=$(mod "${as_helper[@]}" -- "$T/certdel")
[ "$s" = 0 ] || { cat "$T/mod.out" >&2; fail "admin-helper deletes a certificate value: $s"; }
ok "anonymous, bob and alice cannot change alice's userCertificate; admin-helper (group) can"

# --- stop and restart on the same port ----------------------------------------
slapd_stop s
! ldapsearch -x -H "$U" -b "" -s base -o nettimeout=1 >/dev/null 2>&1 || fail "stopped server answers"
! (: <"/dev/tcp/127.0.0.1/${U##*:}") 2>/dev/null || fail "port still open"
slapd_start s
[ "$(slapd_uri s)" = "$U" ] || fail "restart moved to $(slapd_uri s)"
slapd_restart s
[ "$(slapd_uri s)" = "$U" ] || fail "restart moved to $(slapd_uri s)"
q "$T/a" "${as_alice[@]}" -- '(mail=alice@example.org)' userPKCS12
[ "$(nvals "$T/a" userPKCS12)" = 2 ] || fail "data lost over restart"
ok "stop closes the port; start and restart come back on $U with the data"


# --- admins may remove escrowed keys without reading them ---------------------
printf '%s\n' "dn: $alice" changetype:\ modify delete:\ userPKCS12 >"$T/p12del"
s=$(mod "${as_bob[@]}" -- "$T/p12del")
[ "$s" = 50 ] || { cat "$T/mod.out" >&2; fail "bob deletes alice's userPKCS12: $s"; }
s=$(mod "${as_helper[@]}" -- "$T/p12del")
[ "$s" = 0 ] || { cat "$T/mod.out" >&2; fail "admin-helper deletes alice's userPKCS12: $s"; }
q "$T/a" "${as_alice[@]}" -- '(mail=alice@example.org)' userPKCS12
[ "$(nvals "$T/a" userPKCS12)" = 0 ] || fail "alice's escrowed keys are still there"
ok "an admin removes escrowed keys (delete without read); bob cannot"
done_testing
