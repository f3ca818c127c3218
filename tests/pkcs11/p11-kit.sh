#!/bin/bash
# p11-kit.sh - smimekit-pkcs11.so registered with p11-kit as an installed
# `smimekit.module` would register it: `p11-kit list-modules` shows it
# with its token; clients that load every registered module through
# p11-kit-proxy.so (pkcs11-tool --module p11-kit-proxy.so, GnuTLS's
# p11tool without --provider) list the token and sign and decrypt with it,
# checked by openssl.
#
# The module file goes into a user configuration ($XDG_CONFIG_HOME/pkcs11/
# modules, with `user-config: only` so the machine's modules stay out),
# not into /usr/share/p11-kit/modules: nothing outside the test directory
# is touched.  p11-kit ignores user configuration for root, so as root the
# clients run as the user nobody (the token's files handed over to it).
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/pkcs11/p11lib.sh"
p11_need p11-kit pkcs11-tool
proxy=/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so
if [ ! -f "$proxy" ]; then
	echo "SKIP: $proxy is not installed (p11-kit-modules)"
	exit 77
fi
need openssl

p11_token
d=$T/p11
cfg=$T/xdg/pkcs11
mkdir -p "$cfg/modules" "$T/home"
echo 'user-config: only' > "$cfg/pkcs11.conf"
# The module file make install installs (made in the build's pkcs11/),
# pointing at the module in the build instead of its installed place.
src=${P11_MODULE%/.libs/*}/smimekit.module
if [ -z "$P11_STANDIN" ]; then
	[ -f "$src" ] || fail "$src is missing (made by make in the build's pkcs11/)"
	grep -Eq '^module: *(/.*/)?smimekit-pkcs11\.so *$' "$src" ||
		fail "$src does not name smimekit-pkcs11.so: $(cat "$src")"
	sed -e "s|^module:.*|module: $P11_MODULE|" "$src" > "$cfg/modules/smimekit.module"
else
	echo "module: $P11_MODULE" > "$cfg/modules/smimekit.module"
fi
chmod -R a+rX "$T/xdg"

# as_user COMMAND...: COMMAND with the test's p11-kit configuration, as
# nobody when we are root
as_user() {
	local e=(env "XDG_CONFIG_HOME=$T/xdg" "HOME=$T/home" "XDG_STATE_HOME=$T/home/state"
		"SMIMEKIT_CONF=${SMIMEKIT_CONF:-}" "SOFTHSM2_CONF=${SOFTHSM2_CONF:-}"
		"OPENSSL_CONF=/dev/null" "PATH=$PATH" "${P11_ENV[@]:1}")
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "${e[@]}" "$@"
	else
		"${e[@]}" "$@"
	fi
}
if [ "$(id -u)" = 0 ]; then
	need runuser
	chown -R nobody: "$d" "$T/home"
	chmod 644 "$d"/*.pub
fi
# user_run WHAT COMMAND...: p11_run as the user; files written go to $T/u
mkdir -p "$T/u"
chmod 777 "$T/u"
user_run() { local what=$1; shift; p11_run "$what" as_user "$@"; }

# With the ASan runtime preloaded (a module built with --enable-sanitizers)
# the p11-kit command and GnuTLS's own p11-kit loading hang at exit, in
# libp11-kit's destructor (freelocale), with the machine's modules alone:
# those parts run in the normal build only.
no_asan() {
	[ -n "$P11_ASAN" ] || return 0
	echo "# ASan build: $* not run (libp11-kit hangs at exit under the ASan runtime)"
	return 1
}

# ---- p11-kit sees the module and its token
if no_asan "p11-kit list-modules"; then
	user_run "p11-kit list-modules" p11-kit list-modules
	has_line "$T/out" "^smimekit: $P11_MODULE\$" "list-modules: the module"
	has_line "$T/out" "^    token: $P11_TOKEN\$" "list-modules: the token"
	awk -v t="    token: $P11_TOKEN" '$0 == t { on = 1; next } /^    [a-z]/ && on { exit } on' "$T/out" \
		> "$T/token"
	has_line "$T/token" '^ +token-initialized$' "list-modules: token initialized"
	has_line "$T/token" '^ +user-pin-initialized$' "list-modules: user PIN initialized"
	has_line "$T/token" '^ +login-required$' "list-modules: login required"
	lacks "$T/out" '^(opensc|softhsm2|p11-kit-trust):' "list-modules: the machine's modules"
	ok "p11-kit list-modules shows the smimekit module and its token"
fi

# ---- pkcs11-tool through p11-kit-proxy.so
tool=(pkcs11-tool --module "$proxy" --token-label "$P11_TOKEN")
user=("${tool[@]}" --login --pin "$P11_PIN")
user_run "proxy: --list-token-slots" pkcs11-tool --module "$proxy" --list-token-slots
has_line "$T/out" "^  token label +: $P11_TOKEN\$" "proxy: the token"
user_run "proxy: --list-objects" "${tool[@]}" --list-objects --type cert
has_line "$T/out" "^  ID: +$P11_RSA_ID\$" "proxy: RSA certificate"
has_line "$T/out" "^  ID: +$P11_EC_ID\$" "proxy: EC certificate"
ok "pkcs11-tool through p11-kit-proxy.so: the token and its certificates"

printf 'signed through the p11-kit proxy\n' > "$T/u/data"
user_run "proxy: sign RSA" "${user[@]}" --id "$P11_RSA_ID" --sign -m SHA256-RSA-PKCS \
	-i "$T/u/data" -o "$T/u/sig"
openssl dgst -sha256 -verify "$d/rsa.pub" -signature "$T/u/sig" "$T/u/data" > /dev/null ||
	fail "openssl rejects the RSA signature made through the proxy"
openssl dgst -sha256 -binary "$T/u/data" > "$T/u/data.sha256"
user_run "proxy: sign ECDSA" "${user[@]}" --id "$P11_EC_ID" --sign -m ECDSA \
	--signature-format openssl -i "$T/u/data.sha256" -o "$T/u/sig"
openssl pkeyutl -verify -pubin -inkey "$d/ec.pub" -in "$T/u/data.sha256" -sigfile "$T/u/sig" \
	> /dev/null || fail "openssl rejects the ECDSA signature made through the proxy"
head -c 32 /dev/urandom > "$T/u/secret"
openssl pkeyutl -encrypt -pubin -inkey "$d/rsa.pub" -in "$T/u/secret" -out "$T/u/enc"
user_run "proxy: decrypt" "${user[@]}" --id "$P11_RSA_ID" --decrypt -m RSA-PKCS \
	-i "$T/u/enc" -o "$T/u/dec"
same "$T/u/secret" "$T/u/dec" "RSA-PKCS decryption through the proxy"
ok "through p11-kit-proxy.so: RSA and ECDSA signatures verified by openssl, RSA decryption"

# ---- GnuTLS finds the token through p11-kit by itself (no --provider)
if command -v p11tool > /dev/null && no_asan "p11tool through p11-kit's configuration"; then
	user_run "p11tool --list-tokens" p11tool --list-tokens
	grep -q "^	Label: $P11_TOKEN\$" "$T/out" ||
		fail "GnuTLS skipped the module p11-kit gave it (tests/pkcs11/p11tool.sh says why)"
	user_run "p11tool --list-all-certs" p11tool --list-all-certs "pkcs11:token=$P11_TOKEN"
	[ "$(grep -c '^Object [0-9]*:' "$T/out")" = 2 ] || fail "p11tool: want 2 certificates: $(cat "$T/out")"
	user_run "p11tool --test-sign" \
		env "GNUTLS_PIN=$P11_PIN" p11tool --login --test-sign \
		"pkcs11:token=$P11_TOKEN;object=$P11_EC_LABEL;type=private"
	cat "$T/out" "$T/err" > "$T/all"
	has_line "$T/all" '^Verifying against public key in the token\.\.\. ok$' "p11tool --test-sign"
	ok "GnuTLS's p11tool without --provider finds the token through p11-kit and signs"
fi
done_testing
