#!/bin/bash
# large.sh - a 100 MB message over LMTP is stored encrypted, opens with
# openssl cms to exactly what was sent, and the LMTP process's peak memory
# does not grow with the message: the plugin encrypts as a stream.  A
# 20 MB IMAP APPEND, read from the network as it comes, is encrypted too.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/dovecot/dovecot.sh"
. "$SMK_TEST_SRCDIR/dovecot/plugin.sh"

# One LMTP process for all deliveries (it stays between them), so that the
# peak of the big one is compared with the peak of the small ones.
plugin_setup dc
cat >> "$(dovecot_dir dc)/local.conf" <<'EOF'
service lmtp {
  process_limit = 1
}
EOF
dovecot_start dc
log=$(dovecot_log dc)

# big MARKER MB OUT: a message with MB megabytes of base64 text lines
big() {
	{
		printf '%s\n' "From: s@example.org" "To: alice@example.org" "Subject: big-$1" \
			"MIME-Version: 1.0" "Content-Type: application/octet-stream" \
			"Content-Transfer-Encoding: base64" ""
		head -c $(($2 * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 76
	} > "$3"
}

# peak: VmHWM (kB) of the LMTP process that logged the last encryption
peak() {
	local pid
	pid=$(grep 'smimekit: encrypted to serial' "$log" | tail -1 | sed -n 's/^.* lmtp([^)]*)<\([0-9]*\)>.*$/\1/p')
	[ -n "$pid" ] || fail "no LMTP pid in the log"
	awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status"
}

big one 1 "$T/1m.eml"
deliver dc "$T/1m.eml" alice@example.org || fail "1 MB: $(cat "$T/lmtp.out")"
deliver dc "$T/1m.eml" alice@example.org || fail "1 MB: $(cat "$T/lmtp.out")"
small=$(peak)

big hundred 100 "$T/100m.eml"
deliver dc "$T/100m.eml" alice@example.org || fail "100 MB: $(cat "$T/lmtp.out")"
large=$(peak)
echo "# LMTP peak RSS: ${small} kB after 1 MB messages, ${large} kB after 100 MB"
# Dovecot's own buffers for a message this size are a few MB; the
# plaintext or ciphertext held whole would be 100 MB or more.
[ $((large - small)) -lt $((16 * 1024)) ] ||
	fail "LMTP peak memory grew by $(((large - small) / 1024)) MB for a 100 MB message"
ok "100 MB over LMTP: peak memory of the LMTP process grows by $(((large - small) / 1024)) MB (< 16 MB)"

f=$(stored dc alice | tail -1)
grep -q '^Content-Type: application/pkcs7-mime; smime-type=enveloped-data' "$f" ||
	fail "100 MB: not stored as S/MIME"
[ "$(stat -c %s "$f")" -gt $((100 * 1024 * 1024)) ] || fail "100 MB: stored file is too small"
open_with "$f" alice-rsa "$T/inner" || fail "100 MB: openssl cms -decrypt: $(cat "$T/cms.err")"
[ "$(expected_body "$T/100m.eml" | sha256sum)" = "$(body_of "$T/inner" | sha256sum)" ] ||
	fail "100 MB: the decrypted body differs"
ok "100 MB: stored encrypted, opens with openssl cms to exactly the body sent"

# IMAP APPEND of 20 MB (smimekit_encrypt = all for bob): the literal
# arrives over the network while the plugin reads it (a non-blocking
# parent stream that often has no data yet).
user_field dc bob smimekit_encrypt=all
big append 20 "$T/20m.eml"
$PY "$IMAP" --port "$(dovecot_imap_port dc)" --password-file "$T/imap.pw" --user bob \
	append INBOX "$T/20m.eml" > /dev/null || fail "APPEND of 20 MB failed"
f=$(stored dc bob | tail -1)
grep -q '^Content-Type: application/pkcs7-mime; smime-type=enveloped-data' "$f" ||
	fail "APPEND: not stored as S/MIME"
open_with "$f" bob "$T/inner" || fail "APPEND: openssl cms -decrypt: $(cat "$T/cms.err")"
[ "$(expected_body "$T/20m.eml" | sha256sum)" = "$(body_of "$T/inner" | sha256sum)" ] ||
	fail "APPEND: the decrypted body differs"
ok "20 MB by IMAP APPEND (a literal read as it arrives): stored encrypted, opens to the body sent"

! grep -E 'Panic|Fatal|segfault|killed with signal' "$log" || fail "crash in the log"
done_testing
