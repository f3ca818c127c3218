#!/bin/bash
# delivery.sh - the plugin on every delivery path of a real Dovecot: LMTP
# over TCP and a unix socket, dovecot-lda, doveadm save and import, IMAP APPEND (with
# smimekit_encrypt = all); every stored message opens with openssl cms,
# gpgsm and NSS cmsutil and holds what was sent; IMAP FETCH sizes agree;
# with header protection no marker of body or Subject is anywhere in the
# mail directory, index and cache included.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/dovecot/dovecot.sh"
. "$SMK_TEST_SRCDIR/dovecot/plugin.sh"
need gpgsm cmsutil certutil pk12util

plugin_setup dc
dovecot_user_field dc alice smimekit_protect_headers=yes
dovecot_user_field dc bob smimekit_encrypt=all
dovecot_start dc
pw=$T/imap.pw
imap() { $PY "$IMAP" --port "$(dovecot_imap_port dc)" --password-file "$pw" "$@"; }

# check_stored FILE CERT ORIGINAL WHAT: the stored FILE is S/MIME and opens
# with CERT's key to ORIGINAL's Content-* fields and body
check_stored() {
	local file=$1 cert=$2 orig=$3 what=$4
	grep -q '^Content-Type: application/pkcs7-mime; smime-type=enveloped-data' "$file" ||
		fail "$what: not stored as S/MIME: $(head -20 "$file")"
	open_with "$file" "$cert" "$T/inner" || fail "$what: openssl cms -decrypt: $(cat "$T/cms.err")"
	expected_body "$orig" > "$T/want-body"
	body_of "$T/inner" > "$T/got-body"
	same "$T/want-body" "$T/got-body" "$what: decrypted body"
}

# 1. LMTP over TCP, to alice (header protection on)
message lmtp-tcp "$T/m1.eml"
deliver dc "$T/m1.eml" alice@example.org || fail "LMTP: $(cat "$T/lmtp.out")"
f=$(stored dc alice | tail -1)
check_stored "$f" alice-rsa "$T/m1.eml" "LMTP TCP"
has_line "$f" '^Subject: \[\.\.\.\]$' "outer Subject hidden"
has_line "$T/inner" '^Subject: subject-lmtp-tcp'$'\r''$' "inner Subject"
has_line "$f" '^Return-Path: <sender@example.org>$' "delivery header stays outside"
grep -q "smimekit: encrypted to serial $(openssl x509 -in "$C/alice-rsa.pem" -noout -serial | cut -d= -f2) (aes-256-cbc, header protection)" \
	"$(dovecot_log dc)" || fail "no info line for the encrypted message"
ok "LMTP over TCP: stored encrypted, opens with openssl cms"

# 2. LMTP over the unix socket, to bob
message lmtp-unix "$T/m2.eml"
$PY "$LMTP" --socket "$(dovecot_lmtp_socket dc)" --from s@example.org --to bob@example.org \
	--file "$T/m2.eml" > "$T/lmtp.out" || fail "LMTP socket: $(cat "$T/lmtp.out")"
check_stored "$(stored dc bob | tail -1)" bob "$T/m2.eml" "LMTP unix socket"
ok "LMTP over a unix socket"

# 3. dovecot-lda, to carol
message lda "$T/m3.eml"
dovecot_lda dc -d carol -f s@example.org < "$T/m3.eml" || fail "dovecot-lda failed"
f=$(stored dc carol | tail -1)
grep -q '^Content-Type: application/pkcs7-mime' "$f" || fail "dovecot-lda: stored in the clear"
openssl cms -decrypt -in "$f" -inkey "$T/carol.key" -recip "$T/carol.pem" -out "$T/inner" ||
	fail "dovecot-lda: cannot decrypt"
grep -q 'body-lda' "$T/inner" || fail "dovecot-lda: wrong content"
ok "dovecot-lda"

# 4. doveadm save, to alice
message save "$T/m4.eml"
dovecot_doveadm dc save -u alice < "$T/m4.eml" || fail "doveadm save failed"
check_stored "$(stored dc alice | tail -1)" alice-rsa "$T/m4.eml" "doveadm save"
ok "doveadm save"

# 4b. doveadm import from another mail store, to alice
src=$T/import
mkdir -p "$src/new" "$src/cur" "$src/tmp"
message import "$src/new/1.eml"
chown -R smktest: "$src"
dovecot_doveadm dc import -u alice "maildir:$src" "" all || fail "doveadm import failed"
check_stored "$(stored dc alice | tail -1)" alice-rsa "$src/new/1.eml" "doveadm import"
ok "doveadm import"

# 5. IMAP APPEND: encrypted for bob (smimekit_encrypt = all), not for
# alice (delivery only: a client's own APPEND is stored as sent)
message append "$T/m5.eml"
imap --user bob append INBOX "$T/m5.eml" > /dev/null
check_stored "$(stored dc bob | tail -1)" bob "$T/m5.eml" "IMAP APPEND (all)"
imap --user alice append INBOX "$T/m5.eml" > /dev/null
f=$(stored dc alice | tail -1)
grep -q 'body-append' "$f" || fail "APPEND by alice should be stored as sent"
ok "IMAP APPEND encrypted with smimekit_encrypt = all, as sent with delivery"

# 6. Stock clients open what LMTP stored for alice: gpgsm and NSS
export GNUPGHOME=$T/gnupg
mkdir -m 700 "$GNUPGHOME"
on_exit 'gpgconf --kill all'
echo test | gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 --import "$C/alice-rsa.p12" \
	2>/dev/null || fail "gpgsm import"
mkdir "$T/nss"
certutil -N -d "sql:$T/nss" --empty-password
pk12util -i "$C/alice-rsa.p12" -d "sql:$T/nss" -W test > /dev/null
first=$(stored dc alice | head -1)
body_der "$first" "$T/first.der"
echo test | gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 --decrypt \
	--output "$T/gpgsm.out" "$T/first.der" 2>/dev/null || fail "gpgsm cannot decrypt"
cmsutil -D -i "$T/first.der" -d "sql:$T/nss" -o "$T/nss.out" 2>/dev/null || fail "cmsutil cannot decrypt"
open_with "$first" alice-rsa "$T/openssl.out"
same "$T/openssl.out" "$T/gpgsm.out" "gpgsm vs openssl"
same "$T/openssl.out" "$T/nss.out" "NSS vs openssl"
ok "the stored message opens with gpgsm and NSS cmsutil too"

# 7. IMAP FETCH: sizes agree with the stored ciphertext; BODY[] decrypts
imap --user alice list INBOX > "$T/list"
uid=$(head -1 "$T/list" | cut -d' ' -f1)
imap --user alice fetch INBOX "$uid" --body "$T/fetched.eml"
size=$(head -1 "$T/list" | awk '{ print $NF }')
[ "$size" = "$(wc -c < "$T/fetched.eml")" ] ||
	fail "RFC822.SIZE $size but BODY[] has $(wc -c < "$T/fetched.eml") bytes"
imap --user alice fetch INBOX "$uid" --item BODYSTRUCTURE > "$T/bs"
grep -qi '"application" "pkcs7-mime"' "$T/bs" || fail "BODYSTRUCTURE: $(cat "$T/bs")"
check_stored "$T/fetched.eml" alice-rsa "$T/m1.eml" "IMAP BODY[]"
imap --user alice fetch INBOX "$uid" --item RFC822.SIZE > "$T/sz"
grep -q "RFC822.SIZE $size" "$T/sz" || fail "RFC822.SIZE again: $(cat "$T/sz")"
! grep -Ei 'Cached message size|cache.*corrupt|Broken physical size' "$(dovecot_log dc)" ||
	fail "cache size errors in the log"
ok "IMAP FETCH RFC822.SIZE, BODYSTRUCTURE and BODY[] agree; no cache errors"

# 8. Nothing of the protected body or Subject anywhere in alice's mail
# directory (message files, index, cache, uidlist).  (The APPEND she
# stored herself in step 5 is plaintext by design: leave it out.)
imap --user alice fetch INBOX "$uid" --item 'ENVELOPE BODY.PEEK[HEADER]' > /dev/null
rm -f "$(stored dc alice | tail -1)"
if grep -rl -e 'body-lmtp-tcp' -e 'subject-lmtp-tcp' -e 'body-save' "$(dovecot_maildir dc alice)"; then
	fail "a marker of the encrypted messages is stored in the clear"
fi
ok "no marker of body or protected Subject in alice's mail directory"
done_testing
