#!/bin/bash
# cli.sh - `smimekit token` on a file token: init, import of a PKCS#12,
# list, the key file as `openssl pkcs8` reads it, PIN changes, wrong and
# missing secrets, the message for a token not configured, file modes.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
need openssl setsid perl script
S=$SMIMEKIT

run() {	# run WANT-STATUS COMMAND... ; output in $T/out, $T/err
	local want=$1 s=0
	shift
	"$@" > "$T/out" 2> "$T/err" < /dev/null || s=$?
	[ "$s" = "$want" ] || { cat "$T/out" "$T/err" >&2; fail "$*: exit $s, want $want"; }
}
secret() { (umask 077 && printf '%s\n' "$2" > "$T/$1"); }

tok=$T/tok
mkdir -m 700 "$tok"
printf '# test\n[token t1]\ntype = file\npath = %s\n' "$tok" > "$T/smimekit.conf"
export SMIMEKIT_CONF=$T/smimekit.conf
secret so 'so-secret-1'
secret pin '1234-user'
secret pin2 'new PIN 5678'
secret p12pw 'p12 password'
secret wrong 'not the PIN'
: > "$T/empty"
chmod 600 "$T/empty"

# ---- init, and a token that is not configured
run 2 "$S" token init nosuch --so-pin-file "$T/so" --pin-file "$T/pin"
has_line "$T/err" "no \[token nosuch\] in $T/smimekit.conf: add it there" "missing section"
has_line "$T/err" '^\[token nosuch\]$' "snippet: section"
has_line "$T/err" '^type = file$' "snippet: type"
has_line "$T/err" '^path = ~/.local/share/smimekit/tokens/nosuch$' "snippet: path"
ok "a token missing from smimekit.conf: the file to add it to and the snippet"

run 0 "$S" token init t1 --so-pin-file "$T/so" --pin-file "$T/pin"
has_line "$T/out" '^token t1 initialised$' "init"
run 0 "$S" token list t1
has_line "$T/out" '^token t1 \(file\): label "t1", serial [0-9A-Fa-f]{16}$' "list header"
has_line "$T/out" '^  state: initialised, user PIN set, failures 0 of [0-9]+' "state"
has_line "$T/out" '^  0 items$' "empty"
ok "token init makes the token with SO and user PIN; list shows its state"

# ---- import alice's PKCS#12
openssl pkcs12 -export -inkey "$C/alice-rsa.key" -in "$C/alice-rsa.pem" -name alice \
	-passout "file:$T/p12pw" -out "$T/alice.p12" 2>/dev/null || fail "openssl pkcs12 -export"
run 1 "$S" token import t1 "$T/alice.p12" --pin-file "$T/pin" --p12-password-file "$T/wrong"
has_line "$T/err" "alice.p12: wrong password" "wrong p12 password"
run 1 "$S" token import t1 "$T/alice.p12" --pin-file "$T/wrong" --p12-password-file "$T/p12pw"
has_line "$T/err" 'PIN incorrect|incorrect PIN' "wrong PIN"
run 0 "$S" token list t1
has_line "$T/out" '^  0 items$' "nothing stored after refusals"
has_line "$T/out" 'failures 1 of ' "the wrong PIN counted"
ok "import refuses a wrong PKCS#12 password and a wrong PIN, storing nothing"

run 0 "$S" token import t1 "$T/alice.p12" --pin-file "$T/pin" --p12-password-file "$T/p12pw"
has_line "$T/out" '^imported RSA 2048 key id [0-9a-f]{40}, label "alice" with its certificate into token t1$' "import"
id=$(sed -n 's/.* key id \([0-9a-f]*\),.*/\1/p' "$T/out")
# the id is SHA-1 of the RSA modulus, as NSS computes CKA_ID
want_id=$(openssl rsa -in "$C/alice-rsa.key" -noout -modulus 2>/dev/null | cut -d= -f2 |
	perl -ne 'chomp; print pack("H*", $_)' | openssl sha1 -r | cut -d" " -f1)
[ "$id" = "$want_id" ] || fail "key id $id, want $want_id (SHA-1 of the modulus)"
ok "import stores the key and certificate under the PIN"

serial=$(openssl x509 -in "$C/alice-rsa.pem" -noout -serial | cut -d= -f2)
run 0 "$S" token list t1
has_line "$T/out" "^  1 item\$" "one item"
has_line "$T/out" "^  - id $id, label \"alice\", RSA 2048, private key: stored \(log in to use\)\$" "item before login"
has_line "$T/out" "^    certificate: .*CN ?= ?Alice Example.*, serial $serial, expires 20[0-9-]+ " "certificate"
lacks "$T/out" 'failures 1 of' "a good login resets the counter"
run 0 "$S" token list t1 --login --pin-file "$T/pin"
has_line "$T/out" "^  - id $id, label \"alice\", RSA 2048, private key: yes\$" "item after login"
run 0 "$S" token list
has_line "$T/out" "^token t1 \(file\)" "list of every token"
ok "list shows id, label, key type and size, certificate subject/serial/expiry, the private key"

# ---- the key file is standard PKCS#8 that openssl opens with the PIN
keyfile=$(grep -rl 'BEGIN ENCRYPTED PRIVATE KEY' "$tok" | head -1)
[ -n "$keyfile" ] || fail "no ENCRYPTED PRIVATE KEY file in $tok: $(ls -la "$tok")"
openssl pkcs8 -in "$keyfile" -passin "file:$T/pin" -out "$T/opened.pem" 2>"$T/err" ||
	fail "openssl pkcs8 does not open $keyfile with the PIN: $(cat "$T/err")"
openssl pkey -in "$C/alice-rsa.key" -out "$T/alice-p8.pem"
same "$T/opened.pem" "$T/alice-p8.pem" "the stored key"
openssl asn1parse -in "$keyfile" > "$T/asn1"
has_line "$T/asn1" 'PBES2' "PBES2"
has_line "$T/asn1" 'hmacWithSHA256' "PRF"
has_line "$T/asn1" 'aes-256-cbc' "cipher"
iter=$(awk '/PBKDF2/ { p = 1 } p && /INTEGER/ { sub(/.*:/, ""); print; exit }' "$T/asn1")
[ -n "$iter" ] && [ $((16#$iter)) -ge 600000 ] || fail "PBKDF2 iterations: '$iter'"
if openssl pkcs8 -in "$keyfile" -passin "file:$T/wrong" -out /dev/null 2>/dev/null; then
	fail "the key file opens with a wrong PIN"
fi
ok "the key file opens with openssl pkcs8 and the PIN (PBES2, AES-256, PBKDF2-SHA256 >= 600000) and is alice's key"

# ---- PIN changes
run 0 "$S" token passwd t1 --pin-file "$T/pin" --new-pin-file "$T/pin2"
has_line "$T/out" '^PIN of token t1 changed$' "passwd"
run 1 "$S" token list t1 --login --pin-file "$T/pin"
has_line "$T/err" 'PIN incorrect|incorrect PIN' "old PIN refused"
run 0 "$S" token list t1 --login --pin-file "$T/pin2"
has_line "$T/out" "private key: yes" "new PIN opens the key"
openssl pkcs8 -in "$keyfile" -passin "file:$T/pin2" -out /dev/null 2>/dev/null ||
	keyfile2=$(grep -rl 'BEGIN ENCRYPTED PRIVATE KEY' "$tok" | head -1)
openssl pkcs8 -in "${keyfile2:-$keyfile}" -passin "file:$T/pin2" -out "$T/opened2.pem" 2>/dev/null ||
	fail "the key file does not open with the new PIN"
same "$T/opened2.pem" "$T/alice-p8.pem" "the key after passwd"
run 1 "$S" token passwd t1 --pin-file "$T/pin" --new-pin-file "$T/pin2"
ok "passwd re-encrypts the key: the old PIN fails, the new one works (also for openssl)"

run 0 "$S" token passwd t1 --so --pin-file "$T/so" --new-pin-file "$T/pin"
has_line "$T/out" '^SO PIN of token t1 changed$' "SO passwd"
run 1 "$S" token passwd t1 --so --pin-file "$T/so" --new-pin-file "$T/pin"
ok "passwd --so changes the SO PIN"

# ---- secrets: files only (or the terminal), never the command line
run 2 "$S" token list t1 --login --pin-file "$T/nonexistent"
has_line "$T/err" "$T/nonexistent" "missing PIN file named"
run 2 "$S" token list t1 --login --pin-file "$T/empty"
has_line "$T/err" 'empty' "empty PIN file"
run 2 "$S" token init t1 --pin 1234
run 2 "$S" token import t1 "$T/alice.p12" --password test
# no terminal and no file: a clear error, not a hang
s=0
timeout 10 setsid "$S" token list t1 --login > "$T/out" 2> "$T/err" < /dev/null || s=$?
[ "$s" = 2 ] || fail "no terminal: exit $s: $(cat "$T/err")"
has_line "$T/err" 'no terminal to ask for the PIN of token t1' "no terminal"
# a PIN file with a trailing CR LF works (the first line, line end stripped)
printf 'new PIN 5678\r\n' > "$T/pin-crlf"
chmod 600 "$T/pin-crlf"
run 0 "$S" token list t1 --login --pin-file "$T/pin-crlf"
ok "secrets from files (first line) or the terminal; none on the command line"

# ---- the terminal: prompts, no echo, new secrets asked twice
# tty_run STATUS ANSWERS CMD...: CMD on a pseudo-terminal (script(1)); each
# prompt (a line ending in 'PIN ...: ') is answered with the next line of ANSWERS.  Output in
# $T/tty.out.
tty_run() {
	local want=$1 answers=$2 s=0 line chunk
	shift 2
	coproc TTY { timeout 60 script -qec "$(printf '%q ' "$@")" /dev/null 2>&1; }
	local pid=$TTY_PID
	exec {ttyout}<&"${TTY[0]}" {ttyin}>&"${TTY[1]}"
	: > "$T/tty.out"
	while IFS= read -r line; do
		# up to the prompt (a line with PIN ...: ), not any colon before it
		while :; do
			IFS= read -r -d ':' -t 20 chunk <&"$ttyout" ||
				fail "no prompt from $*: $(cat "$T/tty.out")"
			printf '%s:' "$chunk" >> "$T/tty.out"
			case ${chunk##*$'\n'} in *PIN*) break ;; esac
		done
		printf '%s\n' "$line" >&"$ttyin"
	done <<< "$answers"
	exec {ttyin}>&-
	cat <&"$ttyout" >> "$T/tty.out" || true
	exec {ttyout}<&-
	wait "$pid" || s=$?
	[ "$s" = "$want" ] || { cat "$T/tty.out" >&2; fail "$* on a terminal: exit $s, want $want"; }
}
printf '[token t3]\ntype = file\npath = %s/tok3\n' "$T" > "$T/tty.conf"
tty_run 0 $'so-typed-1\nso-typed-1\nuser-typed-2\nuser-typed-2' \
	"$S" token init --config "$T/tty.conf" t3
has_line "$T/tty.out" '^new SO PIN of token t3:' "SO PIN prompt"
has_line "$T/tty.out" 'new user PIN of token t3 \(again\):' "asked twice"
has_line "$T/tty.out" 'token t3 initialised' "init on a terminal"
lacks "$T/tty.out" 'typed' "a PIN echoed"
tty_run 0 'user-typed-2' "$S" token list --config "$T/tty.conf" --login t3
has_line "$T/tty.out" 'PIN of token t3:' "login prompt"
lacks "$T/tty.out" 'typed' "a PIN echoed"
tty_run 1 'wrong-typed' "$S" token list --config "$T/tty.conf" --login t3
has_line "$T/tty.out" 'PIN incorrect|incorrect PIN' "wrong PIN typed"
printf '[token t4]\ntype = file\npath = %s/tok4\n' "$T" > "$T/tty4.conf"
tty_run 2 $'one-typed\ntwo-typed' "$S" token init --config "$T/tty4.conf" t4
has_line "$T/tty.out" 'the two entries differ: nothing changed' "mismatch"
ok "on a terminal: prompts without echo, new PINs asked twice, a mismatch changes nothing"

run 1 "$S" token init t1 --so-pin-file "$T/so" --pin-file "$T/pin"
has_line "$T/err" 'holds keys|exists|already' "init of a token with keys"
run 0 "$S" token list t1 --login --pin-file "$T/pin2"
has_line "$T/out" "private key: yes" "the key survived"
ok "init refuses a token that holds keys"

# ---- usage and configuration errors
run 2 "$S" token
run 2 "$S" token frob
run 2 "$S" token import t1
run 2 "$S" token escrow not-an-address "$T/alice.p12"
has_line "$T/err" 'is not a mail address' "escrow address"
printf '[token t2]\ntype = file\npath = %s\nfrob = 1\n' "$T/tok2" > "$T/typo.conf"
run 2 "$S" token list --config "$T/typo.conf"
has_line "$T/err" "typo.conf:4: .*frob" "typo in a token section"
ok "usage and configuration errors exit 2"

# ---- modes
bad=$(find "$tok" -type f ! -perm 600)
[ -z "$bad" ] || fail "files not 0600: $bad"
[ -z "$(find "$tok" -type d -perm /077)" ] || fail "token directory open to others"
ok "token files are 0600"
done_testing
