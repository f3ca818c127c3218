#!/bin/bash
# bench/ldap-lookup.sh - runs the directory lookup benchmark against a
# throwaway slapd.
#
# Usage: bench/ldap-lookup.sh BUILDDIR [bench/ldap-lookup options...]
#
#   bench/ldap-lookup.sh build-bench
#   bench/ldap-lookup.sh build-bench --min-time 1 --ldapsearch-time 5
#
# Builds BUILDDIR's bench/ldap-lookup and test certificates first when they
# are missing (make -C BUILDDIR tests/certs/stamp bench/ldap-lookup).  Then,
# with the test fixture (tests/lib.sh, tests/ldap/slapd.sh: needs slapd,
# slapadd and ldap-utils), it makes one server on 127.0.0.1 with
# dc=example,dc=org, ou=people and 10,000 inetOrgPerson entries
# uid=userN,ou=people,dc=example,dc=org (N = 1..10000, mail
# userN@example.org, one userCertificate;binary each, taken in turn from a
# few test certificates), loads them offline with slapadd, starts the
# server and runs BUILDDIR/bench/ldap-lookup against it; the table goes to
# standard output (see bench/ldap-lookup.c for what is measured).  Other
# options go to bench/ldap-lookup.  SMK_BENCH_USERS changes the number of
# entries.  The server and its files (under TMPDIR) are removed at exit,
# also on failure or Ctrl-C.  A benchmark, not a test: `make check` does
# not run it.
set -euo pipefail

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
	echo "usage: $0 BUILDDIR [bench/ldap-lookup options...]" >&2
	exit 2
fi
builddir=$(cd "$1" && pwd)
shift
srcdir=$(cd "$(dirname "$0")/.." && pwd)
users=${SMK_BENCH_USERS:-10000}
case $users in '' | *[!0-9]* | 0) echo "ldap-lookup.sh: SMK_BENCH_USERS=$users is not a count" >&2; exit 2 ;; esac

if [ ! -x "$builddir/bench/ldap-lookup" ] || [ ! -e "$builddir/tests/certs/stamp" ]; then
	make -C "$builddir" tests/certs/stamp bench/ldap-lookup >&2
fi

# What tests/lib.sh wants (SMIMEKIT and the data are not used here).
export SMK_TEST_SRCDIR=$srcdir/tests
export SMK_TEST_CERTS=$builddir/tests/certs/out
export SMK_TEST_DATA=$srcdir/tests/data
export SMIMEKIT=$builddir/tools/smimekit
# shellcheck source=tests/lib.sh
. "$SMK_TEST_SRCDIR/lib.sh"
# shellcheck source=tests/ldap/slapd.sh
. "$SMK_TEST_SRCDIR/ldap/slapd.sh"
# The EXIT trap (lib.sh) stops the server and removes $T; make signals exit.
trap 'exit 130' INT
trap 'exit 143' TERM

suffix=dc=example,dc=org
certs=(alice-rsa alice-ec bob alice-rsa-new)

slapd_new bench
d=$(slapd_dir bench)

echo "ldap-lookup.sh: $users entries for $d ..." >&2
b64=()
for n in "${certs[@]}"; do
	openssl x509 -in "$C/$n.pem" -outform DER -out "$d/$n.der"
	b64+=("$(base64 -w0 "$d/$n.der")")
done
{
	cat <<-EOF
		dn: $suffix
		objectClass: dcObject
		objectClass: organization
		dc: example
		o: Example

		dn: ou=people,$suffix
		objectClass: organizationalUnit
		ou: people
	EOF
	# Entry N gets certificate (N - 1) mod 4.
	awk -v users="$users" -v suffix="$suffix" -v c0="${b64[0]}" -v c1="${b64[1]}" \
		-v c2="${b64[2]}" -v c3="${b64[3]}" 'BEGIN {
		cert[0] = c0; cert[1] = c1; cert[2] = c2; cert[3] = c3
		for (n = 1; n <= users; n++) {
			printf "\ndn: uid=user%d,ou=people,%s\n", n, suffix
			printf "objectClass: inetOrgPerson\nuid: user%d\ncn: User %d\nsn: %d\n", n, n, n
			printf "mail: user%d@example.org\n", n
			printf "userCertificate;binary:: %s\n", cert[(n - 1) % 4]
		}
	}'
} >"$d/bench.ldif"

# Offline, the server not started yet; -q: no consistency checks (fast).
_slapd_tool "$d" slapadd -q -F "$d/slapd.d" -b "$suffix" -l "$d/bench.ldif"
slapd_start bench
uri=$(slapd_uri bench)
echo "ldap-lookup.sh: slapd $(slapd -VV 2>&1 | sed -n 's/.*slapd \([0-9][0-9.]*\).*/\1/p' | head -n1) at $uri" \
	"(certificates: ${certs[*]})" >&2

"$builddir/bench/ldap-lookup" --uri "$uri" --base "$suffix" --users "$users" "$@"
