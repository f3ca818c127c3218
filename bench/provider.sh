#!/bin/bash
# bench/provider.sh - runs the OpenSSL provider benchmark: a file token
# with alice's RSA-2048 and P-256 keys, then bench/provider against it.
#
# Usage: bench/provider.sh BUILDDIR [bench/provider options...]
#
#   bench/provider.sh build-bench
#   bench/provider.sh build-bench --min-time 2
#
# Builds BUILDDIR's bench/provider, the provider, the smimekit command and
# the test certificates first when they are missing.  The token is made as
# the provider tests make theirs (tests/provider/provlib.sh: `smimekit
# token init` and `smimekit token import` of PKCS#12 files of
# tests/certs/mkcerts.sh's alice-rsa and alice-ec), under TMPDIR, removed
# at exit.  The table goes to standard output (see bench/provider.c).  A
# benchmark, not a test: `make check` does not run it.
set -euo pipefail

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
	echo "usage: $0 BUILDDIR [bench/provider options...]" >&2
	exit 2
fi
builddir=$(cd "$1" && pwd)
shift
srcdir=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -x "$builddir/bench/provider" ] || [ ! -e "$builddir/tests/certs/stamp" ] ||
	[ ! -e "$builddir/provider/.libs/smimekit.so" ] || [ ! -x "$builddir/tools/smimekit" ]; then
	make -C "$builddir" tests/certs/stamp bench/provider provider/smimekit.la tools/smimekit >&2
fi

# What tests/lib.sh and tests/provider/provlib.sh want.
export SMK_TEST_SRCDIR=$srcdir/tests
export SMK_TEST_CERTS=$builddir/tests/certs/out
export SMK_TEST_DATA=$srcdir/tests/data
export SMIMEKIT=$builddir/tools/smimekit
export SMK_PROVIDER_DIR=$builddir/provider/.libs
# shellcheck source=tests/lib.sh
. "$SMK_TEST_SRCDIR/lib.sh"
# shellcheck source=tests/provider/provlib.sh
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
trap 'exit 130' INT
trap 'exit 143' TERM

prov_token
"${PROV_ENV[@]}" "$builddir/bench/provider" --provider-path "$SMK_PROVIDER_DIR" \
	--rsa-uri "$PROV_RSA_KEY" --ec-uri "$PROV_EC_KEY" \
	--rsa-key "$C/alice-rsa.key" --ec-key "$C/alice-ec.key" "$@"
