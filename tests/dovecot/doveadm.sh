#!/bin/bash
# doveadm.sh - the doveadm commands of lib10_doveadm_smimekit_plugin.so on a
# real Dovecot: `smimekit status' says per user what a delivery would do
# and why (-u and -A); `smimekit encrypt' re-saves a mixed mailbox so that
# every message is encrypted, keeps flags, keywords, dates and the order
# by UID (already encrypted mail after the first re-saved message moves
# along unchanged), and a second run changes nothing; a run killed
# midway is finished by the next, nothing lost or doubled; two runs for
# one user never overlap; a user
# without a certificate is refused and keeps their mail as it was.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/dovecot/dovecot.sh"
. "$SMK_TEST_SRCDIR/dovecot/plugin.sh"
need unshare mount

# doveadm loads its plugins from the fixed /usr/lib/dovecot/modules/doveadm
# (not mail_plugin_dir): show it ours, next to the stock ones, through a
# bind mount in a private mount namespace.
plugin=${SMK_DOVECOT_PLUGIN%/*}/lib10_doveadm_smimekit_plugin.so
[ -f "$plugin" ] || fail "$plugin is missing"
mods=$T/doveadm-modules
mkdir "$mods"
for m in /usr/lib/dovecot/modules/doveadm/*.so; do
	[ -e "$m" ] && ln -s "$m" "$mods/"
done
cp "$plugin" "$mods/"
chmod -R a+rX "$mods"
if ! unshare -m true 2>/dev/null; then
	echo "SKIP: no mount namespaces here (unshare -m), doveadm cannot see the plugin"
	exit 77
fi
smk_doveadm() {
	unshare -m sh -c 'mount --bind "$1" /usr/lib/dovecot/modules/doveadm && shift && exec doveadm "$@"' \
		sh "$mods" -c "$(dovecot_dir dc)/dovecot.conf" "$@"
}

plugin_setup dc
dovecot_user_field dc erin smimekit_disabled=yes
dovecot_user_field dc bob smimekit_missing_cert=reject
dovecot_start dc

# status, one user and all (-A)
smk_doveadm -f tab smimekit status -u alice > "$T/st" || fail "status -u alice: $(cat "$T/st")"
has_line "$T/st" '^address	state	action	detail	sources$' "status header"
has_line "$T/st" "^alice@example.org	encrypt	.*	$T/certs/alice.pem: " "alice: encrypt, with the file"
smk_doveadm -f tab smimekit status -A > "$T/st" || fail "status -A: $(cat "$T/st")"
[ "$(grep -c . "$T/st")" = 6 ] || fail "status -A: want 5 users: $(cat "$T/st")"
has_line "$T/st" '^dave	dave@example.org	no certificate	stored in the clear \(smimekit_missing_cert = store\)' "dave: no certificate, stored as sent"
has_line "$T/st" '^erin	[^	]*	disabled	' "erin: disabled"
has_line "$T/st" '^bob	bob@example.org	encrypt	' "bob: encrypt"
ok "doveadm smimekit status: state, action and reason per user (-u, -A)"

# A mixed INBOX for alice: three messages saved while the plugin was off
# for her (flags and a keyword on two), one delivered encrypted.
dovecot_user_field dc alice smimekit_disabled=yes
for i in 1 2 3; do
	message "old$i" "$T/old$i.eml"
	dovecot_doveadm dc save -u alice < "$T/old$i.eml" || fail "save old$i"
done
dovecot_doveadm dc flags add -u alice '\Seen $Label1' mailbox INBOX uid 1
dovecot_doveadm dc flags add -u alice '\Flagged' mailbox INBOX uid 3
dovecot_user_field dc alice smimekit_disabled=no
message new "$T/new.eml"
deliver dc "$T/new.eml" alice@example.org || fail "LMTP: $(cat "$T/lmtp.out")"
dovecot_doveadm dc mailbox create -u alice Archive
message arch "$T/arch.eml"
dovecot_user_field dc alice smimekit_disabled=yes
dovecot_doveadm dc save -u alice -m Archive < "$T/arch.eml"
dovecot_user_field dc alice smimekit_disabled=no
cp "$(stored dc alice | tail -1)" "$T/new-before"

# what each message looks like: flags (without \Recent), keywords, dates,
# Message-ID as IMAP sees them (the Message-ID is hidden with header
# protection only, not here)
state() {
	dovecot_doveadm dc -f tab fetch -u alice 'mailbox flags date.received date.sent hdr.message-id' \
		mailbox '*' all | sed -E -e 's/\\Recent ?//' -e 's/ +	/	/g' | sort
}
state > "$T/before"
order() { dovecot_doveadm dc -f tab fetch -u alice 'uid hdr.message-id' mailbox INBOX all | cut -f2; }
order > "$T/order-before"
[ "$(grep -c 'old[123]@' "$T/before")" = 3 ] || fail "setup: $(cat "$T/before")"

sleep 1	# a received date reset to "now" would show
smk_doveadm -f tab smimekit encrypt -u alice > "$T/enc" 2> "$T/enc.err" || fail "encrypt: $(cat "$T/enc" "$T/enc.err")"
has_line "$T/enc" '^mailbox	encrypted	skipped	moved	failed$' "encrypt's header"
has_line "$T/enc" '^INBOX	3	0	1	0$' "INBOX: 3 encrypted, the encrypted one moved after them"
has_line "$T/enc" '^Archive	1	0	0	0$' "Archive: 1 encrypted"
for f in $(stored dc alice) $(stored dc alice .Archive); do
	grep -q '^Content-Type: application/pkcs7-mime; smime-type=enveloped-data' "$f" ||
		fail "still in the clear after encrypt: $f"
done
for i in 1 2 3; do
	f=$(grep -l "^Message-ID: <old$i@example.org>" $(stored dc alice)) || fail "old$i is gone"
	open_with "$f" alice-rsa "$T/inner" || fail "old$i: cannot decrypt"
	expected_body "$T/old$i.eml" > "$T/want"
	body_of "$T/inner" > "$T/got"
	same "$T/want" "$T/got" "old$i: decrypted body"
done
state > "$T/after"
same "$T/before" "$T/after" "flags, keywords, dates and Message-IDs"
order > "$T/order-after"
same "$T/order-before" "$T/order-after" "the messages' order by UID"
cmp -s "$T/new-before" "$(grep -l "<new@example.org>" $(stored dc alice))" ||
	fail "the message delivered encrypted changed when it moved"
[ "$(count_stored dc alice)" = 4 ] || fail "INBOX: want 4 messages, have $(count_stored dc alice)"
ok "doveadm smimekit encrypt: every message encrypted, flags, keywords, dates and UID order kept"

smk_doveadm -f tab smimekit encrypt -u alice > "$T/enc" 2> "$T/enc.err" || fail "encrypt again"
has_line "$T/enc" '^INBOX	0	4	0	0$' "second run: nothing to do in INBOX"
has_line "$T/enc" '^Archive	0	1	0	0$' "second run: nothing to do in Archive"
state > "$T/after2"
same "$T/before" "$T/after2" "second run: state"
ok "a second run changes nothing"

# Interrupted (SIGKILL, after its progress line for 100 of 250 messages)
# and run again: every message there, all encrypted.  Nothing doubled,
# except possibly the one message being saved at the kill: maildir puts
# the new file in place a moment before it records the GUID the next run
# recognises it by (then that message is there twice, both encrypted).
dovecot_user_field dc carol smimekit_disabled=yes
src=$T/many
mkdir -p "$src/new" "$src/cur" "$src/tmp"
for i in $(seq 250); do
	printf '%s\n' "From: s@example.org" "Subject: many $i" "Message-ID: <many-$i@example.org>" \
		"" "body-many-$i" > "$src/new/$i.eml"
done
chown -R smktest: "$src"
dovecot_doveadm dc import -u carol "maildir:$src" "" all
dovecot_user_field dc carol smimekit_disabled=no
[ "$(count_stored dc carol)" = 250 ] || fail "setup: carol has $(count_stored dc carol) messages"
# (unshare, sh and doveadm are one process: exec, no fork; $! is doveadm)
unshare -m sh -c 'mount --bind "$1" /usr/lib/dovecot/modules/doveadm && shift && exec doveadm "$@"' \
	sh "$mods" -c "$(dovecot_dir dc)/dovecot.conf" smimekit encrypt -u carol > /dev/null 2> "$T/kill.err" &
pid=$!
for _ in $(seq 1000); do
	grep -q 'smimekit encrypt: INBOX: 100/250 messages looked at' "$T/kill.err" && break
	sleep 0.01
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
clear=$( (grep -l '^body-many' $(stored dc carol) || true) | wc -l)
echo "# killed with $clear of 250 messages still in the clear"
smk_doveadm -f tab smimekit encrypt -u carol > "$T/enc" 2> "$T/enc.err" ||
	fail "encrypt after the interruption: $(cat "$T/enc" "$T/enc.err")"
n=$(count_stored dc carol)
[ "$n" = 250 ] || [ "$n" = 251 ] || fail "after the rerun carol has $n messages"
dovecot_doveadm dc -f tab fetch -u carol 'hdr.message-id' mailbox INBOX all | sed 1d | sort -u > "$T/ids"
[ "$(wc -l < "$T/ids")" = 250 ] || fail "after the rerun: $(wc -l < "$T/ids") distinct messages"
[ "$n" = 250 ] || echo "# the message being saved at the kill is there twice"
! grep -l '^body-many' $(stored dc carol) > /dev/null || fail "after the rerun: mail in the clear"
ok "encrypt interrupted and run again: all 250 messages there, all encrypted, none doubled but the one in flight"

# One run per user at a time: with the lock in carol's home taken (as a
# running encrypt holds it), another run is refused and changes nothing.
lockf=$(dovecot_dir dc)/home/carol/.smimekit-encrypt.lock
runuser -u smktest -- "$SMK_PYTHON" -c '
import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)' "$lockf" > "$T/locker.out" 2> /dev/null &
locker=$!
on_exit "kill $locker 2>/dev/null"
for _ in $(seq 200); do grep -q locked "$T/locker.out" && break; sleep 0.05; done
s=0
smk_doveadm smimekit encrypt -u carol > /dev/null 2> "$T/enc.err" || s=$?
kill "$locker"; wait "$locker" 2>/dev/null || true
[ "$s" = 75 ] || fail "a second run: exit $s, want 75 (temporary failure): $(cat "$T/enc.err")"
has_line "$T/enc.err" 'smimekit encrypt: carol: another smimekit encrypt is running for this user' \
	"the reason"
smk_doveadm -f tab smimekit encrypt -u carol > "$T/enc" 2> "$T/enc.err" || fail "after the lock is gone"
has_line "$T/enc" "^INBOX	0	$n	0	0\$" "after the lock is gone: nothing to do"
ok "a second run for the same user while one runs: refused (75), nothing changed"

# dave has no certificate: refused, his mail untouched
message dave "$T/dave.eml"
dovecot_doveadm dc save -u dave < "$T/dave.eml"
before=$(stored dc dave)
s=$(status smk_doveadm smimekit encrypt -u dave 2> "$T/enc.err")
[ "$s" != 0 ] || fail "encrypt without a certificate succeeded"
has_line "$T/enc.err" 'smimekit encrypt: dave: nothing to encrypt to \(no certificate\)' "the reason"
[ "$(stored dc dave)" = "$before" ] && grep -q body-dave "$before" || fail "dave's mail changed"
ok "encrypt for a user without a certificate: refused with the reason, mail unchanged"

! grep -E 'Panic|Fatal|segfault|killed with signal' "$(dovecot_log dc)" || fail "crash in the log"
done_testing
