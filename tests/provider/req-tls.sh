#!/bin/bash
# req-tls.sh - certificate requests and TLS client authentication with
# alice's keys on a file token through smimekit.so and the stock openssl
# command.  `openssl req -new -key 'pkcs11:...'` makes CSRs (RSA PKCS#1
# v1.5, RSA-PSS, ECDSA) that `openssl req -verify` accepts and that carry
# the token key's public key (enrolment needs this).  `openssl s_client
# -cert CERT -key 'pkcs11:...'` completes a handshake with `openssl
# s_server -Verify 1 -verify_return_error` on a free loopback port (TLS 1.3
# with RSA-PSS and ECDSA, TLS 1.2 with RSA PKCS#1 v1.5), the server
# verifying the client certificate against the test CA: alice's S/MIME
# certificates, and a TLS client certificate the CA issues for a CSR the
# token key made; with either activation order.  A certificate that is
# not the key's is refused.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
need openssl setsid timeout

prov_token
d=$T/prov
# shellcheck disable=SC2034 # used as ${!key}
key_rsa=$PROV_RSA_KEY
# shellcheck disable=SC2034
key_ec=$PROV_EC_KEY

# ---- certificate requests
# csr_check CSR WHO WHAT: the CSR's self-signature verifies and its key is alice-WHO's
csr_check() {
	openssl req -verify -noout -in "$1" > "$T/req.out" 2>&1 ||
		fail "openssl req -verify rejects the CSR ($3): $(cat "$T/req.out")"
	# (openssl 3.0's req -verify exits 0 on a bad signature too: its words count)
	has_line "$T/req.out" 'self-signature verify OK' "req -verify ($3)"
	lacks "$T/req.out" 'failure' "req -verify ($3)"
	openssl req -in "$1" -noout -pubkey > "$T/csr.pub"
	same "$d/$2.pub" "$T/csr.pub" "the CSR's public key ($3)"
}
for who in rsa ec; do
	key=key_$who
	rm -f "$T/$who.csr"
	prov_ok "req -new ($who)" req -new -key "${!key}" -sha256 \
		-subj "/CN=Alice Example/emailAddress=alice@example.org" -out "$T/$who.csr"
	csr_check "$T/$who.csr" "$who" "$who"
	openssl req -in "$T/$who.csr" -noout -subject > "$T/subject"
	has_line "$T/subject" 'CN ?= ?Alice Example' "the CSR's subject ($who)"
done
# the signature is checked, not just present: a changed subject does not verify
openssl req -in "$T/rsa.csr" -outform DER -out "$T/rsa.csr.der"
sed -e 's/Alice Example/Alice Exampel/' "$T/rsa.csr.der" > "$T/tampered.der"
cmp -s "$T/rsa.csr.der" "$T/tampered.der" && fail "the subject was not changed"
openssl req -verify -noout -inform DER -in "$T/tampered.der" > "$T/req.out" 2>&1 || true
has_line "$T/req.out" 'self-signature verify failure' "req -verify of a CSR with a changed subject"
prov_ok "req -new RSA-PSS" req -new -key "$key_rsa" -sha256 -sigopt rsa_padding_mode:pss \
	-sigopt rsa_pss_saltlen:32 -subj "/CN=Alice Example" -out "$T/pss.csr"
csr_check "$T/pss.csr" rsa "RSA-PSS"
openssl req -in "$T/pss.csr" -noout -text > "$T/pss.txt"
has_line "$T/pss.txt" 'Signature Algorithm: rsassaPss' "the CSR is signed with RSASSA-PSS"
ok "openssl req -new -key pkcs11: makes CSRs (RSA PKCS#1, RSA-PSS, ECDSA) that verify and carry the token key"

# ---- TLS client authentication
# The server: a P-256 key and a certificate for localhost from the test CA.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/server.key" 2> /dev/null
openssl req -new -key "$T/server.key" -subj /CN=localhost -out "$T/server.csr"
printf '%s\n' basicConstraints=CA:false keyUsage=critical,digitalSignature \
	extendedKeyUsage=serverAuth subjectAltName=DNS:localhost,IP:127.0.0.1 > "$T/server.ext"
openssl x509 -req -in "$T/server.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -set_serial 0x5e4e01 \
	-days 2 -extfile "$T/server.ext" -out "$T/server.pem" 2> /dev/null || fail "server certificate"
# A TLS client certificate the CA issues for the CSR the token's RSA key made.
printf '%s\n' basicConstraints=CA:false keyUsage=critical,digitalSignature \
	extendedKeyUsage=clientAuth subjectAltName=email:alice@example.org > "$T/client.ext"
openssl x509 -req -in "$T/rsa.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -set_serial 0xc11e01 \
	-days 2 -extfile "$T/client.ext" -out "$T/client-rsa.pem" 2> /dev/null || fail "client certificate"

# start_server OPTS...: s_server (provlib.sh's prov_server) with the
# status page (-www), the client certificate required and verified
# against the test CA.
start_server() {
	prov_server "$T/server.pem" "$T/server.key" -CAfile "$C/ca.pem" -Verify 1 -verify_return_error "$@"
}

printf 'GET / HTTP/1.0\r\n\r\n' > "$T/get"
# tls WHAT CERT KEY SIGTYPE SERVER-OPTS -- CLIENT-OPTS: a handshake and a
# page; the server saw and verified CERT, and the client's signature was
# of type SIGTYPE (RSA, RSA-PSS, ECDSA: the page's "Peer signature type")
tls() {
	local what=$1 cert=$2 key=$3 sigtype=$4 sopts=() copts=()
	shift 4
	while [ $# -gt 0 ] && [ "$1" != -- ]; do sopts+=("$1"); shift; done
	[ $# = 0 ] || shift
	copts=("$@")
	start_server "${sopts[@]}"
	PROV_STDIN=$T/get
	prov_run s_client -connect "127.0.0.1:$PROV_PORT" -servername localhost -CAfile "$C/ca.pem" \
		-verify_return_error -cert "$cert" -key "$key" -ign_eof "${copts[@]}"
	# shellcheck disable=SC2034 # read by provlib.sh
	PROV_STDIN=/dev/null
	prov_server_wait
	if [ "$PROV_STATUS" != 0 ]; then
		cat "$T/out" "$T/err" "$T/srv.out" "$T/srv.err" >&2
		fail "$what: s_client exit $PROV_STATUS"
	fi
	# the page: the server's view of the connection, with the client certificate
	sed -n '/HTTP\/1\.0 200 ok/,$p' "$T/out" > "$T/page"
	has_line "$T/page" '^Client certificate' "$what: the server got the client certificate"
	has_line "$T/page" "^Peer signature type: $sigtype\$" "$what: the client's signature type"
	sed -n '/^Client certificate/,$p' "$T/page" |
		sed -n '/^-----BEGIN CERTIFICATE-----/,/^-----END CERTIFICATE-----/p' |
		openssl x509 -outform DER > "$T/seen.der" 2> /dev/null || true
	openssl x509 -in "$cert" -outform DER | cmp -s - "$T/seen.der" ||
		fail "$what: the server saw another client certificate"
	# verified: the chain (depth 1 and 0) accepted, no verify error
	has_line "$T/srv.err" '^depth=1 .*CN ?= ?' "$what: the server verified the chain"
	grep -A1 '^depth=0 ' "$T/srv.err" | grep -q '^verify return:1$' ||
		{ cat "$T/srv.err" >&2; fail "$what: the client certificate did not verify"; }
	lacks "$T/srv.err" 'verify error' "$what: server-side verification"
}

# The client with both activation orders (with smimekit first, the TLS
# 1.2 ECDHE key is made by smimekit's EC key management in software:
# capabilities.c, keymgmt.c).
smk_first=("${PROV_ARGS[@]}")
default_first=(-provider-path "$SMK_PROVIDER_DIR" -provider default -provider smimekit)
[ -z "$PROV_STANDIN" ] || default_first=()

# alice's S/MIME certificates: the server checks them as S/MIME signing
# certificates (they have no clientAuth usage)
for order in smimekit-first default-first; do
	if [ "$order" = default-first ]; then
		PROV_ARGS=("${default_first[@]}")
	else
		PROV_ARGS=("${smk_first[@]}")
	fi
	tls "RSA, TLS 1.3, $order" "$C/alice-rsa.pem" "$key_rsa" RSA-PSS -purpose smimesign -- -tls1_3
	has_line "$T/out" 'Protocol *: TLSv1\.3|New, TLSv1\.3' "TLS 1.3"
	tls "EC, TLS 1.3, $order" "$C/alice-ec.pem" "$key_ec" ECDSA -purpose smimesign -- -tls1_3
done
for order in smimekit-first default-first; do
	if [ "$order" = default-first ]; then
		PROV_ARGS=("${default_first[@]}")
	else
		PROV_ARGS=("${smk_first[@]}")
	fi
	tls "RSA PKCS#1, TLS 1.2, $order" "$C/alice-rsa.pem" "$key_rsa" RSA -purpose smimesign \
		-client_sigalgs RSA+SHA256 -- -tls1_2
	has_line "$T/out" 'Protocol *: TLSv1\.2|New, TLSv1\.2' "TLS 1.2"
	tls "EC, TLS 1.2, $order" "$C/alice-ec.pem" "$key_ec" ECDSA -purpose smimesign -- -tls1_2
done
PROV_ARGS=("${smk_first[@]}")
ok "s_client -key pkcs11: authenticates with alice's RSA and EC keys (TLS 1.3 RSA-PSS/ECDSA, TLS 1.2 PKCS#1/ECDSA, either activation order); s_server verifies her certificate"

tls "TLS client certificate for the token's CSR" "$T/client-rsa.pem" "$key_rsa" RSA-PSS -- -tls1_3
ok "a TLS client certificate issued for the token key's CSR works as is (purpose sslclient verified)"

# A certificate that is not the key's: s_client refuses before connecting.
start_server -purpose smimesign
prov_fails "s_client with alice-rsa.pem and the EC key" s_client -connect "127.0.0.1:$PROV_PORT" \
	-CAfile "$C/ca.pem" -cert "$C/alice-rsa.pem" -key "$key_ec"
has_line "$T/err" 'key values mismatch|does not match|mismatch' "the mismatch is named"
prov_server_stop
ok "s_client refuses a certificate that is not the token key's (key values mismatch)"
done_testing
