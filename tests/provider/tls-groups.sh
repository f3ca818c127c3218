#!/bin/bash
# tls-groups.sh - a TLS client with smimekit.so activated first (the
# documented `-provider smimekit -provider default`, and the order of
# doc/openssl/smimekit.cnf) still offers the NIST curves: OpenSSL 3.0's
# TLS code keeps a group only if fetching its key management ("EC") finds
# the provider that announced the group, so a provider whose EC key
# management is found first, without TLS-GROUP capabilities of its own,
# leaves P-256/P-384/P-521 out of the ClientHello.  Checked: the
# ClientHello's supported_groups (s_client -trace), and TLS 1.2 (ECDHE
# needs a common curve) against a P-256 server, without and with client
# authentication by a token key.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
need openssl setsid timeout

prov_token
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/server.key" 2> /dev/null
openssl req -new -x509 -key "$T/server.key" -subj /CN=localhost -days 2 -out "$T/server.pem"

printf 'GET / HTTP/1.0\r\n\r\n' > "$T/get"
# shellcheck disable=SC2034 # read by provlib.sh
PROV_STDIN=$T/get

prov_server "$T/server.pem" "$T/server.key"
prov_run s_client -connect "127.0.0.1:$PROV_PORT" -tls1_2 -trace -ign_eof
prov_server_stop
awk '/extension_type=supported_groups/ { g = 1; next } g && /extension_type=/ { exit } g' "$T/out" \
	> "$T/groups"
grep -q 'secp256r1' "$T/groups" ||
	fail "smimekit first: the ClientHello offers no P-256: $(tr -s ' \n' ' ' < "$T/groups")"
[ "$PROV_STATUS" = 0 ] || { cat "$T/err" >&2; fail "TLS 1.2 to a P-256 server: s_client exit $PROV_STATUS"; }
ok "smimekit activated first: the ClientHello offers P-256, TLS 1.2 to a P-256 server works"

prov_server "$T/server.pem" "$T/server.key" -Verify 1 -CAfile "$C/ca.pem" -verify_return_error -purpose smimesign
prov_run s_client -connect "127.0.0.1:$PROV_PORT" -tls1_2 -cert "$C/alice-ec.pem" -key "$PROV_EC_KEY" -ign_eof
prov_server_stop
[ "$PROV_STATUS" = 0 ] ||
	{ cat "$T/err" "$T/srv.err" >&2; fail "TLS 1.2 client auth with the token's EC key: exit $PROV_STATUS"; }
has_line "$T/out" '^Client certificate' "the server got the client certificate"
ok "smimekit activated first: TLS 1.2 client authentication with the token's EC key"
done_testing
