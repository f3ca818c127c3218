#!/bin/bash
# tls.sh - the directory over StartTLS and ldaps://: the server's
# certificate is checked against tls_ca_file, a wrong CA is refused with a
# message that says so, and tls_require_cert = no skips the check.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/ldap/slapd.sh"

# A server certificate for 127.0.0.1 from the test CA.
issue_cert "$T/server" 127.0.0.1 0x5e "basicConstraints=CA:false" \
	"keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
	"subjectAltName=IP:127.0.0.1,DNS:localhost"

slapd_new tls
slapd_tls tls "$T/server.pem" "$T/server.key"
slapd_load_testdata tls
slapd_start tls
plain=$(slapd_uri tls)
ldaps=$(slapd_ldaps_uri tls)

conf() {	# conf NAME URI KEY=VALUE...
	local f=$T/$1.conf uri=$2
	shift 2
	{ printf '[directory]\nuri = %s\nbase = dc=example,dc=org\ntimeout = 3\n' "$uri"
	  printf '%s\n' "$@" | sed 's/=/ = /'; } > "$f"
}
lookup() {	# lookup WANT CONF
	local s=0
	"$SMIMEKIT" directory lookup --config "$T/$2.conf" bob@example.org > /dev/null 2> "$T/err" || s=$?
	[ "$s" = "$1" ] || { cat "$T/err" >&2; fail "$2: exit $s, want $1"; }
}

conf starttls "$plain" starttls=yes "tls_ca_file=$C/ca.pem"
lookup 0 starttls
conf ldaps "$ldaps" "tls_ca_file=$C/ca.pem"
lookup 0 ldaps
ok "StartTLS and ldaps:// with the right CA"

conf starttls-wrong "$plain" starttls=yes "tls_ca_file=$C/other-ca.pem"
lookup 2 starttls-wrong
has_line "$T/err" "directory $plain: StartTLS: TLS handshake failed: server certificate not trusted by .*other-ca.pem" "wrong CA, StartTLS"
conf ldaps-wrong "$ldaps" "tls_ca_file=$C/other-ca.pem"
lookup 2 ldaps-wrong
has_line "$T/err" "$ldaps: bind: .*check tls_ca_file" "wrong CA, ldaps"
ok "a server certificate from another CA is refused, and the message names the server"

conf starttls-nocheck "$plain" starttls=yes "tls_ca_file=$C/other-ca.pem" tls_require_cert=no
lookup 0 starttls-nocheck
ok "tls_require_cert = no skips the check"

conf wrong-scheme "$ldaps" starttls=yes
lookup 2 wrong-scheme
has_line "$T/err" 'starttls is for ldap:// URIs' "starttls with ldaps"
ok "starttls with an ldaps:// URI is a configuration error"
done_testing
