#!/bin/bash
# prompt.sh - the PIN prompt on a real terminal: with no PIN in the
# pkcs11: URI and no -passin, `openssl pkeyutl -sign` and `openssl
# storeutl -keys` run on a pseudo-terminal (script(1), else python3's pty
# module) ask for the token's PIN through OpenSSL's UI, with echo off; the
# typed PIN logs in (the signature verifies, both keys are listed), a
# wrong typed PIN fails with the PIN error, and neither PIN shows on the
# terminal.  Skipped when neither script nor python3 is there.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
need openssl stty

# SMK_TTY_TOOL=python3 (by hand) tries the fallback where script exists.
if [ "${SMK_TTY_TOOL:-script}" = script ] && command -v script > /dev/null 2>&1; then
	TTY_TOOL=script
elif command -v python3 > /dev/null 2>&1 && python3 -c 'import pty' 2> /dev/null; then
	TTY_TOOL=python3
else
	echo "# SKIP: neither script(1) nor python3's pty module to make a terminal"
	exit 77
fi
echo "# terminal made with $TTY_TOOL"

prov_token "max_failures = 5"
d=$T/prov
tok="pkcs11:token=$PROV_TOKEN"

# _tty_of PID: the terminal device of the process PID's child (the
# command run on the pseudo-terminal), once there is one.
_tty_of() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2> /dev/null); do
		readlink /proc/"$c"/fd/0 2> /dev/null && return 0
	done
	return 1
}

# on_tty ANSWER CMD ARGS...: runs `openssl CMD $PROV_ARGS ARGS...` on a
# new pseudo-terminal (its controlling terminal: OpenSSL's UI reads
# /dev/tty), waits for the pass phrase prompt and for the terminal's echo
# to go off, then types ANSWER and a newline.  What the terminal showed is
# in $T/tty, the exit status in TTY_STATUS.
TTY_STATUS=
on_tty() {
	local answer=$1 cmd=$2 pid dev="" i echo_off=
	shift 2
	rm -f "$T/tty.in" "$T/tty"
	mkfifo "$T/tty.in"
	if [ "$TTY_TOOL" = script ]; then
		script -qec "$(printf '%q ' "${PROV_ENV[@]}" openssl "$cmd" "${PROV_ARGS[@]}" "$@")" \
			/dev/null < "$T/tty.in" > "$T/tty" 2>&1 &
	else
		python3 -c 'import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))' \
			"${PROV_ENV[@]}" openssl "$cmd" "${PROV_ARGS[@]}" "$@" < "$T/tty.in" > "$T/tty" 2>&1 &
	fi
	pid=$!
	exec 3> "$T/tty.in"
	# up to 30 s for the prompt, then for echo off (OpenSSL writes the
	# prompt first): typed earlier, the answer would be echoed
	for ((i = 0; i < 300; i++)); do
		if grep -q 'Enter pass phrase' "$T/tty"; then
			[ -n "$dev" ] || dev=$(_tty_of "$pid") || dev=
			if [ -n "$dev" ] && stty -F "$dev" -a 2> /dev/null | grep -qw -- '-echo'; then
				echo_off=1
				break
			fi
		fi
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.1
	done
	if [ -z "$echo_off" ]; then
		exec 3>&-
		kill "$pid" 2> /dev/null || true
		wait "$pid" || true
		cat "$T/tty" >&2
		fail "openssl $cmd: no PIN prompt with echo off on the terminal (${dev:-no tty found})"
	fi
	printf '%s\n' "$answer" >&3
	exec 3>&-
	TTY_STATUS=0
	wait "$pid" || TTY_STATUS=$?
	cp "$T/tty" "$T/err"	# what _prov_crashed looks at
	_prov_crashed "$TTY_STATUS"
}

printf 'typed at the prompt\n' | openssl dgst -sha256 -binary > "$T/hash"
key="$tok;object=$PROV_RSA_LABEL;type=private"

# ---- the right PIN, typed
rm -f "$T/sig"
on_tty "$PROV_PIN" pkeyutl -sign -inkey "$key" -in "$T/hash" -out "$T/sig"
[ "$TTY_STATUS" = 0 ] || { cat "$T/tty" >&2; fail "pkeyutl -sign with the typed PIN: exit $TTY_STATUS"; }
has_line "$T/tty" "Enter pass phrase for smimekit token $PROV_TOKEN \(PIN\):" "the prompt names the token"
lacks "$T/tty" "$PROV_PIN" "the typed PIN on the terminal"
openssl pkeyutl -verify -pubin -inkey "$d/rsa.pub" -in "$T/hash" -sigfile "$T/sig" > /dev/null ||
	fail "pkeyutl -sign with the typed PIN: the signature does not verify"
ok "pkeyutl -sign, no PIN in the URI: the terminal prompt names the token, the typed PIN (not echoed) logs in, the signature verifies"

on_tty "$PROV_PIN" storeutl -keys "$tok"
[ "$TTY_STATUS" = 0 ] || { cat "$T/tty" >&2; fail "storeutl -keys with the typed PIN: exit $TTY_STATUS"; }
has_line "$T/tty" '^Total found: 2' "storeutl -keys with the typed PIN: both keys"
lacks "$T/tty" "$PROV_PIN" "the typed PIN on the terminal"
ok "storeutl -keys, no PIN in the URI: prompted on the terminal, the typed PIN lists both keys"

# ---- a wrong PIN, typed
rm -f "$T/sig"
on_tty "wrong-typed-pin" pkeyutl -sign -inkey "$key" -in "$T/hash" -out "$T/sig"
[ "$TTY_STATUS" != 0 ] || { cat "$T/tty" >&2; fail "pkeyutl -sign with a wrong typed PIN succeeded"; }
grep -i ':error:' "$T/tty" | grep -Eiq 'PIN error.*incorrect' ||
	{ cat "$T/tty" >&2; fail "a wrong typed PIN: no 'PIN error ... incorrect' on the error queue"; }
lacks "$T/tty" "wrong-typed-pin" "the wrong PIN on the terminal"
[ ! -s "$T/sig" ] || fail "a wrong typed PIN: a signature was written"
on_tty "wrong-typed-pin" storeutl -keys "$tok"
[ "$TTY_STATUS" != 0 ] || { cat "$T/tty" >&2; fail "storeutl -keys with a wrong typed PIN succeeded"; }
grep -i ':error:' "$T/tty" | grep -Eiq 'PIN error.*incorrect' ||
	{ cat "$T/tty" >&2; fail "storeutl, wrong typed PIN: no PIN error"; }
ok "a wrong PIN typed at the prompt: openssl fails with the PIN error (not echoed, no signature)"

done_testing
