#!/bin/bash
# failover.sh - one reused connection through server trouble: failover to
# the second URI, "unavailable" within the timeout when no server answers
# (refused or hung), recovery after a restart, unavailable never cached.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/ldap/slapd.sh"
: "${SMK_LDAP_PROBE:?run through make check}"

for s in a b; do
	slapd_new $s
	slapd_load_testdata $s
	slapd_start $s
done
A=$(slapd_uri a)
B=$(slapd_uri b)

coproc PROBE { exec "$SMK_LDAP_PROBE" uri="$A $B" base=dc=example,dc=org timeout=2 \
	network_timeout=2 2>>"$T/probe.log"; }
on_exit "kill $PROBE_PID 2>/dev/null"
ask() {
	echo "$*" >&"${PROBE[1]}"
	IFS= read -r -t 30 reply <&"${PROBE[0]}" || fail "no answer to '$*'"
}
want() { [[ $reply =~ $1 ]] || fail "$2: got '$reply'"; }
ms() { echo $(($(date +%s%N) / 1000000)); }

ask lookup bob@example.org
want '^status=ok dn=uid=bob,' "first lookup"
ask server
want "^server=$A\$" "first URI used"
ok "connects to the first URI"

slapd_stop a
ask lookup bob@example.org
want '^status=ok dn=uid=bob,' "lookup with the first server down"
ask server
want "^server=$B\$" "failover"
grep -q "directory $A: search: Can't contact LDAP server: reconnecting" "$T/probe.log" ||
	fail "no log line for the lost connection: $(cat "$T/probe.log")"
grep -q "directory: using $B ($A: " "$T/probe.log" || fail "no log line for the failover"
ok "fails over to the second URI, and says so"

slapd_stop b
t0=$(ms)
ask lookup bob@example.org
t1=$(ms)
want '^status=unavailable error=directory unavailable: ' "both down"
[ $((t1 - t0)) -lt 2500 ] || fail "refused connections took $((t1 - t0)) ms"
ask cached bob@example.org
want '^status=unavailable .* hits=0 misses=1$' "cached lookup, both down"
ok "no server: 'unavailable' at once ($((t1 - t0)) ms), distinct from no entry"

slapd_start a
ask cached bob@example.org
want '^status=ok dn=uid=bob,.* hits=0 misses=2$' "unavailable was not cached"
ask server
want "^server=$A\$" "back on the first server"
ok "recovers when a server is back; unavailable was not cached"

# The reused connection survives a restart of its server.
slapd_restart a
ask lookup alice@example.org
want '^status=ok dn=uid=alice,' "after restart"
ask server
want "^server=$A\$" "same server after restart"
ok "the reused connection recovers after the server restarts"

# A hung server (stopped with SIGSTOP: connections open, nothing answers)
# gives 'unavailable' within the timeout, not a hang.
pid=$(cat "$(slapd_dir a)/slapd.pid")
kill -STOP "$pid"
on_exit "kill -CONT $pid 2>/dev/null"
t0=$(ms)
ask lookup alice@example.org
t1=$(ms)
kill -CONT "$pid"
want '^status=unavailable' "hung server"
[ $((t1 - t0)) -ge 1500 ] && [ $((t1 - t0)) -lt 3500 ] ||
	fail "hung server: answered after $((t1 - t0)) ms, want about the 2 s timeout"
ok "a hung server gives 'unavailable' after the timeout ($((t1 - t0)) ms)"
ask lookup alice@example.org
want '^status=ok' "after the hang"
ok "and the next lookup works again"
done_testing
