# tests/pkcs11/p11lib.sh - a file token with alice's keys for the tests of
# smimekit-pkcs11.so with stock PKCS#11 clients (pkcs11-tool, p11tool,
# NSS, p11-kit).  Sourced after tests/lib.sh.
# shellcheck shell=bash
#
#   . "$SMK_TEST_SRCDIR/lib.sh"
#   . "$SMK_TEST_SRCDIR/pkcs11/p11lib.sh"
#   p11_need pkcs11-tool               (skips the test, status 77, if missing)
#   p11_token                          (the token, made as a user would)
#   pkcs11-tool --module "$P11_MODULE" --token-label "$P11_TOKEN" ...
#
# p11_token makes $T/p11/smimekit.conf (exported as SMIMEKIT_CONF: the
# module reads it) with one file token [token alice] in $T/p11/token, made
# by `smimekit token init` and filled by `smimekit token import` of two
# PKCS#12 files made here by openssl (OpenSSL 3's default PBES2
# encryption): alice's RSA-2048 key and certificate, and her P-256 key and
# certificate (tests/certs/mkcerts.sh).  It sets:
#   P11_MODULE      the module ($SMK_PKCS11_MODULE)
#   P11_TOKEN       the token label
#   P11_PIN P11_SO_PIN, P11_PIN_FILE (the PIN, no newline)
#   P11_RSA_ID P11_EC_ID        CKA_ID of key and certificate, lower-case
#                               hex: SHA-1 of the RSA modulus / of the
#                               uncompressed EC point, as NSS computes it
#   P11_RSA_LABEL P11_EC_LABEL  their CKA_LABEL
#   $T/p11/{rsa,ec}.pub         the public keys (PEM), for openssl -verify
#   $T/p11/{rsa,ec}.der         the certificates (DER)
#
# P11_ENV: `env` and what a client needs to load the module: with a module
# built with ASan (configure --enable-sanitizers) the ASan runtime first
# (LD_PRELOAD) and no leak report at the client's exit (NSS and OpenSC
# leave memory behind).  p11_token then also makes pkcs11-tool, p11tool,
# p11-kit, certutil, modutil and cmsutil functions that run the tool so;
# a command that runs a client itself (setsid, runuser) puts
# "${P11_ENV[@]}" in front of it.  P11_ASAN is then the runtime's path.
#
# p11_spy_calls LOG FUNCTION: from a pkcs11-spy log, one line per call of
# FUNCTION: its mechanism (or -) and its return value, e.g.
# "CKM_RSA_PKCS CKR_OK".
#
# SMK_P11_STANDIN=softhsm (by hand, never in make check): the same token
# on SoftHSM2 instead of our module, to tell a client's behaviour from the
# module's.  SoftHSM2 lacks several things the scripts assert (OAEP with
# SHA-2, CKO_PROFILE, ECDSA-SHA*, ...): p11_standin_lacks WHAT skips those.

: "${SMK_PKCS11_MODULE:?run through make check}"
. "$SMK_TEST_SRCDIR/token/tokenlib.sh"
P11_MODULE=$SMK_PKCS11_MODULE
P11_SPY=/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so
P11_STANDIN=${SMK_P11_STANDIN:-}

# p11_need TOOL...: skip the test (77) when a client is not installed.
p11_need() {
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "SKIP: $c is not installed"
			exit 77
		fi
	done
}

# p11_standin_lacks WHAT: true (and a note) when running on the stand-in,
# which cannot do WHAT.
p11_standin_lacks() {
	[ -n "$P11_STANDIN" ] || return 1
	echo "# $P11_STANDIN cannot: $* (not checked)"
	return 0
}

p11_token() {
	local d=$T/p11 k
	mkdir -p "$d"
	chmod 755 "$d"
	P11_PIN=1234-alice
	P11_SO_PIN=so-pin-5678
	P11_PIN_FILE=$d/pin
	printf '%s' "$P11_PIN" > "$P11_PIN_FILE"
	printf '%s' "$P11_SO_PIN" > "$d/so-pin"
	printf '%s' "p12-secret" > "$d/p12-password"
	chmod 600 "$P11_PIN_FILE" "$d/so-pin" "$d/p12-password"
	P11_TOKEN=alice
	P11_RSA_LABEL=alice-rsa
	P11_EC_LABEL=alice-ec
	for k in rsa ec; do
		openssl x509 -in "$C/alice-$k.pem" -noout -pubkey > "$d/$k.pub"
		openssl x509 -in "$C/alice-$k.pem" -outform DER -out "$d/$k.der"
	done
	P11_RSA_ID=$(token_key_id "$d/rsa.pub")
	P11_EC_ID=$(token_key_id "$d/ec.pub")
	[ ${#P11_RSA_ID} = 40 ] && [ ${#P11_EC_ID} = 40 ] || fail "p11_token: key ids"

	if [ "$P11_STANDIN" = softhsm ]; then
		_p11_softhsm "$d"
		return 0
	fi
	[ -f "$P11_MODULE" ] || fail "$P11_MODULE is missing (not built?)"
	_p11_asan

	token_alice "$d" "$P11_TOKEN"
}

P11_ENV=(env)
P11_ASAN=
_p11_asan() {
	local asan t
	asan=$(ldd "$P11_MODULE" 2>/dev/null | awk '/libasan/ { print $3; exit }')
	[ -n "$asan" ] || return 0
	P11_ASAN=$asan
	P11_ENV=(env "LD_PRELOAD=$asan" "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
	for t in pkcs11-tool p11tool p11-kit certutil modutil cmsutil; do
		eval "$t() { \"\${P11_ENV[@]}\" $t \"\$@\"; }"
	done
}

# The stand-in: the same keys, ids and labels on a SoftHSM2 token.
_p11_softhsm() {
	local d=$1 k id use m=/usr/lib/softhsm/libsofthsm2.so
	p11_need softhsm2-util pkcs11-tool
	P11_MODULE=$m
	mkdir -p "$d/softhsm"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$d/softhsm" > "$d/softhsm2.conf"
	chmod 644 "$d/softhsm2.conf"
	export SOFTHSM2_CONF=$d/softhsm2.conf
	softhsm2-util --init-token --free --label "$P11_TOKEN" --so-pin "$P11_SO_PIN" \
		--pin "$P11_PIN" > /dev/null || fail "softhsm2-util --init-token"
	for k in rsa ec; do
		if [ $k = rsa ]; then id=$P11_RSA_ID; else id=$P11_EC_ID; fi
		openssl pkcs8 -topk8 -nocrypt -in "$C/alice-$k.key" -outform DER -out "$d/$k.p8"
		openssl pkey -pubin -in "$d/$k.pub" -outform DER -out "$d/$k.pubder"
		local w=(pkcs11-tool --module "$m" --token-label "$P11_TOKEN" --login --pin "$P11_PIN"
			--id "$id" --label "alice-$k")
		use=(--usage-sign --usage-decrypt)
		[ $k = rsa ] || use+=(--usage-derive)
		"${w[@]}" --write-object "$d/$k.p8" --type privkey "${use[@]}" > /dev/null 2>&1 ||
			fail "softhsm: private key"
		"${w[@]}" --write-object "$d/$k.pubder" --type pubkey > /dev/null 2>&1 ||
			fail "softhsm: public key"
		"${w[@]}" --write-object "$d/$k.der" --type cert > /dev/null 2>&1 ||
			fail "softhsm: certificate"
		rm -f "$d/$k.p8"
	done
}

p11_spy_calls() {
	awk -v f="$2" '
		/^[0-9]+: C_/ { cur = $2; mech = "-"; next }
		cur == f && /pMechanism->type = / { mech = $NF }
		cur == f && /^Returned:/ { print mech, $3; cur = "" }
	' "$1"
}

# p11_run WHAT COMMAND...: runs COMMAND, its output in $T/out and $T/err;
# fails naming WHAT (with both outputs) when it exits non-zero.
p11_run() {
	local what=$1 s=0
	shift
	"$@" > "$T/out" 2> "$T/err" || s=$?
	[ "$s" = 0 ] || { cat "$T/out" "$T/err" >&2; fail "$what: exit $s"; }
}
