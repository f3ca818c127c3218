#!/bin/bash
# demo.sh - the whole path on throwaway servers, told step by step (what
# `./dev.sh demo' shows; `make check' runs it too, so it keeps working):
# a slapd and a Dovecot with the smimekit plugin on loopback; alice's
# certificate published in the directory with `smimekit directory
# publish'; a message delivered over LMTP; the ciphertext on disk; the
# message fetched over IMAP and opened with alice's key by openssl cms.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/ldap/slapd.sh"
. "$SMK_TEST_SRCDIR/dovecot/dovecot.sh"
: "${SMK_DOVECOT_PLUGIN:?run through make check or ./dev.sh demo}"
[ -f "$SMK_DOVECOT_PLUGIN" ] || fail "$SMK_DOVECOT_PLUGIN is missing: configure --with-dovecot=/usr/lib/dovecot"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
base=dc=example,dc=org

say "a throwaway LDAP directory (slapd on $T, loopback), with alice's entry"
slapd_new demo
slapd_start demo
uri=$(slapd_uri demo)
cat > "$T/alice.ldif" <<EOF
dn: $base
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,$base
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,$base
objectClass: inetOrgPerson
uid: alice
cn: Alice Example
sn: Example
mail: alice@example.org
EOF
slapd_add demo "$T/alice.ldif"
echo "uid=alice,ou=people,$base (mail alice@example.org), no certificate yet, on $uri"

say "alice gets a certificate; the directory admin publishes it (policy check first)"
issue_smime_cert "$T/alice" "Alice Example" 0xa11ce alice@example.org
printf '[directory]\nuri = %s\nbase = %s\n' "$uri" "$base" > "$T/smimekit.conf"
export SMIMEKIT_CONF=$T/smimekit.conf
show "$SMIMEKIT" directory publish --bind-dn "cn=admin,$base" --bind-password-file "$T/admin.pw" \
	alice@example.org "$T/alice.pem"
show "$SMIMEKIT" directory lookup alice@example.org

say "Dovecot with the smimekit plugin, finding certificates in that directory"
dovecot_new demo
cat > "$(dovecot_dir demo)/local.conf" <<EOF
mail_plugins = \$mail_plugins smimekit
plugin {
  smimekit_ldap_uri = $uri
  smimekit_ldap_base = ou=people,$base
  smimekit_ldap_filter = (mail=%%s)
  smimekit_address = %n@example.org
}
EOF
sed -n '/^mail_plugins/,$p' "$(dovecot_dir demo)/local.conf"
dovecot_start demo

say "bob's mail to alice arrives over LMTP"
cp "${SMK_TEST_DATA:?}/demo.eml" "$T/message.eml"
cat "$T/message.eml"
echo
dovecot_lmtp demo --from bob@example.org --to alice@example.org --file "$T/message.eml" ||
	fail "LMTP delivery failed"
grep 'smimekit:' "$(dovecot_log demo)" | sed 's/^.*\(smimekit:\)/Dovecot log: \1/'

say "what Dovecot stored on disk: ciphertext only"
f=$(ls "$(dovecot_maildir demo alice)"/new/*)
echo "$f"
head -c 1200 "$f"
echo "[... $(wc -c < "$f") bytes]"
if grep -rq 'launch is on' "$(dovecot_maildir demo alice)"; then
	fail "the message text is on disk in the clear"
fi
echo "grep -r 'launch is on' over alice's mail directory: nothing"

say "alice's client fetches it over IMAP and opens it with her key"
dovecot_imap demo alice fetch INBOX 1 --body "$T/fetched.eml"
show openssl cms -decrypt -inkey "$T/alice.key" -recip "$T/alice.pem" -in "$T/fetched.eml" \
	-out "$T/opened.eml"
cat "$T/opened.eml"
grep -q 'launch is on 14 December' "$T/opened.eml" || fail "the message did not come back"

say "done: Dovecot keeps only ciphertext; alice's key opens it, in any S/MIME client"
ok "demo: publish, deliver over LMTP, ciphertext on disk, IMAP fetch, decrypt"
done_testing
