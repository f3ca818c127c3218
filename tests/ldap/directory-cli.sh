#!/bin/bash
# directory-cli.sh - `smimekit directory` against a real slapd: lookup
# with verdicts and exit statuses, publish (policy first, idempotent),
# unpublish, list (paged, --expiring), settings from smimekit.conf and
# flags, and the errors a directory admin can run into.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/ldap/slapd.sh"
need openssl ldapsearch

slapd_new dir
slapd_load_testdata dir
slapd_start dir
uri=$(slapd_uri dir)
base=dc=example,dc=org
S=$SMIMEKIT

# The configuration every command below reads, unless flags say otherwise.
printf '[directory]\nuri = %s\nbase = %s\ntimeout = 3\n' "$uri" "$base" > "$T/smimekit.conf"
export SMIMEKIT_CONF=$T/smimekit.conf
admin=(--bind-dn cn=admin,$base --bind-password-file "$T/admin.pw")

run() {	# run WANT-STATUS COMMAND... ; output in $T/out, $T/err
	local want=$1 s=0
	shift
	"$@" > "$T/out" 2> "$T/err" || s=$?
	[ "$s" = "$want" ] || { cat "$T/out" "$T/err" >&2; fail "$*: exit $s, want $want"; }
}
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }

# ---- lookup
run 0 "$S" directory lookup alice@example.org
has_line "$T/err" "^alice@example.org: uid=alice,ou=people,$base: 3 certificates\$" "count"
[ "$(grep -c '^    usable: ' "$T/err")" = 3 ] || fail "want 3 usable: $(cat "$T/err")"
has_line "$T/err" "serial $(serial "$C/alice-ec.pem"), CN=Alice Example" "subject and serial"
has_line "$T/err" '  valid 20[0-9-]+ [0-9:]+ UTC to ' "validity"
[ ! -s "$T/out" ] || fail "lookup without --pem wrote to standard output"
run 0 "$S" directory lookup --pem --trust "$C/ca.pem" alice@example.org
[ "$(grep -c 'BEGIN CERTIFICATE' "$T/out")" = 3 ] || fail "--pem: $(cat "$T/out")"
openssl x509 -in "$T/out" -noout 2>/dev/null || fail "--pem output is not PEM"
ok "lookup lists every certificate with its verdict; --pem writes the usable ones"

run 1 "$S" directory lookup '*@example.org'
has_line "$T/err" 'not usable: expired on 2021-01-01 .*\[expired\]' "star's expired cert"
run 1 "$S" directory lookup carol@example.org
has_line "$T/err" 'entry uid=carol,ou=people,dc=example,dc=org has no certificate' "carol"
run 1 "$S" directory lookup nobody@example.org
has_line "$T/err" 'no directory entry for nobody@example.org' "nobody"
run 1 "$S" directory lookup garbage@example.org
has_line "$T/err" 'warning: directory entry uid=garbage.* is not a DER certificate: skipped' "garbage warning"
has_line "$T/err" '4 unusable values skipped' "garbage count"
ok "lookup exit status 1 for no usable certificate, no certificate, no entry"

run 2 "$S" directory lookup --uri ldap://127.0.0.1:1 alice@example.org
has_line "$T/err" 'directory unavailable: ldap://127.0.0.1:1: ' "unavailable"
run 2 "$S" directory lookup 'not an address'
has_line "$T/err" 'is not a mail address' "bad address"
run 2 "$S" directory frob
printf '[directory]\nuri = %s\nbsae = x\n' "$uri" > "$T/typo.conf"
run 2 "$S" directory lookup --config "$T/typo.conf" alice@example.org
has_line "$T/err" "typo.conf:3: unknown setting 'bsae' in \[directory\]" "typo"
printf '[directory]\nuri = %s\n' "$uri" > "$T/nobase.conf"
run 2 "$S" directory lookup --config "$T/nobase.conf" alice@example.org
has_line "$T/err" 'no directory base is configured' "no base"
run 0 "$S" directory lookup --config "$T/nobase.conf" --base "$base" alice@example.org
ok "exit status 2 for unavailable directory, usage and configuration errors"

# ---- publish: a new certificate for carol, made with the test CA
issue_smime_cert "$T/carol" Carol 0x7e57 carol@example.org
carol=uid=carol,ou=people,$base

run 2 "$S" directory publish carol@example.org "$T/carol.pem"
has_line "$T/err" 'modify: .*authentication required' "anonymous publish"
run 0 "$S" directory publish "${admin[@]}" carol@example.org "$T/carol.pem"
has_line "$T/out" "^published serial 7E57 for carol@example.org to $carol\$" "publish"
run 0 "$S" directory lookup carol@example.org
has_line "$T/err" 'usable: RSA 2048-bit key' "carol after publish"
ldapsearch -x -LLL -H "$uri" -b "$carol" -s base userCertificate userSMIMECertificate > "$T/carol.ldif"
[ "$(grep -c '^userCertificate;binary::' "$T/carol.ldif")" = 1 ] || fail "DER value: $(cat "$T/carol.ldif")"
[ "$(grep -c '^userSMIMECertificate::' "$T/carol.ldif")" = 1 ] || fail "PKCS#7 value"
awk '/^userSMIMECertificate::/ { v = $2; next } v && /^ / { v = v substr($0, 2); next } v { print v; v = "" } END { if (v) print v }' \
	"$T/carol.ldif" | base64 -d > "$T/carol.p7"
openssl pkcs7 -inform DER -in "$T/carol.p7" -print_certs -noout | grep -q 'subject=CN = Carol' ||
	fail "userSMIMECertificate is not a PKCS#7 with carol's certificate"
ok "publish writes userCertificate;binary and userSMIMECertificate (PKCS#7 certs-only)"

run 0 "$S" directory publish "${admin[@]}" carol@example.org "$T/carol.pem"
has_line "$T/out" "serial 7E57 is already published for carol@example.org" "again"
ldapsearch -x -LLL -H "$uri" -b "$carol" -s base userCertificate userSMIMECertificate > "$T/carol2.ldif"
cmp -s "$T/carol.ldif" "$T/carol2.ldif" || fail "publishing twice changed the entry"
ok "publish is idempotent"

run 1 "$S" directory publish "${admin[@]}" carol@example.org "$C/alice-rsa.pem"
has_line "$T/err" "not publishing for carol@example.org: subjectAltName is for alice@example.org.*--force" "policy"
run 1 "$S" directory publish "${admin[@]}" carol@example.org "$C/alice-expired.pem"
has_line "$T/err" 'expired on 2021-01-01' "expired refused"
run 0 "$S" directory publish "${admin[@]}" --force carol@example.org "$C/alice-rsa.pem"
has_line "$T/err" 'warning: .*publishing although subjectAltName is for alice' "force warning"
ok "publish checks the policy first; --force overrides with a warning"

# ---- unpublish
forced=$(serial "$C/alice-rsa.pem")
run 0 "$S" directory unpublish "${admin[@]}" carol@example.org --serial "$forced"
has_line "$T/out" "^removed 2 certificate values for carol@example.org from $carol\$" "unpublish serial"
run 1 "$S" directory unpublish "${admin[@]}" carol@example.org --serial "$forced"
has_line "$T/out" "nothing to remove .*no certificate with serial $forced" "unpublish again"
run 0 "$S" directory lookup carol@example.org
[ "$(grep -c '^  serial ' "$T/err")" = 1 ] || fail "carol should keep one certificate"
run 0 "$S" directory unpublish "${admin[@]}" carol@example.org --serial 00007e57
run 1 "$S" directory lookup carol@example.org
run 2 "$S" directory unpublish "${admin[@]}" carol@example.org
has_line "$T/err" 'exactly one of --serial HEX and --all' "neither"
run 0 "$S" directory publish "${admin[@]}" carol@example.org "$T/carol.pem"
run 0 "$S" directory unpublish "${admin[@]}" carol@example.org --all
run 1 "$S" directory lookup carol@example.org
ok "unpublish by serial (leading zeros, any case) and --all"

# SASL EXTERNAL over ldapi: root on the server administers without a password
printf '[directory]\nuri = %s\nbase = %s\nbind = sasl-external\n' "$(slapd_ldapi dir)" "$base" > "$T/ldapi.conf"
run 0 "$S" directory publish --config "$T/ldapi.conf" carol@example.org "$T/carol.pem"
has_line "$T/out" '^published serial 7E57 ' "publish over ldapi"
run 0 "$S" directory unpublish --config "$T/ldapi.conf" carol@example.org --all
ok "bind = sasl-external over ldapi:// (root on the server)"

# unpublish --all also clears garbage values
run 0 "$S" directory unpublish "${admin[@]}" garbage@example.org --all
has_line "$T/out" 'removed 5 certificate values' "garbage removed"
run 1 "$S" directory lookup garbage@example.org
ok "unpublish --all removes unparseable values too"

# ---- list, over more entries than a page (200) and slapd's default size limit (500)
{
	for i in $(seq 1 600); do
		printf 'dn: uid=u%d,ou=people,%s\nobjectClass: inetOrgPerson\nuid: u%d\ncn: u%d\nsn: u%d\nmail: u%d@example.org\nuserCertificate;binary:: %s\n\n' \
			"$i" "$base" "$i" "$i" "$i" "$i" "$(openssl x509 -in "$C/bob.pem" -outform DER | base64 -w0)"
	done
} > "$T/many.ldif"
slapd_add dir "$T/many.ldif"
run 2 "$S" directory list
has_line "$T/err" 'Size limit exceeded' "anonymous list of 600"
has_line "$T/err" 'hint: .*size.prtotal=unlimited' "size limit hint"
run 0 "$S" directory list "${admin[@]}"
[ "$(grep -c '@example.org' "$T/out")" -ge 605 ] || fail "list: $(wc -l < "$T/out") lines"
has_line "$T/out" "^u600@example.org	$(serial "$C/bob.pem")	" "last of many"
has_line "$T/out" "^alice@example.org	$(serial "$C/alice-ec.pem")	" "alice listed"
run 0 "$S" directory list "${admin[@]}" --expiring 0
[ "$(wc -l < "$T/out")" = 1 ] || fail "--expiring 0: $(cat "$T/out")"
has_line "$T/out" '^\*@example.org	.*	2021-01-01 00:00:00 UTC	' "expired one"
run 0 "$S" directory list "${admin[@]}" --expiring 800
[ "$(wc -l < "$T/out")" -ge 605 ] || fail "--expiring 800"
run 2 "$S" directory list --expiring soon
ok "list pages through every entry; --expiring DAYS"
done_testing
