#!/bin/bash
# settings.sh - the plugin's settings on a real Dovecot, per user through
# userdb fields: a broken setting fails only that user's delivery with a
# 4xx and a log line naming it (an unescaped %s in the filter gets a hint);
# smimekit_disabled; an unreadable or foreign certificate file; the
# recovery certificate; AES-GCM with RSA-OAEP; smimekit_require_trust.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/dovecot/dovecot.sh"
. "$SMK_TEST_SRCDIR/dovecot/plugin.sh"

plugin_setup dc
dovecot_start dc
log=$(dovecot_log dc)

# deliver_one MARKER USER...: a fresh message to USERs, replies in $T/lmtp.out
deliver_one() {
	local m=$1
	shift
	message "$m" "$T/$m.eml"
	deliver dc "$T/$m.eml" "$@"
}
# tempfailed USER WHAT: USER's RCPT or DATA got a 451, nothing was stored
tempfailed() {
	grep -Eq "^(RCPT|DATA) $1@example.org 451 " "$T/lmtp.out" ||
		fail "$2: want 451 for $1: $(cat "$T/lmtp.out")"
}

# 1. A broken setting for bob: his delivery 451, alice's in the same
# transaction 250; the log names the setting.
user_field dc bob smimekit_cipher=rot13
n=$(count_stored dc bob)
deliver_one broken bob@example.org alice@example.org || true
tempfailed bob "smimekit_cipher = rot13"
has_line "$T/lmtp.out" '^(RCPT|DATA) alice@example.org 250 ' "alice delivered next to bob"
[ "$(count_stored dc bob)" = "$n" ] || fail "bob: stored despite the broken setting"
has_line "$log" 'smimekit: configuration error: smimekit_cipher = rot13: not aes-256-cbc' "log names the setting"
user_field dc bob smimekit_cipher=aes-256-cbc
ok "a broken setting: that user 451 with the setting in the log, the others delivered"

# 2. smimekit_disabled = yes: stored as sent
user_field dc carol smimekit_disabled=yes
deliver_one disabled carol@example.org || fail "disabled: $(cat "$T/lmtp.out")"
grep -q body-disabled "$(stored dc carol | tail -1)" || fail "disabled: not stored as sent"
user_field dc carol smimekit_disabled=no
ok "smimekit_disabled = yes: stored as sent"

# 3. dave's certificate file: garbage (451: an administrator's mistake,
# not "no certificate"), then someone else's certificate (not usable for
# dave@: smimekit_missing_cert, here store, logged with the reason).
head -c 600 /dev/urandom > "$T/certs/dave.pem"
deliver_one garbage dave@example.org || true
tempfailed dave "garbage certificate file"
has_line "$log" "rcpt dave@example.org: smimekit: .*$T/certs/dave.pem" "the garbage file in the log"
cp "$C/bob.pem" "$T/certs/dave.pem"
deliver_one foreign dave@example.org || fail "foreign: $(cat "$T/lmtp.out")"
grep -q body-foreign "$(stored dc dave | tail -1)" || fail "foreign: not stored as sent"
has_line "$log" "smimekit: stored in the clear: no usable certificate in $T/certs/dave.pem \\(.*not dave@example.org" \
	"the foreign certificate's reason"
rm -f "$T/certs/dave.pem"
ok "a garbage certificate file: 451; someone else's certificate: not used, logged"

# 4. A recovery certificate: alice's key and the recovery key both open it
issue_smime_cert "$T/recovery" Recovery 0x5ec0 recovery@example.org
chmod 644 "$T/recovery.pem"
user_field dc alice smimekit_recovery_cert="$T/recovery.pem"
deliver_one recovery alice@example.org || fail "recovery: $(cat "$T/lmtp.out")"
f=$(stored dc alice | tail -1)
open_with "$f" alice-rsa "$T/a.out" || fail "recovery: alice cannot open it"
openssl cms -decrypt -in "$f" -inkey "$T/recovery.key" -recip "$T/recovery.pem" -out "$T/r.out" ||
	fail "recovery: the recovery key cannot open it"
same "$T/a.out" "$T/r.out" "alice's and the recovery key's plaintext"
has_line "$log" "rcpt alice@example.org: smimekit: encrypted to serial $(openssl x509 -in "$C/alice-rsa.pem" -noout -serial | cut -d= -f2), recovery 5EC0 \\(" \
	"the log names both serials"
ok "smimekit_recovery_cert: both the owner's and the recovery key open the message"

# 5. AES-256-GCM (authEnveloped-data) with RSA-OAEP for bob
user_field dc bob smimekit_cipher=aes-256-gcm
user_field dc bob smimekit_rsa_padding=oaep
deliver_one gcm bob@example.org || fail "gcm: $(cat "$T/lmtp.out")"
f=$(stored dc bob | tail -1)
has_line "$f" '^Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data' "GCM content type"
open_with "$f" bob "$T/g.out" || fail "gcm: openssl cms cannot open it: $(cat "$T/cms.err")"
grep -q body-gcm "$T/g.out" || fail "gcm: wrong content"
body_der "$f" "$T/gcm.der"
openssl cms -cmsout -inform DER -in "$T/gcm.der" -print > "$T/gcm.txt"
grep -q 'rsaesOaep' "$T/gcm.txt" || fail "gcm: the key is not wrapped with RSA-OAEP"
has_line "$log" 'rcpt bob@example.org: smimekit: encrypted to serial [0-9A-F]+ \(aes-256-gcm' "the log names the cipher"
ok "smimekit_cipher = aes-256-gcm, smimekit_rsa_padding = oaep: opens with openssl cms"

# 6. smimekit_require_trust: the test CA as anchor encrypts; an unrelated
# anchor leaves carol without a usable certificate (store, logged).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other-ca.key" -subj "/CN=Other CA" \
	-days 30 -out "$T/other-ca.pem" 2>/dev/null
chmod 644 "$T/other-ca.pem"
user_field dc carol smimekit_require_trust=yes
user_field dc carol smimekit_trust_anchors="$C/ca.pem"
deliver_one trusted carol@example.org || fail "trusted: $(cat "$T/lmtp.out")"
grep -q '^Content-Type: application/pkcs7-mime' "$(stored dc carol | tail -1)" || fail "trusted: not encrypted"
user_field dc carol smimekit_trust_anchors="$T/other-ca.pem"
deliver_one untrusted carol@example.org || fail "untrusted: $(cat "$T/lmtp.out")"
grep -q body-untrusted "$(stored dc carol | tail -1)" || fail "untrusted: should be stored as sent"
has_line "$log" "rcpt carol@example.org: smimekit: stored in the clear: no usable certificate in .*carol.pem" \
	"the untrusted certificate's reason"
ok "smimekit_require_trust: a chain to the anchor encrypts, none does not"

# 7. An unescaped %s in the filter is expanded by Dovecot (to the service
# name) before the plugin sees it: refused, with the hint to write %%s.
printf '%s\n' 'plugin {' '  smimekit_ldap_filter = (mail=%s)' '}' >> "$(dovecot_dir dc)/local.conf"
dovecot_restart dc
deliver_one filter carol@example.org || true
tempfailed carol "filter without %s"
has_line "$log" 'smimekit_ldap_filter = \(mail=lmtp\) has no %s: Dovecot expands %variables in plugin settings, so write %%s' \
	"the hint for %%s"
ok "smimekit_ldap_filter with a bare %s: 451 and a log line saying to write %%s"

! grep -E 'Panic|Fatal|segfault|killed with signal' "$log" || fail "crash in the log"
done_testing
