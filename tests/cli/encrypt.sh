#!/bin/bash
# encrypt.sh - `smimekit encrypt` as a command and a pipe filter: input and
# output handling, pass-through, exit statuses and error messages.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
need openssl

S=$SMIMEKIT

# stdin to stdout, as an MTA pipe filter uses it
"$S" encrypt --to "$C/alice-rsa.pem" < "$D/simple.eml" > "$T/piped.eml"
openssl cms -decrypt -in "$T/piped.eml" -inkey "$C/alice-rsa.key" -recip "$C/alice-rsa.pem" \
	-out "$T/inner"
expected_inner "$D/simple.eml" > "$T/want"
same "$T/want" "$T/inner" "pipe filter"
ok "works as a pipe filter"

# several recipients, each can read it
"$S" encrypt -t "$C/alice-rsa.pem" -t "$C/alice-ec.pem" -t "$C/bob.pem" -i "$D/simple.eml" -o "$T/multi.eml"
for k in alice-rsa alice-ec bob; do
	openssl cms -decrypt -in "$T/multi.eml" -inkey "$C/$k.key" -recip "$C/$k.pem" -out "$T/inner"
	same "$T/want" "$T/inner" "recipient $k"
done
ok "every recipient decrypts"

# a certificate file with the chain: the first certificate is the recipient
cat "$C/alice-rsa.pem" "$C/ca.pem" > "$T/chain.pem"
"$S" encrypt --to "$T/chain.pem" -i "$D/simple.eml" -o "$T/chain.eml"
openssl cms -cmsout -print -in "$T/chain.eml" | grep -c 'issuerAndSerialNumber' > "$T/n"
[ "$(cat "$T/n")" = 1 ] || fail "chain file gave $(cat "$T/n") recipients"
ok "first certificate of a chain file is the recipient"

# pass-through of already encrypted mail, byte for byte, and said so
"$S" encrypt --to "$C/alice-ec.pem" -i "$T/multi.eml" -o "$T/again.eml" 2>"$T/err"
same "$T/multi.eml" "$T/again.eml" "pass-through"
has_line "$T/err" 'already encrypted, copied unchanged' "pass-through notice"
"$S" encrypt -q --to "$C/alice-ec.pem" -i "$T/multi.eml" -o "$T/again.eml" 2>"$T/err"
[ ! -s "$T/err" ] || fail "--quiet still printed: $(cat "$T/err")"
ok "already encrypted mail passes unchanged"

# -o to a device or pipe writes in place (never renames over it)
"$S" encrypt --to "$C/alice-rsa.pem" -i "$D/simple.eml" -o /dev/null
[ -c /dev/null ] || fail "-o /dev/null replaced /dev/null"
mkfifo "$T/fifo"
cat "$T/fifo" > "$T/from-fifo" &
"$S" encrypt --to "$C/alice-rsa.pem" -i "$D/simple.eml" -o "$T/fifo"
wait
[ -p "$T/fifo" ] || fail "-o FIFO replaced the FIFO"
openssl cms -decrypt -in "$T/from-fifo" -inkey "$C/alice-rsa.key" -recip "$C/alice-rsa.pem" -out "$T/inner"
same "$T/want" "$T/inner" "output through a FIFO"
ok "-o to /dev/null and to a FIFO writes in place"

# --eol
"$S" encrypt --to "$C/alice-rsa.pem" --eol crlf -i "$D/simple.eml" -o "$T/crlf.eml"
[ "$(grep -c $'\r$' "$T/crlf.eml")" = "$(wc -l < "$T/crlf.eml")" ] || fail "--eol crlf left bare LFs"
sed -e 's/$/\r/' "$D/simple.eml" > "$T/simple-crlf.eml"
"$S" encrypt --to "$C/alice-rsa.pem" -i "$T/simple-crlf.eml" -o "$T/auto.eml"
[ "$(grep -c $'\r$' "$T/auto.eml")" = "$(wc -l < "$T/auto.eml")" ] || fail "CRLF input gave LF output"
"$S" encrypt --to "$C/alice-rsa.pem" --eol lf -i "$T/simple-crlf.eml" -o "$T/lf.eml"
! grep -q $'\r' "$T/lf.eml" || fail "--eol lf left CRs"
ok "line breaks follow the input or --eol"

# -o replaces atomically: on failure the old file stays and no temp is left
echo "previous content" > "$T/keep.eml"
s=$(status "$S" encrypt --to "$C/alice-rsa.pem" --max-header-size 100 -i "$D/simple.eml" -o "$T/keep.eml" 2>"$T/err")
[ "$s" = 65 ] || fail "header over --max-header-size: exit $s, want 65"
has_line "$T/err" 'header block is larger than 100 bytes' "limit message"
[ "$(cat "$T/keep.eml")" = "previous content" ] || fail "failed run replaced the output"
[ -z "$(ls "$T" | grep 'keep.eml.')" ] || fail "temporary file left behind"
ok "failure leaves the output file untouched (exit 65)"

# exit statuses and messages that name the problem
expect_fail() {	# expect_fail STATUS REGEX ARGS...
	local want=$1 re=$2 s
	shift 2
	s=$(status "$S" encrypt "$@" -i "$D/simple.eml" -o "$T/x.eml" 2>"$T/err")
	[ "$s" = "$want" ] || { cat "$T/err" >&2; fail "encrypt $*: exit $s, want $want"; }
	has_line "$T/err" "$re" "encrypt $*"
	[ ! -e "$T/x.eml" ] || fail "encrypt $* created output"
}
expect_fail 64 'at least one --to' --cipher aes-256-cbc
expect_fail 64 "unknown cipher 'des3'" --to "$C/alice-rsa.pem" --cipher des3
expect_fail 64 "unknown RSA padding 'pss'" --to "$C/alice-rsa.pem" --rsa-padding pss
expect_fail 64 "--eol takes auto, lf or crlf" --to "$C/alice-rsa.pem" --eol cr
expect_fail 64 "is not a size" --to "$C/alice-rsa.pem" --max-header-size lots
expect_fail 78 "$T/none.pem: cannot open: No such file" --to "$T/none.pem"
expect_fail 78 "alice-rsa.key: holds a private key but no certificate" --to "$C/alice-rsa.key"
printf 'garbage\n' > "$T/garbage.pem"
expect_fail 78 "garbage.pem: not a certificate" --to "$T/garbage.pem"
: > "$T/empty.pem"
expect_fail 78 "empty.pem: empty" --to "$T/empty.pem"
expect_fail 78 "alice-ed25519.pem: key type ED25519 cannot receive encrypted mail \(need RSA or EC\)" --to "$C/alice-ed25519.pem"
s=$(status "$S" encrypt --to "$C/alice-rsa.pem" -i "$T/missing.eml" 2>"$T/err")
[ "$s" = 66 ] || fail "missing input: exit $s, want 66"
has_line "$T/err" 'missing.eml: cannot open' "missing input"
s=$(status "$S" encrypt --to "$C/alice-rsa.pem" -i "$D/simple.eml" -o "$T/no/such/dir/x.eml" 2>"$T/err")
[ "$s" = 73 ] || fail "uncreatable output: exit $s, want 73"
s=0
"$S" encrypt --to "$C/alice-rsa.pem" -i "$D/simple.eml" 2>"$T/err" >/dev/full || s=$?
[ "$s" = 75 ] || fail "full disk: exit $s, want 75"
has_line "$T/err" 'No space left on device' "full disk"
ok "errors exit with sysexits codes and name the file and problem"

# --help, --version, unknown command
"$S" --help | grep -q '^  encrypt' || fail "--help lists no encrypt"
"$S" encrypt --help | grep -q -- '--protect-headers' || fail "encrypt --help"
"$S" --version | grep -Eq '^smimekit [0-9]+\.[0-9]+' || fail "--version"
s=$(status "$S" frobnicate 2>/dev/null); [ "$s" = 64 ] || fail "unknown command: exit $s"
ok "help and version"
done_testing
