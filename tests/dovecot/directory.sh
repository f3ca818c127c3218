#!/bin/bash
# directory.sh - the plugin finds certificates in a real slapd: delivery
# encrypted to the certificate policy picks from the owner's entry; an
# entry without a certificate, no entry, and an entry holding only garbage
# go the smimekit_missing_cert way with a log line naming why; with slapd
# down LMTP answers 4xx and the mailbox stays as it was, and the MTA's
# retry is delivered encrypted once slapd is back; smimekit_lookup_failure
# = store keeps mail flowing in the clear instead, logged.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/ldap/slapd.sh"
. "$SMK_TEST_SRCDIR/dovecot/dovecot.sh"
. "$SMK_TEST_SRCDIR/dovecot/plugin.sh"

slapd_new dir
slapd_load_testdata dir
slapd_start dir

# No certificate files: the directory only.  No cache, so that every
# delivery asks slapd (the cache has its own tests in tests/ldap).
dovecot_new dc
cat > "$(dovecot_dir dc)/local.conf" <<EOF
mail_plugins = \$mail_plugins smimekit
plugin {
  smimekit_ldap_uri = $(slapd_uri dir)
  smimekit_ldap_base = ou=people,dc=example,dc=org
  smimekit_ldap_filter = (|(mail=%%s)(mailLocalAddress=%%s))
  smimekit_ldap_network_timeout = 2s
  smimekit_ldap_timeout = 2s
  smimekit_cache_size = 0
  smimekit_address = %n@example.org
}
EOF
dovecot_user_field dc dave smimekit_address=garbage@example.org
dovecot_start dc
log=$(dovecot_log dc)
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }

# The certificate of alice's entry that the policy picks: the usable one
# with the latest notBefore.  Find it by its serial in the log line.
message alice "$T/m1.eml"
deliver dc "$T/m1.eml" alice@example.org || fail "LMTP: $(cat "$T/lmtp.out")"
f=$(stored dc alice | tail -1)
grep -q '^Content-Type: application/pkcs7-mime' "$f" || fail "alice: stored in the clear"
line=$(grep 'smimekit: encrypted to serial' "$log" | tail -1)
used=''
for c in alice-rsa alice-ec alice-rsa-new; do
	case $line in *"serial $(serial "$C/$c.pem") "*) used=$c ;; esac
done
[ "$used" = alice-rsa-new ] || fail "alice: expected alice-rsa-new (latest notBefore), log says: $line"
open_with "$f" "$used" "$T/inner" || fail "alice: cannot decrypt: $(cat "$T/cms.err")"
grep -q body-alice "$T/inner" || fail "alice: wrong content"
! open_with "$f" alice-rsa /dev/null || fail "alice: the older certificate's key opens it"
ok "directory: alice's mail encrypted to the certificate policy picks from her entry"

# bob's single certificate
message bob "$T/m2.eml"
deliver dc "$T/m2.eml" bob@example.org || fail "LMTP: $(cat "$T/lmtp.out")"
open_with "$(stored dc bob | tail -1)" bob "$T/inner" || fail "bob: cannot decrypt"
ok "directory: bob's mail encrypted to his one certificate"

# carol's entry has no certificate; erin has no entry; dave's address
# (garbage@) finds an entry with only broken or foreign values.  The
# default smimekit_missing_cert = store keeps them, in the clear, logged.
message nocert "$T/m3.eml"
deliver dc "$T/m3.eml" carol@example.org erin@example.org dave@example.org ||
	fail "LMTP: $(cat "$T/lmtp.out")"
for u in carol erin dave; do
	grep -q body-nocert "$(stored dc "$u" | tail -1)" || fail "$u: not stored as sent"
done
has_line "$log" "directory entry uid=carol,ou=people,dc=example,dc=org has no certificate" "carol's log line"
has_line "$log" "no directory entry for erin@example.org" "erin's log line"
has_line "$log" "no usable certificate in directory entry uid=garbage,ou=people,dc=example,dc=org" \
	"dave's (garbage@) log line"
ok "directory: no certificate, no entry, only garbage: stored as sent, each logged with its reason"

# The same, with smimekit_missing_cert = tempfail for dave: LMTP 4xx
user_field dc dave smimekit_missing_cert=tempfail
before=$(count_stored dc dave)
s=$(status deliver dc "$T/m3.eml" dave@example.org)
[ "$s" != 0 ] && grep -Eq '^(RCPT|DATA).* 4[0-9][0-9] ' "$T/lmtp.out" ||
	fail "garbage entry with tempfail: $(cat "$T/lmtp.out")"
[ "$(count_stored dc dave)" = "$before" ] || fail "dave: a message was stored anyway"
ok "directory: only garbage and smimekit_missing_cert = tempfail: LMTP 4xx, nothing stored"

# slapd stops: LMTP 4xx (the MTA keeps the mail and retries), bob's
# mailbox unchanged, the log says why.
slapd_stop dir
message outage "$T/m4.eml"
before=$(count_stored dc bob)
s=$(status deliver dc "$T/m4.eml" bob@example.org)
[ "$s" != 0 ] || fail "LMTP accepted mail with the directory down: $(cat "$T/lmtp.out")"
grep -Eq ' 4[0-9][0-9] ' "$T/lmtp.out" || fail "not a temporary failure: $(cat "$T/lmtp.out")"
[ "$(count_stored dc bob)" = "$before" ] || fail "bob's mailbox changed during the outage"
[ -z "$(ls -A "$(dovecot_maildir dc bob)/tmp")" ] || fail "a partial file is left in bob's tmp/"
has_line "$log" "rcpt bob@example.org: smimekit: save deferred: directory unavailable: " "the outage is logged"
ok "directory down: LMTP 4xx, mailbox unchanged, logged"

# smimekit_lookup_failure = store for alice: her mail flows, in the clear, logged
user_field dc alice smimekit_lookup_failure=store
before=$(count_stored dc alice)
deliver dc "$T/m4.eml" alice@example.org || fail "lookup_failure=store: $(cat "$T/lmtp.out")"
[ "$(count_stored dc alice)" = $((before + 1)) ] || fail "alice: not stored"
grep -q body-outage "$(stored dc alice | tail -1)" || fail "alice: not stored as sent"
ok "directory down with smimekit_lookup_failure = store: stored as sent"

# slapd is back: the MTA's retry of bob's message is delivered encrypted
slapd_start dir
before=$(count_stored dc bob)
deliver dc "$T/m4.eml" bob@example.org || fail "retry after the outage: $(cat "$T/lmtp.out")"
[ "$(count_stored dc bob)" = $((before + 1)) ] || fail "bob: the retry is not stored once"
f=$(stored dc bob | tail -1)
open_with "$f" bob "$T/inner" || fail "the retry is not encrypted to bob"
grep -q body-outage "$T/inner" || fail "the retry: wrong content"
ok "slapd back: the retry is delivered encrypted"

! grep -E 'Panic|Fatal|segfault|killed with signal' "$log" || fail "crash in the log"
done_testing
