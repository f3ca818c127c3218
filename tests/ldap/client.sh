#!/bin/bash
# client.sh - the ldap/ client against a real slapd: lookup hit, miss and
# entry without certificate; several values; PKCS#7 parsing; aliases
# through the filter; addresses that try filter injection; garbage values
# skipped with a log line; the cache; escrow and its ACL.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/ldap/slapd.sh"
: "${SMK_LDAP_PROBE:?run through make check}"

slapd_new dir
slapd_load_testdata dir
slapd_start dir
uri=$(slapd_uri dir)
base=dc=example,dc=org
serial() { openssl x509 -in "$C/$1.pem" -noout -serial | cut -d= -f2; }

# probe SETTING=VALUE...: starts the long-lived client as a coprocess
probe() {
	if [ -n "${PROBE_PID:-}" ]; then
		exec {PROBE[1]}>&-
		wait "$PROBE_PID" || true
	fi
	coproc PROBE { exec "$SMK_LDAP_PROBE" "$@" 2>>"$T/probe.log"; }
	on_exit "kill $PROBE_PID 2>/dev/null"
}
ask() {	# ask COMMAND... -> $reply
	echo "$*" >&"${PROBE[1]}"
	IFS= read -r -t 30 reply <&"${PROBE[0]}" || fail "no answer to '$*'"
}
want() {	# want REGEX WHAT
	[[ $reply =~ $1 ]] || fail "$2: got '$reply'"
}

probe uri="$uri" base=$base filter='(|(mail=%s)(mailLocalAddress=%s))' timeout=3

ask lookup alice@example.org
want '^status=ok dn=uid=alice,ou=people,dc=example,dc=org certs=3 chain=0 skipped=0 ' "alice"
for c in alice-rsa alice-ec alice-rsa-new; do
	want "serials=.*\\b$(serial $c)\\b" "alice's $c"
done
ok "lookup finds every certificate of both attributes (DER and PKCS#7)"

ask lookup ALICE@Example.ORG
want '^status=ok dn=uid=alice,' "case"
ask lookup ali@example.org
want '^status=ok dn=uid=alice,ou=people,dc=example,dc=org certs=3' "alias"
ok "lookup by alias through the filter, mail matched case-insensitively"

ask lookup nobody@example.org
want '^status=no-entry error=no directory entry for nobody@example.org$' "miss"
ask lookup carol@example.org
want '^status=no-cert dn=uid=carol,ou=people,dc=example,dc=org certs=0 .*has no certificate' "carol"
ok "no entry and entry without certificate are told apart"

ask lookup '*@example.org'
want "^status=ok dn=uid=star,ou=people,dc=example,dc=org certs=1 chain=0 skipped=0 serials=$(serial alice-expired)\$" "star"
ask lookup '"a)(uid=*"@example.org'
want "^status=ok dn=uid=paren,ou=people,dc=example,dc=org certs=1 .*serials=$(serial bob)\$" "paren"
ask lookup '*'
want '^status=no-entry' "bare star"
ask lookup 'x)(mail=*'
want '^status=no-entry' "injection"
ask lookup 'al*@example.org'
want '^status=no-entry' "wildcard"
ok "addresses with * ( ) match only themselves"

# Two entries for one address: an error, never a guess.
for u in dup1 dup2; do
	printf 'dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: dup@example.org\n\n' \
		$u $base $u $u $u
done > "$T/dup.ldif"
slapd_add dir "$T/dup.ldif"
ask lookup dup@example.org
want '^status=error error=dup@example.org matches 2 directory entries \(filter .*\): refusing to guess$' "ambiguous"
ok "an address that matches two entries is an error"

: > "$T/probe.log"
ask lookup garbage@example.org
want "^status=ok dn=uid=garbage,ou=people,dc=example,dc=org certs=1 chain=0 skipped=4 serials=$(serial alice-rsa-new)\$" "garbage"
grep -q 'userCertificate;binary value [0-9] (64 bytes) is not a DER certificate: skipped' "$T/probe.log" ||
	fail "no log line for the random value: $(cat "$T/probe.log")"
grep -q 'is a CA certificate: skipped' "$T/probe.log" || fail "no log line for the CA"
grep -q 'userSMIMECertificate value 1 (48 bytes) is not PKCS#7 certs-only: skipped' "$T/probe.log" ||
	fail "no log line for the bad PKCS#7"
[ "$(grep -c 'skipped' "$T/probe.log")" = 4 ] || fail "want 4 log lines: $(cat "$T/probe.log")"
ok "garbage values are skipped with a log line each, the good one is kept"

# The cache: a miss, then hits; negative answers are cached too.
ask cached bob@example.org
want "^status=ok .*serials=$(serial bob) hits=0 misses=1\$" "first"
ask cached BOB@example.org
want "^status=ok .*serials=$(serial bob) hits=1 misses=1\$" "second"
ask cached carol@example.org
want '^status=no-cert .*hits=1 misses=2$' "carol first"
ask cached carol@example.org
want '^status=no-cert .*\(cached\) hits=2 misses=2$' "carol cached"
ok "the cache answers repeated lookups, positive and negative"

# The cache's bounds: at most cache_size addresses, least recently used
# out first; entries expire after their TTL.
probe uri="$uri" base=$base cache_size=2 cache_ttl=1 negative_cache_ttl=1
ask cached alice@example.org
want 'hits=0 misses=1$' "a"
ask cached bob@example.org
want 'hits=0 misses=2$' "b"
ask cached alice@example.org
want 'hits=1 misses=2$' "a again: hit"
ask cached carol@example.org
want 'hits=1 misses=3$' "c: evicts b, the least recently used"
ask cached alice@example.org
want 'hits=2 misses=3$' "a still cached"
ask cached bob@example.org
want '^status=ok .*hits=2 misses=4$' "b was evicted"
sleep 1.2
ask cached bob@example.org
want '^status=ok .*hits=2 misses=5$' "b expired"
ok "the cache keeps at most cache_size addresses (LRU) and honours the TTL"

probe uri="$uri" base=$base filter='(|(mail=%s)(mailLocalAddress=%s))' timeout=3

# Escrow: only the entry itself reads userPKCS12.
alice=uid=alice,ou=people,dc=example,dc=org
ask lookup alice@example.org
ask escrow-read $alice "$T/alice.pw"
want "^status=ok values=1 sizes=$(wc -c < "$C/alice-rsa.p12")\$" "alice reads her escrow"
ask escrow-read $alice "$T/bob.pw"
want '^status=authentication failed' "bob's password for alice's DN"
ldapsearch -x -H "$uri" -b "$alice" -s base -LLL userPKCS12 > "$T/anon.ldif"
! grep -q userPKCS12 "$T/anon.ldif" || fail "anonymous read userPKCS12"
printf 'second key' > "$T/new.p12"
ask escrow-add $alice "$T/alice.pw" "$T/new.p12"
want '^status=ok$' "alice escrows a new key"
ask escrow-read $alice "$T/alice.pw"
want "^status=ok values=2 " "both keys kept"
ok "escrowed keys: self reads and adds, anonymous reads nothing"
done_testing
