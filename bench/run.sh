#!/bin/sh
# bench/run.sh - runs the envelope benchmark from a build directory.
#
# Usage: bench/run.sh [BUILDDIR] [bench/envelope options...]
#
#   bench/run.sh build-bench             all sizes: 10 kB, 1 MB, 100 MB
#   bench/run.sh build-bench --quick     10 kB and 1 MB only (smoke run)
#   cd build-bench && ../bench/run.sh    BUILDDIR defaults to the current directory
#
# Builds nothing: first `make bench/envelope tools/smimekit` in BUILDDIR.
# It runs BUILDDIR/bench/envelope against BUILDDIR/tools/smimekit.  Other
# options go to bench/envelope: --cert PEM (default: a throwaway RSA-2048
# certificate), --openssl PATH, --min-time SECONDS.  SMK_BENCH_CERT,
# SMK_BENCH_OPENSSL and TMPDIR (where the ~100 MB message file goes) are
# honoured too.
set -eu

builddir=.
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	builddir=$1
	shift
fi

for f in bench/envelope tools/smimekit; do
	if [ ! -x "$builddir/$f" ]; then
		echo "run.sh: $builddir/$f is missing: run 'make bench/envelope tools/smimekit' in $builddir" >&2
		exit 1
	fi
done

exec "$builddir/bench/envelope" --smimekit "$builddir/tools/smimekit" "$@"
