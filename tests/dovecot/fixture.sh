#!/bin/bash
# fixture.sh - the Dovecot test fixture (tests/dovecot/dovecot.sh, lmtp.py,
# imap.py) with stock Dovecot only: every way mail gets into a mailbox, what
# Dovecot does to line ends, LMTP's hard links, userdb fields, restarts, and
# a stock storage plugin (mail_crypt) loaded through local.conf.
#
# How Dovecot 2.3.19 (maildir) stores and returns line ends, as checked here:
# - The maildir file has LF line ends, whatever came in: CRLF from LMTP
#   (always CRLF on the wire), LF or CRLF from dovecot-lda, doveadm save and
#   IMAP APPEND all end up LF.  A CR not followed by LF stays as it is.
#   The file name says ,S=<bytes in the file>,W=<size with CRLF line ends>.
# - IMAP returns every line end as CRLF (BODY[]); RFC822.SIZE is the W=
#   size, the length of BODY[] as sent, not the file's size.
# - LMTP adds Return-Path and Received at the top; with one recipient also
#   Delivered-To.  dovecot-lda, doveadm save and APPEND add nothing.
# - LMTP with several recipients saves the mail once, for the first, and
#   gives the others hard links to that file (same inode): without
#   Delivered-To, since the bytes are shared.  A storage plugin that
#   encrypts per user must make Dovecot write each copy itself.
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
. "${SMK_TEST_SRCDIR:?}/lib.sh"
# shellcheck source=dovecot/dovecot.sh
. "$SMK_TEST_SRCDIR/dovecot/dovecot.sh"

lmtp() { dovecot_lmtp dc "$@"; }
imap() { dovecot_imap dc "$@"; }
B=$T/bodies
mkdir "$B"

# crlf FILE: FILE with every line end CRLF (as IMAP returns it).
crlf() { sed -e 's/\r$//' -e 's/$/\r/' "$1"; }
# lf FILE: FILE with every CRLF made LF (as maildir stores it).
lf() { sed -e 's/\r$//' "$1"; }
# body USER UID: BODY[] of the message UID in USER's INBOX into $B/USER.UID.
body() { imap "$1" fetch INBOX "$2" --body "$B/$1.$2" || fail "fetch $1 $2"; }
# count USER: messages in USER's INBOX.
count() { imap "$1" list INBOX | wc -l; }
# file_of USER UID: the maildir file of the message UID in USER's INBOX.
file_of() {
	local m f
	m=$(dovecot_maildir dc "$1")
	# dovecot-uidlist: a header line ("3 V... N... G...": version 3), then
	# "UID [EXTENSIONS] :BASENAME"; in cur/ the name goes on with ":2,FLAGS".
	f=$(awk -v u="$2" 'NR > 1 && $1 == u { sub(/^[^:]*:/, ""); print }' "$m/dovecot-uidlist")
	[ -n "$f" ] || return 0
	for f in "$m/new/$f" "$m/cur/$f:"*; do
		[ -f "$f" ] && echo "$f" && return 0
	done
	return 0
}
# ends_with FILE TAIL WHAT: FILE's last bytes are TAIL.
ends_with() {
	local n
	n=$(wc -c <"$2")
	tail -c "$n" "$1" >"$T/tail.out"
	same "$T/tail.out" "$2" "$3"
}
# sizes USER: for every message fetched with body: RFC822.SIZE and the
# maildir W= are the length of BODY[], S= the file's, and the file is BODY[]
# with LF line ends.  Counts the messages checked in $checked.
checked=0
sizes() {
	local line uid size n f
	imap "$1" list INBOX >"$T/list" || fail "list $1"
	while read -r line; do
		uid=${line%% *}
		size=${line##* }
		[ -f "$B/$1.$uid" ] || continue
		n=$(wc -c <"$B/$1.$uid")
		[ "$size" = "$n" ] || fail "$1 $uid: RFC822.SIZE $size, BODY[] has $n bytes"
		f=$(file_of "$1" "$uid")
		[ -f "$f" ] || fail "$1 $uid: no maildir file"
		case $f in *",S=$(wc -c <"$f"),W=$n"*) ;; *) fail "$1 $uid: file $f, BODY[] $n bytes" ;; esac
		lf "$B/$1.$uid" >"$T/stored.want"
		same "$f" "$T/stored.want" "$1 $uid: the maildir file is BODY[] with LF line ends"
		checked=$((checked + 1))
	done <"$T/list"
}

# A message with LF line ends, a line to dot-stuff, 8-bit text and a lone CR.
printf '%s\n' 'From: Sender <sender@example.org>' 'To: alice@example.org' \
	'Subject: fixture test' 'Message-ID: <fixture-1@example.org>' 'MIME-Version: 1.0' \
	'Content-Type: text/plain; charset=utf-8' 'Content-Transfer-Encoding: 8bit' '' \
	'First line.' '.a line that starts with a dot' '..and two' '.' 'Grüße, ça va?' >"$T/msg.lf"
printf 'a lone CR\rin a line\n\nlast line\n' >>"$T/msg.lf"
crlf "$T/msg.lf" >"$T/msg.crlf"
{ grep -q $'\r' "$T/msg.lf" && [ "$(grep -c $'\r$' "$T/msg.crlf")" = "$(wc -l <"$T/msg.crlf")" ]; } ||
	fail "test message"

# --- start ---------------------------------------------------------------
dovecot_new dc
D=$(dovecot_dir dc)
{ [ -f "$D/dovecot.conf" ] && [ -f "$D/users" ]; } || fail "dovecot_new: files"
[ -L "$D/modules/lib10_mail_crypt_plugin.so" ] || fail "modules: no mail_crypt link"
if [ -n "${SMK_DOVECOT_PLUGIN:-}" ] && [ -f "$SMK_DOVECOT_PLUGIN" ]; then
	[ "$(readlink "$D/modules/lib90_smimekit_plugin.so")" = "$SMK_DOVECOT_PLUGIN" ] ||
		fail "modules: no link to $SMK_DOVECOT_PLUGIN"
fi
{ [ "$(stat -c %a "$T/imap.pw")" = 600 ] && [ -s "$T/imap.pw" ]; } || fail "imap.pw"
dovecot_user_field dc alice smimekit_test_field=hello	# before the start
dovecot_user_field dc alice smimekit_other=1
dovecot_start dc
LP=$(dovecot_lmtp_port dc)
IP=$(dovecot_imap_port dc)
{ [[ $LP =~ ^[0-9]+$ ]] && [[ $IP =~ ^[0-9]+$ ]] && [ "$LP" != "$IP" ]; } || fail "ports $LP $IP"
[ -S "$(dovecot_lmtp_socket dc)" ] || fail "no LMTP socket $(dovecot_lmtp_socket dc)"
[ "$(stat -c %a "$(dovecot_lmtp_socket dc)")" = 666 ] || fail "LMTP socket mode"
[ "$(dovecot_maildir dc alice)" = "$D/mail/alice" ] || fail "dovecot_maildir"
[ "$(dovecot_log dc)" = "$D/dovecot.log" ] || fail "dovecot_log"
ok "Dovecot up: LMTP 127.0.0.1:$LP and $(dovecot_lmtp_socket dc), IMAP 127.0.0.1:$IP"

# --- LMTP over TCP, one recipient ---------------------------------------------
lmtp --from sender@example.org --to alice@example.org --file "$T/msg.lf" >"$T/out" ||
	{ cat "$T/out" >&2; fail "lmtp.py --port"; }
has_line "$T/out" '^RCPT alice@example.org 250 2\.0\.0 .*Saved' "lmtp.py reply"
body alice 1
ends_with "$B/alice.1" "$T/msg.crlf" "LMTP TCP: BODY[] ends with the message, CRLF"
head -n 2 "$B/alice.1" >"$T/hdr"
has_line "$T/hdr" $'^Return-Path: <sender@example.org>\r$' "LMTP adds Return-Path"
has_line "$T/hdr" $'^Delivered-To: alice@example.org\r$' "LMTP adds Delivered-To (one recipient)"
ok "LMTP (TCP) to alice: stored with LF, returned with CRLF, trace fields added"

# --- LMTP over the unix socket, from standard input, CRLF in ------------------
lmtp --socket --from sender@example.org --to bob@example.org \
	<"$T/msg.crlf" >"$T/out" || { cat "$T/out" >&2; fail "lmtp.py --socket"; }
body bob 1
ends_with "$B/bob.1" "$T/msg.crlf" "LMTP socket: BODY[]"
ok "LMTP (unix socket) to bob: the same from CRLF input"

# --- one transaction, three recipients and an unknown one ---------------------
s=0
lmtp --from sender@example.org --to alice@example.org --to bob@example.org \
	--to nobody@example.org --to carol@example.org --file "$T/msg.lf" >"$T/out" || s=$?
[ "$s" = 69 ] || { cat "$T/out" >&2; fail "lmtp.py with an unknown recipient: status $s"; }
[ "$(wc -l <"$T/out")" = 4 ] || { cat "$T/out" >&2; fail "lmtp.py: a line per recipient"; }
has_line "$T/out" '^RCPT alice@example.org 250 ' "recipient 1"
has_line "$T/out" '^RCPT bob@example.org 250 ' "recipient 2"
has_line "$T/out" '^RCPT nobody@example.org 550 5\.1\.1 ' "unknown recipient"
has_line "$T/out" '^RCPT carol@example.org 250 ' "recipient 3"
fa=$(file_of alice 2)
fb=$(file_of bob 2)
fc=$(file_of carol 1)
{ [ -n "$fa" ] && [ -n "$fb" ] && [ -n "$fc" ]; } || fail "maildir files of the 3 recipients"
ia=$(stat -c %i "$fa")
{ [ "$(stat -c %i "$fb")" = "$ia" ] && [ "$(stat -c %i "$fc")" = "$ia" ] &&
	[ "$(stat -c %h "$fa")" = 3 ]; } || fail "LMTP: recipients 2 and 3 are not hard links of 1"
body alice 2
body bob 2
body carol 1
same "$B/alice.2" "$B/bob.2" "the recipients' copies"
same "$B/alice.2" "$B/carol.1" "the recipients' copies"
lacks "$B/alice.2" '^Delivered-To:' "no Delivered-To with several recipients"
ends_with "$B/carol.1" "$T/msg.crlf" "3 recipients: BODY[]"
ok "LMTP: 3 recipients in one transaction share one file (hard links, inode $ia)"

# --- dovecot-lda ------------------------------------------------------------
dovecot_lda dc -d carol -f sender@example.org <"$T/msg.lf" >"$T/out" 2>&1 ||
	{ cat "$T/out" >&2; fail "dovecot-lda"; }
body carol 2
same "$B/carol.2" "$T/msg.crlf" "dovecot-lda: BODY[]"
ok "dovecot-lda to carol: nothing added, CRLF out"

# --- doveadm save ---------------------------------------------------------------
dovecot_doveadm dc save -u dave <"$T/msg.crlf" >"$T/out" 2>&1 || { cat "$T/out" >&2; fail "doveadm save"; }
body dave 1
same "$B/dave.1" "$T/msg.crlf" "doveadm save: BODY[]"
ok "doveadm save -u dave"

# --- IMAP APPEND (bytes as they are: LF) -----------------------------------------
imap erin append INBOX "$T/msg.lf" --flags '\Seen' >"$T/out" || fail "APPEND"
has_line "$T/out" '^[0-9]+ 1$' "APPENDUID"
[[ $(imap erin list INBOX) =~ ^1\ \(.*\\Seen.*\)\ [0-9]+$ ]] || fail "erin: $(imap erin list INBOX)"
body erin 1
same "$B/erin.1" "$T/msg.crlf" "APPEND: BODY[]"
imap erin store INBOX 1 +FLAGS '\Flagged' >"$T/out" || fail "STORE"
has_line "$T/out" '^\* 1 FETCH \(UID 1 FLAGS \(.*\\Flagged' "STORE output"
imap erin fetch INBOX 1 --item BODYSTRUCTURE >"$T/out" || fail "BODYSTRUCTURE"
has_line "$T/out" '^\* 1 FETCH \(UID 1 BODYSTRUCTURE \("text" "plain" \("charset" "utf-8"\)' "BODYSTRUCTURE"
ok "IMAP APPEND to erin (LF in: stored LF, CRLF out), STORE, BODYSTRUCTURE"

# --- what the clients refuse ---------------------------------------------------
s=0
imap erin fetch INBOX 99 --body "$T/x" 2>"$T/err" || s=$?
{ [ "$s" = 1 ] && grep -q 'no message with UID 99' "$T/err"; } || fail "fetch of a missing UID: $s"
s=0
imap erin list NoSuchBox 2>"$T/err" || s=$?
{ [ "$s" = 1 ] && grep -q ' NO ' "$T/err"; } || fail "list of a missing mailbox: $s"
printf 'wrong\n' >"$T/wrong.pw"
s=0
"$SMK_PYTHON" "$SMK_TEST_SRCDIR/dovecot/imap.py" --port "$IP" --user erin \
	--password-file "$T/wrong.pw" list INBOX 2>"$T/err" || s=$?
{ [ "$s" = 1 ] && grep -q 'AUTHENTICATIONFAILED' "$T/err"; } || fail "wrong password: $s"
ok "imap.py fails on NO and missing messages"

# --- a message over 128 kB: LMTP spools it in mail_temp_dir -------------------------
{
	printf 'Subject: large\n\n'
	for i in $(seq 4000); do printf 'line %05d of a large message, some text to make it longer\n' "$i"; done
} >"$T/large.lf"
lmtp --from sender@example.org --to dave@example.org --file "$T/large.lf" >"$T/out" ||
	{ cat "$T/out" >&2; fail "lmtp.py large"; }
body dave 2
crlf "$T/large.lf" >"$T/large.crlf"
ends_with "$B/dave.2" "$T/large.crlf" "large message"
[ -z "$(ls -A "$D/tmp")" ] || fail "mail_temp_dir not empty: $(ls -A "$D/tmp")"
ok "LMTP of $(wc -c <"$T/large.lf") bytes"

# --- the sizes of all of it ----------------------------------------------------
[ "$(imap carol fetch INBOX 2 --item RFC822.SIZE)" = "* 2 FETCH (UID 2 RFC822.SIZE $(wc -c <"$B/carol.2"))" ] ||
	fail "fetch --item RFC822.SIZE: $(imap carol fetch INBOX 2 --item RFC822.SIZE)"
for u in alice bob carol dave erin; do
	sizes $u
done
[ "$checked" = 9 ] || fail "sizes: $checked messages checked"
ok "RFC822.SIZE = maildir W= = length of BODY[]; the file = BODY[] with LF (9 messages)"

# --- userdb fields -------------------------------------------------------------
[ "$(dovecot_doveadm dc user -f smimekit_test_field alice)" = hello ] ||
	fail "user field: $(dovecot_doveadm dc user alice)"
# A change while it runs (the same length: only the mtime tells).  Auth
# looks at the file at most once a second: this can take a second.
dovecot_user_field dc alice smimekit_test_field=world
[ "$(dovecot_doveadm dc user -f smimekit_test_field alice@example.org)" = world ] ||
	fail "user field changed: $(dovecot_doveadm dc user alice)"
dovecot_doveadm dc user alice >"$T/out"
has_line "$T/out" $'^smimekit_other\t1$' "second field"
[ "$(grep -c smimekit_test_field "$T/out")" = 1 ] || fail "the field replaced"
dovecot_doveadm dc user bob >"$T/out"
lacks "$T/out" 'smimekit' "bob has no field"
has_line "$T/out" $'^home\t'"$D/home/bob"'$' "bob's home"
has_line "$T/out" $'^mail\tmaildir:'"$D/mail/bob"'$' "bob's mail"
has_line "$T/out" $'^uid\t'"$(id -u smktest)"'$' "bob's uid"
ok "dovecot_user_field: auth reads the passwd-file again"

# --- restart ----------------------------------------------------------------------
dovecot_restart dc
{ [ "$(dovecot_lmtp_port dc)" = "$LP" ] && [ "$(dovecot_imap_port dc)" = "$IP" ]; } || fail "restart: ports"
{ [ "$(count alice)" = 2 ] && [ "$(count dave)" = 2 ]; } || fail "restart: mail"
[ "$(dovecot_doveadm dc user -f smimekit_test_field alice)" = world ] || fail "restart: field"
ok "restart on the same ports"

# --- mail_crypt through local.conf ----------------------------------------------------
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$D/ec.key" 2>/dev/null
openssl pkey -in "$D/ec.key" -pubout -out "$D/ec.pub" 2>/dev/null
cat >"$D/local.conf" <<EOF
mail_plugins = \$mail_plugins mail_crypt
plugin {
  mail_crypt_global_private_key = <$D/ec.key
  mail_crypt_global_public_key = <$D/ec.pub
  mail_crypt_save_version = 2
}
EOF
for p in imap lmtp lda doveadm; do
	[ "$(doveconf -c "$D/dovecot.conf" -f protocol=$p -h mail_plugins 2>&1)" = " mail_crypt" ] ||
		fail "mail_plugins for $p: $(doveconf -c "$D/dovecot.conf" -f protocol=$p -h mail_plugins 2>&1)"
done
dovecot_restart dc
lmtp --from sender@example.org --to erin@example.org --file "$T/msg.lf" >"$T/out" ||
	{ cat "$T/out" >&2; fail "lmtp.py with mail_crypt"; }
dovecot_lda dc -d erin -f sender@example.org <"$T/msg.lf" || fail "dovecot-lda with mail_crypt"
for n in 2 3; do
	f=$(file_of erin $n)
	[ "$(head -c 7 "$f")" = CRYPTED ] || fail "mail_crypt: $f is not encrypted"
	if grep -q 'fixture test' "$f"; then fail "mail_crypt: plaintext in $f"; fi
	body erin $n
done
ends_with "$B/erin.2" "$T/msg.crlf" "mail_crypt: LMTP mail over IMAP"
same "$B/erin.3" "$T/msg.crlf" "mail_crypt: LDA mail over IMAP"
[ "$(imap erin fetch INBOX 2 --item RFC822.SIZE)" = "* 2 FETCH (UID 2 RFC822.SIZE $(wc -c <"$B/erin.2"))" ] ||
	fail "mail_crypt: RFC822.SIZE"
mv "$B/erin.1" "$T/erin.1.before"
body erin 1
same "$B/erin.1" "$T/erin.1.before" "mail_crypt: the older plaintext mail"
ok "mail_crypt via local.conf: stored encrypted (CRYPTED...), IMAP gives the plaintext"

# --- stop -------------------------------------------------------------------------
pid=$(cat "$D/run/master.pid")
dovecot_stop dc
! kill -0 "$pid" 2>/dev/null || [ "$(sed 's/.*) //' "/proc/$pid/stat" | cut -c1)" = Z ] ||
	fail "the master still runs"
[ -z "$(pgrep -f "^dovecot-smk-$(cat "$D/token")/" || true)" ] || fail "services left"
if _dovecot_port_busy "$LP" || _dovecot_port_busy "$IP"; then fail "a port is still open"; fi
dovecot_stop dc	# again: nothing to do
ok "stop: no process left, ports closed"

done_testing
