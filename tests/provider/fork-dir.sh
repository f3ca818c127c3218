#!/bin/bash
# fork-dir.sh - a directory (cloud) token of the smimekit provider across
# fork(), against a real slapd, over plain LDAP, StartTLS and ldaps://.
#
# tests/provider/fork in its `directory` mode (see fork.c) loads alice's
# escrowed RSA key through the provider (login with her PIN, a bind as
# her), lists the token's certificates (a directory search: cache_ttl = 0),
# signs and decrypts, then forks.  The child signs and decrypts with the
# key in memory and lists the certificates again, which needs the
# directory: it must open a connection of its own and leave the parent's
# alone.  After the child exited, the parent lists the certificates again
# on its own connection.
#
# The parent's connection must not have been touched by the child: no
# unbind, and over TLS no close_notify (libldap's TLS layer sends one when
# a handle is destroyed).  Checked in slapd's log (stats): the parent's
# search after the child ran on the connection it used before the fork,
# and that connection was not closed before the parent itself ended; and
# the provider logged no reconnection.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
need openssl
export SMK_SLAPD_DEBUG=stats
. "$SMK_TEST_SRCDIR/ldap/slapd.sh"

helper=$(cd "$SMK_PROVIDER_DIR/../.." && pwd)/tests/provider/fork
[ -x "$helper" ] || fail "$helper is missing (not built?)"
[ -f "$PROV_SO" ] || fail "$PROV_SO is missing (not built?)"
# an ASan build: the runtime and the provider preloaded (PROV_ENV), as
# prov_token does for the openssl command
_prov_asan

issue_cert "$T/server" 127.0.0.1 0x5f "basicConstraints=CA:false" \
	"keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
	"subjectAltName=IP:127.0.0.1,DNS:localhost"
slapd_new dir
slapd_tls dir "$T/server.pem" "$T/server.key"
slapd_load_testdata dir
slapd_start dir
plain=$(slapd_uri dir)
ldaps=$(slapd_ldaps_uri dir)
log=$(slapd_dir dir)/slapd.log
base=dc=example,dc=org

# The admin escrows alice's RSA key under her PIN (her LDAP password).
(umask 077 && printf 'p12 password' > "$T/p12pw")
openssl pkcs12 -export -inkey "$C/alice-rsa.key" -in "$C/alice-rsa.pem" -name alice-rsa \
	-passout "file:$T/p12pw" -out "$T/alice-rsa.p12" || fail "openssl pkcs12 -export"
printf '[directory]\nuri = %s\nbase = %s\n' "$plain" "$base" > "$T/escrow.conf"
SMIMEKIT_CONF=$T/escrow.conf "$SMIMEKIT" token escrow --bind-dn "cn=admin,$base" \
	--bind-password-file "$T/admin.pw" alice@example.org "$T/alice-rsa.p12" \
	--pin-file "$T/alice.pw" --p12-password-file "$T/p12pw" > "$T/escrow.out" 2>&1 ||
	fail "smimekit token escrow: $(cat "$T/escrow.out")"
openssl x509 -in "$C/alice-rsa.pem" -noout -pubkey > "$T/rsa.pub"
id=$(prov_pct "$(token_key_id "$T/rsa.pub")")

# run NAME URI [CONFIG-LINE...]: the helper against the directory at URI
run() {
	local name=$1 uri=$2 line
	shift 2
	{
		printf '[directory]\nuri = %s\nbase = %s\ntimeout = 5\nnetwork_timeout = 5\n' "$uri" "$base"
		printf 'cache_ttl = 0\nnegative_cache_ttl = 0\n'
		for line in "$@"; do printf '%s\n' "$line"; done
		printf '\n[token cloud]\ntype = directory\naddress = alice@example.org\n'
	} > "$T/$name.conf"
	lines_before=$(wc -l < "$log")
	status=0
	SMIMEKIT_CONF=$T/$name.conf SMIMEKIT_DEBUG=1 \
		FORK_KEY_URI="pkcs11:token=alice@example.org;id=$id;type=private;pin-source=file:$T/alice.pw" \
		FORK_CERTS_URI="pkcs11:token=alice@example.org;type=cert" FORK_CERT="$C/alice-rsa.pem" \
		"${PROV_ENV[@]}" "$helper" directory > "$T/$name.out" 2> "$T/$name.err" || status=$?
	[ "$status" = 0 ] || { cat "$T/$name.out" "$T/$name.err" >&2; fail "$name: the helper exited $status"; }
}

# check NAME: what the helper printed, and what slapd saw
check() {
	local name=$1 n conns search_conn
	n=$(sed -n 's/^parent: \([0-9]*\) certificates$/\1/p' "$T/$name.out")
	[ -n "$n" ] && [ "$n" -gt 0 ] || { cat "$T/$name.out" "$T/$name.err" >&2; fail "$name: no listing before fork"; }
	has_line "$T/$name.out" '^parent: signed and decrypted$' "$name: parent before fork"
	has_line "$T/$name.out" '^child: signed yes, decrypted yes$' "$name: the child's key operations"
	has_line "$T/$name.out" "^child: $n certificates\$" "$name: the child's listing"
	has_line "$T/$name.out" '^parent: the child exited 0$' "$name: the child's exit"
	has_line "$T/$name.out" "^parent after the child: $n certificates\$" "$name: the parent's listing after"
	has_line "$T/$name.out" '^parent after the child: signed and decrypted$' "$name: parent after"
	lacks "$T/$name.err" 'reconnect|Can.t contact|unavailable|error' "$name: the provider's log"

	# slapd writes its log a moment after the fact: wait for the last
	# event, the parent's unbind of its first connection at its exit
	for _ in $(seq 100); do
		tail -n +"$((lines_before + 1))" "$log" > "$T/$name.slapd"
		search_conn=$(grep -m1 -o 'conn=[0-9]* op=[0-9]* SRCH base=' "$T/$name.slapd" | cut -d' ' -f1)
		[ -n "$search_conn" ] && grep -q "$search_conn op=[0-9]* UNBIND" "$T/$name.slapd" && break
		sleep 0.05
	done

	# slapd: three connections (the parent's searches, the parent's bind
	# as alice at login, the child's searches); the parent's last search
	# ran on the connection of its first one, which was never closed
	# while the parent ran (slapd logs "closed" only after the client
	# ended it: the unbind, close_notify or the process' exit)
	conns=$(grep -c ' ACCEPT from ' "$T/$name.slapd")
	[ "$conns" = 3 ] || { cat "$T/$name.slapd" >&2; fail "$name: $conns connections, not 3"; }
	search_conn=$(grep -m1 -o 'conn=[0-9]* op=[0-9]* SRCH base=' "$T/$name.slapd" | cut -d' ' -f1)
	[ -n "$search_conn" ] || fail "$name: no search in slapd's log"
	grep -o 'conn=[0-9]* op=[0-9]* SRCH base=' "$T/$name.slapd" | tail -n 1 |
		grep -q "^$search_conn " || { cat "$T/$name.slapd" >&2; fail "$name: the parent's last search not on $search_conn"; }
	# what ended the parent's connection: nothing before the helper's own
	# end (its unbind at exit), so its UNBIND is there and no TLS failure
	grep -q "$search_conn op=[0-9]* UNBIND" "$T/$name.slapd" ||
		{ cat "$T/$name.slapd" >&2; fail "$name: the parent's connection was not unbound by the parent"; }
	! grep -E "$search_conn .*closed \((connection lost|TLS|.*error)" "$T/$name.slapd" ||
		fail "$name: the parent's connection was cut"
}

run plain "$plain"
check plain
ok "plain LDAP: after fork the child signs, decrypts and lists on its own connection; the parent's connection keeps working"

run starttls "$plain" "starttls = yes" "tls_ca_file = $C/ca.pem"
check starttls
ok "StartTLS: the child leaves the parent's TLS session alone (no close_notify); the parent's connection keeps working"

run ldaps "$ldaps" "tls_ca_file = $C/ca.pem"
check ldaps
ok "ldaps://: the same"
done_testing
