#!/bin/bash
# software.sh - with smimekit.so activated first (`-provider smimekit
# -provider default`, as the issue and doc/openssl/smimekit.cnf allow),
# OpenSSL 3.0 makes every key it generates or imports by type name with
# smimekit's key management.  Those software keys must work as with the
# default provider alone, and stay software keys:
# - `openssl genpkey` (RSA, EC) and `ecparam -genkey` write keys that
#   plain openssl reads and checks, the private half included;
# - `openssl req -x509 -newkey` generates and signs in one process (the
#   signature made in software by smimekit's operations), and the
#   certificate verifies with plain openssl;
# - TLS with smimekit first on both ends (ECDHE keys generated and used
#   by smimekit in software), TLS 1.3 and 1.2, on P-256 and P-384.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
need openssl setsid timeout

prov_token

# ---- key generation
prov_ok "genpkey RSA" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.key"
openssl pkey -in "$T/rsa.key" -check -noout > "$T/chk" 2>&1 ||
	fail "the generated RSA key does not pass plain openssl's check: $(cat "$T/chk")"
openssl pkey -in "$T/rsa.key" -text -noout | grep -q '^Private-Key: (2048 bit' ||
	fail "the generated RSA key is not a 2048-bit private key"
prov_ok "genpkey EC" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T/ec.key"
openssl pkey -in "$T/ec.key" -check -noout > "$T/chk" 2>&1 ||
	fail "the generated EC key does not pass plain openssl's check: $(cat "$T/chk")"
openssl pkey -in "$T/ec.key" -text -noout | grep -q 'NIST CURVE: P-384' ||
	fail "the generated EC key is not on P-384"
prov_ok "ecparam -genkey" ecparam -name prime256v1 -genkey -noout -out "$T/ec2.key"
openssl pkey -in "$T/ec2.key" -check -noout > /dev/null 2>&1 ||
	fail "ecparam -genkey: the key does not pass plain openssl's check"
ok "smimekit first: genpkey RSA and EC, ecparam -genkey make keys plain openssl reads and checks"

# ---- generate and sign in one process
for kind in rsa:2048 ec; do
	opts=(-newkey "$kind")
	[ "$kind" = ec ] && opts+=(-pkeyopt ec_paramgen_curve:P-256)
	prov_ok "req -x509 -newkey $kind" req -x509 "${opts[@]}" -nodes -subj "/CN=soft $kind" \
		-days 2 -keyout "$T/self.key" -out "$T/self.pem"
	openssl verify -CAfile "$T/self.pem" "$T/self.pem" > "$T/chk" 2>&1 ||
		fail "req -x509 -newkey $kind: the certificate does not verify: $(cat "$T/chk")"
	[ "$(openssl x509 -in "$T/self.pem" -noout -pubkey)" = "$(openssl pkey -in "$T/self.key" -pubout)" ] ||
		fail "req -x509 -newkey $kind: the certificate is not for the key written"
done
ok "smimekit first: req -x509 -newkey rsa and ec generate and self-sign in one process, verified by plain openssl"

# ---- TLS, smimekit first on both ends
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
	-days 2 -keyout "$T/server.key" -out "$T/server.pem" 2> /dev/null

printf 'GET / HTTP/1.0\r\n\r\n' > "$T/get"
# shellcheck disable=SC2034 # read by provlib.sh
PROV_STDIN=$T/get
for v in tls1_3 tls1_2; do
	for g in P-256 P-384; do
		case $g in P-256) cn=prime256v1 cg=P-256 ;; *) cn=secp384r1 cg=P-384:P-256 ;; esac
		prov_server -p "$T/server.pem" "$T/server.key" -groups "$g"
		# (the client also names P-256: TLS 1.2 needs the curve of the
		# server's ECDSA certificate among the client's groups)
		prov_run s_client -connect "127.0.0.1:$PROV_PORT" "-$v" -groups "$cg" -ign_eof
		prov_server_stop
		[ "$PROV_STATUS" = 0 ] ||
			{ cat "$T/err" "$T/srv.err" >&2; fail "$v on $g, smimekit first at both ends: exit $PROV_STATUS"; }
		has_line "$T/out" "^Server Temp Key: ECDH, $cn, " "$v on $g: the key exchange used $g"
	done
done
ok "smimekit first at both ends: TLS 1.3 and 1.2 with ECDHE on P-256 and P-384"
done_testing
