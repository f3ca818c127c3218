#!/bin/bash
# multi-rcpt.sh - LMTP with several recipients in one transaction: each
# gets their own ciphertext that only their key opens (Dovecot would
# otherwise hard-link recipient 1's file for the others); a recipient
# without a certificate is handled by smimekit_missing_cert while the
# others are encrypted; a user without the plugin never gets a link of
# someone's ciphertext; copies between a user's own folders keep the
# stored ciphertext.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/dovecot/dovecot.sh"
. "$SMK_TEST_SRCDIR/dovecot/plugin.sh"

plugin_setup dc
dovecot_start dc
inode() { stat -c %i "$1"; }

# alice, bob, carol: three certificates, three ciphertexts
message three "$T/m.eml"
deliver dc "$T/m.eml" alice@example.org bob@example.org carol@example.org ||
	fail "LMTP: $(cat "$T/lmtp.out")"
[ "$(grep -c ' 250 ' "$T/lmtp.out")" = 3 ] || fail "replies: $(cat "$T/lmtp.out")"
fa=$(stored dc alice | tail -1); fb=$(stored dc bob | tail -1); fc=$(stored dc carol | tail -1)
[ "$(inode "$fa")" != "$(inode "$fb")" ] && [ "$(inode "$fb")" != "$(inode "$fc")" ] &&
	[ "$(inode "$fa")" != "$(inode "$fc")" ] || fail "recipients share a file (hard link)"
! cmp -s <(sed '1,/^$/d' "$fa") <(sed '1,/^$/d' "$fb") || fail "alice and bob have the same ciphertext"
open_with "$fa" alice-rsa "$T/ia" || fail "alice cannot open hers"
open_with "$fb" bob "$T/ib" || fail "bob cannot open his"
openssl cms -decrypt -in "$fc" -inkey "$T/carol.key" -recip "$T/carol.pem" -out "$T/ic" 2>/dev/null ||
	fail "carol cannot open hers"
! open_with "$fb" alice-rsa /dev/null || fail "alice's key opens bob's copy"
! open_with "$fa" bob /dev/null || fail "bob's key opens alice's copy"
same "$T/ia" "$T/ib" "alice's and bob's inner entities"
ok "three recipients: three files, three ciphertexts, each opens only with its owner's key"

# dave has no certificate (missing_cert = store): clear, logged; the others encrypted
message nocert "$T/m2.eml"
deliver dc "$T/m2.eml" dave@example.org alice@example.org bob@example.org ||
	fail "LMTP: $(cat "$T/lmtp.out")"
fd=$(stored dc dave | tail -1)
grep -q 'body-nocert' "$fd" || fail "dave's message should be stored as sent"
for u in alice bob; do
	! grep -q 'body-nocert' "$(stored dc $u | tail -1)" || fail "$u's copy is in the clear"
done
grep -q "rcpt dave@example.org: smimekit: stored in the clear: no certificate file $T/certs/dave.pem" \
	"$(dovecot_log dc)" || fail "no log line for dave"
ok "a recipient without certificate is stored in the clear (logged); the others are encrypted"

# with smimekit_missing_cert = tempfail only dave is deferred
user_field dc dave smimekit_missing_cert=tempfail
n_alice=$(count_stored dc alice); n_dave=$(count_stored dc dave)
message tempfail "$T/m3.eml"
s=0; deliver dc "$T/m3.eml" alice@example.org dave@example.org bob@example.org || s=$?
[ "$s" = 75 ] || fail "want 75 (a 4xx), got $s: $(cat "$T/lmtp.out")"
has_line "$T/lmtp.out" '^RCPT alice@example.org 250 ' "alice delivered"
has_line "$T/lmtp.out" '^RCPT dave@example.org 451 ' "dave deferred"
has_line "$T/lmtp.out" '^RCPT bob@example.org 250 ' "bob delivered"
[ "$(count_stored dc dave)" = "$n_dave" ] || fail "something was stored for dave"
[ "$(count_stored dc alice)" = $((n_alice + 1)) ] || fail "alice did not get it"
ok "smimekit_missing_cert = tempfail: that recipient gets 451, nothing stored; the others 250"

# ... and with reject, a permanent 5xx
user_field dc dave smimekit_missing_cert=reject
s=0; deliver dc "$T/m3.eml" dave@example.org alice@example.org || s=$?
[ "$s" = 69 ] || fail "want 69 (a 5xx), got $s: $(cat "$T/lmtp.out")"
has_line "$T/lmtp.out" '^RCPT dave@example.org 552 5.2.2 .*no usable encryption certificate' "dave rejected"
has_line "$T/lmtp.out" '^RCPT alice@example.org 250 ' "alice delivered"
[ "$(count_stored dc dave)" = "$n_dave" ] || fail "something was stored for dave"
ok "smimekit_missing_cert = reject: 552 5.2.2 for that recipient"

# erin without the plugin (userdb mail_plugins=notify, smimekit not in it):
# plaintext, never a link
# of alice's ciphertext, whatever the order
user_field dc erin mail_plugins=notify
message noplugin "$T/m4.eml"
for order in "alice@example.org erin@example.org" "erin@example.org alice@example.org"; do
	# shellcheck disable=SC2086
	deliver dc "$T/m4.eml" $order || fail "LMTP: $(cat "$T/lmtp.out")"
	fe=$(stored dc erin | tail -1); fa=$(stored dc alice | tail -1)
	grep -q 'body-noplugin' "$fe" || fail "erin ($order) did not get the plaintext"
	! grep -q 'body-noplugin' "$fa" || fail "alice ($order) got the plaintext"
	[ "$(inode "$fe")" != "$(inode "$fa")" ] || fail "erin and alice share a file ($order)"
done
ok "a user without the plugin gets the message as sent, never a link of another's ciphertext"

# copies and moves between a user's own folders keep the ciphertext
dovecot_doveadm dc mailbox create -u alice Archive
uid=$(dovecot_doveadm dc search -u alice mailbox INBOX all | tail -1 | awk '{ print $2 }')
before=$(stored dc alice | tail -1)
dovecot_doveadm dc copy -u alice Archive mailbox INBOX uid "$uid"
copy=$(stored dc alice .Archive | head -1)
[ -n "$copy" ] || fail "no copy in Archive"
cmp -s "$before" "$copy" || fail "the copy differs from the stored ciphertext"
[ "$(inode "$before")" = "$(inode "$copy")" ] || echo "# (copy is not a hard link: fine, bytes are equal)"
ok "copying between one's own folders keeps the stored ciphertext"
done_testing
