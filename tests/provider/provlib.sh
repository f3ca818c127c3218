# tests/provider/provlib.sh - a file token with alice's keys and the stock
# `openssl` command with smimekit.so loaded, for the tests of the OpenSSL
# provider.  Sourced after tests/lib.sh.
# shellcheck shell=bash disable=SC2034
#
#   . "$SMK_TEST_SRCDIR/lib.sh"
#   . "$SMK_TEST_SRCDIR/provider/provlib.sh"
#   prov_token [CONFIG-LINE...]        (the token, made as a user would)
#   prov_ok "what" pkeyutl -sign -inkey "$PROV_RSA_KEY" -in ... -out ...
#   prov_fails "what" pkeyutl -sign -inkey 'pkcs11:...;object=nobody' ...
#
# prov_token makes $T/prov/smimekit.conf (exported as SMIMEKIT_CONF: the
# key store reads it) with one file token [token alice] in $T/prov/token
# (the CONFIG-LINEs are added to that section, e.g. "max_failures = 3"),
# made by `smimekit token init` and filled by `smimekit token import` of
# two PKCS#12 files made here by openssl: alice's RSA-2048 key and
# certificate, and her P-256 key and certificate (tests/certs/mkcerts.sh),
# with tests/token/tokenlib.sh, as tests/pkcs11/p11lib.sh does.  It sets:
#   PROV_TOKEN                  the token label (alice)
#   PROV_PIN PROV_SO_PIN, PROV_PIN_FILE (the PIN, no newline)
#   PROV_RSA_LABEL PROV_EC_LABEL the object labels (alice-rsa, alice-ec)
#   PROV_RSA_ID PROV_EC_ID      their ids as lower-case hex (SHA-1 of the
#                               modulus / of the uncompressed point)
#   PROV_RSA_KEY PROV_EC_KEY    pkcs11: URIs of the private keys with the
#                               PIN as pin-source=file:$PROV_PIN_FILE
#   PROV_RSA_KEY_PV PROV_EC_KEY_PV   the same with pin-value=$PROV_PIN
#   $T/prov/{rsa,ec}.pub        the public keys (PEM), for software checks
#
# prov_pct HEX: a hex string as RFC 7512 %XX escapes (for id=).
#
# Running openssl with the provider: PROV_ARGS are the options every
# command takes after its name (-provider-path "$SMK_PROVIDER_DIR"
# -provider smimekit -provider default).  PROV_ENV is `env` and what the
# command needs to load the provider: with a provider built with ASan
# (configure --enable-sanitizers) the ASan runtime first (LD_PRELOAD), as
# tests/pkcs11/p11lib.sh does for PKCS#11 clients.
#
# prov_run CMD ARGS...: `openssl CMD $PROV_ARGS ARGS...` without a
# terminal (setsid, stdin /dev/null: a PIN prompt fails at once instead of
# waiting), output in $T/out and $T/err, exit status in PROV_STATUS.  It
# fails the test on a crash: a status above 128 (a signal) or sanitizer
# output.  PROV_STDIN (default /dev/null) is its standard input.
# prov_ok WHAT CMD ARGS...: prov_run, and fail naming WHAT unless status 0.
# prov_fails WHAT CMD ARGS...: prov_run, and fail naming WHAT if status 0.
# prov_err_names WHAT REGEX: the error output of the last prov_run names
# the cause: a line of OpenSSL's error queue (":error:") matching REGEX
# (extended, case-insensitive).
#
# SMK_PROV_STANDIN=files (by hand, never in make check): no provider, the
# PROV_*_KEY variables name alice's key files, so a script's own checks
# can be told from the provider's behaviour.  prov_standin_lacks WHAT is
# true (with a note) then, for checks that need the provider.

: "${SMK_PROVIDER_DIR:?run through make check}"
. "$SMK_TEST_SRCDIR/token/tokenlib.sh"
PROV_SO=$SMK_PROVIDER_DIR/smimekit.so
PROV_ARGS=(-provider-path "$SMK_PROVIDER_DIR" -provider smimekit -provider default)
PROV_ENV=(env)
PROV_ASAN=

_prov_asan() {
	local asan
	asan=$(ldd "$PROV_SO" 2>/dev/null | awk '/libasan/ { print $3; exit }')
	[ -n "$asan" ] || return 0
	PROV_ASAN=$asan
	# Leaks are reported (the provider must free what it takes; the
	# openssl command itself frees everything at exit).  The provider is
	# preloaded too, so that OpenSSL's dlclose at exit does not unmap it:
	# what libldap and the provider's libraries keep in their globals
	# would otherwise show as leaks from "<unknown module>".
	PROV_ENV=(env "LD_PRELOAD=$asan:$PROV_SO" "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}abort_on_error=0")
}

PROV_STANDIN=${SMK_PROV_STANDIN:-}
prov_standin_lacks() {
	[ -n "$PROV_STANDIN" ] || return 1
	echo "# stand-in $PROV_STANDIN: $* (not checked)"
	return 0
}

prov_pct() { printf '%s' "$1" | sed -e 's/../%&/g'; }

prov_token() {
	local d=$T/prov k
	if [ "$PROV_STANDIN" = files ]; then
		PROV_ARGS=()
	else
		[ -f "$PROV_SO" ] || fail "$PROV_SO is missing (not built?)"
		_prov_asan
	fi
	mkdir -p "$d"
	chmod 755 "$d"
	PROV_PIN=1234-alice
	PROV_SO_PIN=so-pin-5678
	PROV_PIN_FILE=$d/pin
	printf '%s' "$PROV_PIN" > "$PROV_PIN_FILE"
	printf '%s' "$PROV_SO_PIN" > "$d/so-pin"
	printf '%s' "p12-secret" > "$d/p12-password"
	chmod 600 "$PROV_PIN_FILE" "$d/so-pin" "$d/p12-password"
	PROV_TOKEN=alice
	PROV_RSA_LABEL=alice-rsa
	PROV_EC_LABEL=alice-ec
	for k in rsa ec; do
		openssl x509 -in "$C/alice-$k.pem" -noout -pubkey > "$d/$k.pub"
	done
	PROV_RSA_ID=$(token_key_id "$d/rsa.pub")
	PROV_EC_ID=$(token_key_id "$d/ec.pub")
	{ [ ${#PROV_RSA_ID} = 40 ] && [ ${#PROV_EC_ID} = 40 ]; } || fail "prov_token: key ids"
	local base="pkcs11:token=$PROV_TOKEN;type=private"
	PROV_RSA_KEY="$base;object=$PROV_RSA_LABEL;pin-source=file:$PROV_PIN_FILE"
	PROV_EC_KEY="$base;object=$PROV_EC_LABEL;pin-source=file:$PROV_PIN_FILE"
	PROV_RSA_KEY_PV="$base;object=$PROV_RSA_LABEL;pin-value=$PROV_PIN"
	PROV_EC_KEY_PV="$base;object=$PROV_EC_LABEL;pin-value=$PROV_PIN"
	if [ "$PROV_STANDIN" = files ]; then
		PROV_RSA_KEY=$C/alice-rsa.key PROV_RSA_KEY_PV=$C/alice-rsa.key
		PROV_EC_KEY=$C/alice-ec.key PROV_EC_KEY_PV=$C/alice-ec.key
	fi

	token_alice "$d" "$PROV_TOKEN" "$@"
}

# _prov_crashed STATUS: fail if the last command died of a signal or a
# sanitizer reported something.
_prov_crashed() {
	if [ "$1" -gt 128 ]; then
		cat "$T/err" >&2
		fail "openssl died of signal $(($1 - 128)) ($(kill -l "$(($1 - 128))" 2>/dev/null || echo '?'))"
	fi
	if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/err"; then
		cat "$T/err" >&2
		fail "sanitizer report (status $1)"
	fi
}

PROV_STATUS=
PROV_STDIN=/dev/null
prov_run() {
	local cmd=$1
	shift
	PROV_STATUS=0
	setsid -w "${PROV_ENV[@]}" openssl "$cmd" "${PROV_ARGS[@]}" "$@" \
		< "$PROV_STDIN" > "$T/out" 2> "$T/err" || PROV_STATUS=$?
	_prov_crashed "$PROV_STATUS"
}

prov_ok() {
	local what=$1
	shift
	prov_run "$@"
	[ "$PROV_STATUS" = 0 ] ||
		{ cat "$T/out" "$T/err" >&2; fail "$what: openssl $1 exit $PROV_STATUS"; }
}

prov_fails() {
	local what=$1
	shift
	prov_run "$@"
	[ "$PROV_STATUS" != 0 ] || { cat "$T/out" "$T/err" >&2; fail "$what: openssl $1 succeeded"; }
}

prov_err_names() {
	grep -i ':error:' "$T/err" | grep -Eiq -e "$2" ||
		{ cat "$T/err" >&2; fail "$1: no error on the queue matching /$2/"; }
}

# ---- a TLS server, for the TLS tests
# prov_server [-p] CERT KEY [S_SERVER-OPTS...]: `openssl s_server -www`
# on 127.0.0.1 for one connection, on a port the kernel picks (set in
# PROV_PORT), output in $T/srv.out and $T/srv.err.  -p: with the provider
# loaded (PROV_ARGS: smimekit first).  prov_server_wait waits until it
# has served its connection; prov_server_stop stops it now (and at exit).
PROV_SRV_PID=
PROV_PORT=
prov_server_stop() {
	if [ -n "$PROV_SRV_PID" ]; then
		kill "$PROV_SRV_PID" 2> /dev/null || true
		wait "$PROV_SRV_PID" 2> /dev/null || true
		PROV_SRV_PID=
	fi
}
on_exit prov_server_stop
prov_server_wait() {
	[ -z "$PROV_SRV_PID" ] || wait "$PROV_SRV_PID" 2> /dev/null || true
	PROV_SRV_PID=
}
prov_server() {
	local env=() args=()
	if [ "$1" = -p ]; then
		env=("${PROV_ENV[@]}")
		args=("${PROV_ARGS[@]}")
		shift
	fi
	local cert=$1 key=$2
	shift 2
	: > "$T/srv.out"
	timeout 60 "${env[@]}" openssl s_server "${args[@]}" -accept 127.0.0.1:0 -naccept 1 -www \
		-cert "$cert" -key "$key" "$@" > "$T/srv.out" 2> "$T/srv.err" < /dev/null &
	PROV_SRV_PID=$!
	for _ in $(seq 100); do
		PROV_PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$T/srv.out")
		[ -z "$PROV_PORT" ] || return 0
		kill -0 "$PROV_SRV_PID" 2> /dev/null || break
		sleep 0.1
	done
	cat "$T/srv.out" "$T/srv.err" >&2
	fail "s_server did not start"
}

# ---- a directory (cloud) token, for the tests that need one
# prov_cloud_token: a throwaway slapd (tests/ldap/slapd.sh instance "dir",
# its test data loaded: $T/admin.pw, alice's password in $T/alice.pw) and
# $T/cloud.conf, exported as SMIMEKIT_CONF, with [directory] on it and a
# directory token [token cloud] for alice@example.org; the admin escrows
# alice's RSA key and certificate (a PKCS#12 made here) under her PIN,
# her LDAP password.  Sets PROV_CLOUD_URI (slapd's URI) and
# PROV_CLOUD_BASE.
prov_cloud_token() {
	. "$SMK_TEST_SRCDIR/ldap/slapd.sh"
	slapd_new dir
	slapd_load_testdata dir
	slapd_start dir
	PROV_CLOUD_URI=$(slapd_uri dir)
	PROV_CLOUD_BASE=dc=example,dc=org
	printf '[directory]\nuri = %s\nbase = %s\ntimeout = 3\nnetwork_timeout = 3\n\n[token cloud]\ntype = directory\naddress = alice@example.org\n' \
		"$PROV_CLOUD_URI" "$PROV_CLOUD_BASE" > "$T/cloud.conf"
	export SMIMEKIT_CONF=$T/cloud.conf
	(umask 077 && printf 'p12 password' > "$T/p12pw")
	openssl pkcs12 -export -inkey "$C/alice-rsa.key" -in "$C/alice-rsa.pem" -name alice-rsa \
		-passout "file:$T/p12pw" -out "$T/alice-rsa.p12" || fail "openssl pkcs12 -export"
	"$SMIMEKIT" token escrow --bind-dn "cn=admin,$PROV_CLOUD_BASE" \
		--bind-password-file "$T/admin.pw" alice@example.org "$T/alice-rsa.p12" \
		--pin-file "$T/alice.pw" --p12-password-file "$T/p12pw" > "$T/escrow.out" 2>&1 ||
		fail "smimekit token escrow: $(cat "$T/escrow.out")"
}
