# tests/dovecot/plugin.sh - helpers for the smimekit plugin tests, sourced
# after tests/lib.sh and tests/dovecot/dovecot.sh.
# shellcheck shell=bash

: "${SMK_DOVECOT_PLUGIN:?run through make check}"
[ -f "$SMK_DOVECOT_PLUGIN" ] ||
	fail "$SMK_DOVECOT_PLUGIN is missing: configure --with-dovecot=/usr/lib/dovecot"
need openssl python3

PY=python3
LMTP=$SMK_TEST_SRCDIR/dovecot/lmtp.py
IMAP=$SMK_TEST_SRCDIR/dovecot/imap.py

# plugin_setup NAME [PLUGIN-SETTING-LINE...]: a Dovecot instance with the
# plugin, certificates in files $T/certs/USER.pem (alice: alice-rsa, bob:
# bob, carol: a fresh one; dave and erin have none), addresses
# USER@example.org, and the given extra lines in plugin { }.
plugin_setup() {
	local name=$1 line
	shift
	dovecot_new "$name"
	mkdir -p "$T/certs"
	cp "$C/alice-rsa.pem" "$T/certs/alice.pem"
	cp "$C/bob.pem" "$T/certs/bob.pem"
	if [ ! -f "$T/carol.pem" ]; then
		issue_smime_cert "$T/carol" Carol 0xca401 carol@example.org
	fi
	cp "$T/carol.pem" "$T/certs/carol.pem"
	chmod 755 "$T/certs"
	chmod 644 "$T/certs"/*.pem
	{
		echo 'mail_plugins = $mail_plugins smimekit'
		echo 'plugin {'
		echo "  smimekit_cert = $T/certs/%n.pem"
		echo '  smimekit_address = %n@example.org'
		for line in "$@"; do echo "  $line"; done
		echo '}'
	} > "$(dovecot_dir "$name")/local.conf"
}

# deliver NAME FILE TO... (LMTP over TCP): replies in $T/lmtp.out; status as lmtp.py
deliver() {
	local name=$1 file=$2 s=0 to=()
	shift 2
	for r in "$@"; do to+=(--to "$r"); done
	$PY "$LMTP" --port "$(dovecot_lmtp_port "$name")" --from sender@example.org "${to[@]}" \
		--file "$file" > "$T/lmtp.out" || s=$?
	return $s
}

# stored NAME USER [FOLDER]: the message files of the user's INBOX (or
# maildir++ FOLDER, e.g. .Archive), oldest first: by the time and
# microseconds in the file name (Dovecot sets mtime to the received date,
# in whole seconds, so mtimes tie).
stored() {
	local d f
	d=$(dovecot_maildir "$1" "$2")${3:+/$3}
	for f in "$d"/new/* "$d"/cur/*; do
		if [ -f "$f" ]; then printf "%s %s\n" "${f##*/}" "$f"; fi
	done | sort -t. -k1,1n -k2.2n | cut -d' ' -f2-
}

# count_stored NAME USER
count_stored() { stored "$1" "$2" | grep -c . || true; }

# open_with FILE CERT-NAME OUT: decrypts a stored message with openssl cms
open_with() {
	openssl cms -decrypt -in "$1" -inkey "$C/$2.key" -recip "$C/$2.pem" -out "$3" 2>"$T/cms.err"
}

# message MARKER OUT: a plain test message whose Subject and body carry MARKER
message() {
	printf '%s\n' "From: Sender <sender@example.org>" "To: alice@example.org" \
		"Subject: subject-$1" "Date: Sun, 29 Nov 2026 08:00:00 +0000" "Message-ID: <$1@example.org>" "MIME-Version: 1.0" \
		"Content-Type: text/plain; charset=us-ascii" "" "The body says body-$1." \
		"Second line." > "$2"
}

# alice_stored MARKER: for the fronts' tests (the PKCS#11 module, the
# provider): a Dovecot with the plugin (instance dc) delivers message
# MARKER ($T/m.eml) to alice over LMTP; ALICE_STORED is the file stored,
# checked to be S/MIME enveloped-data.  alice_opened INNER WHAT: INNER,
# what a client opened of it, is the message sent.
alice_stored() {
	plugin_setup dc
	dovecot_start dc
	message "$1" "$T/m.eml"
	deliver dc "$T/m.eml" alice@example.org || fail "LMTP: $(cat "$T/lmtp.out")"
	ALICE_STORED=$(stored dc alice | tail -1)
	[ -n "$ALICE_STORED" ] || fail "no message stored for alice"
	grep -q '^Content-Type: application/pkcs7-mime; smime-type=enveloped-data' "$ALICE_STORED" ||
		fail "not stored as S/MIME: $(head -20 "$ALICE_STORED")"
}
alice_opened() {
	expected_body "$T/m.eml" > "$T/want-body"
	body_of "$1" > "$T/got-body"
	same "$T/want-body" "$T/got-body" "the body of the stored message, $2"
	has_line "$1" '^Content-Type: text/plain; charset=us-ascii' "the inner Content-Type"
}

# user_field NAME USER FIELD=VALUE: dovecot_user_field on a running
# server: auth looks at the passwd-file at most once a second, so wait
# for the next second before the next lookup.
user_field() {
	dovecot_user_field "$@"
	sleep 1.1
}
