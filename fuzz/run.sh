#!/bin/sh
# run.sh BUILDDIR SECONDS [TARGET...] - runs the libFuzzer targets
#
# Runs each target (default: all of them) for SECONDS on a copy of its
# seed corpus from fuzz/corpus/<target>/, in a temporary directory, one
# after the other.  Exits non-zero if any target finds a crash, a leak, a
# timeout or a broken invariant; its reproducer is then kept, and named,
# in the temporary directory.  Extra libFuzzer options may be given in
# $FUZZ_FLAGS (e.g. FUZZ_FLAGS="-rss_limit_mb=4096"); with FUZZ_KEEP=1 the
# temporary directory, with the grown corpora, is kept in any case.
set -u

usage() {
	echo "usage: $0 BUILDDIR SECONDS [TARGET...]" >&2
	exit 2
}

[ $# -ge 2 ] || usage
builddir=$1
seconds=$2
shift 2
case $seconds in
''|*[!0-9]*) usage ;;
esac
[ $# -gt 0 ] || set -- fuzz-header fuzz-detect fuzz-envelope fuzz-cert fuzz-config fuzz-ldap-der

srcdir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/smimekit-fuzz.XXXXXX") || exit 1
failed=

for target in "$@"; do
	prog=$builddir/fuzz/$target
	if [ ! -x "$prog" ]; then
		echo "$0: $prog is missing (configure --enable-fuzzers CC=clang; make)" >&2
		failed="$failed $target"
		continue
	fi
	# First the inputs that once found bugs (tests/data/fuzz-regress/,
	# named after the target without "fuzz-"), each run once.
	for f in "$srcdir/../tests/data/fuzz-regress/${target#fuzz-}"-*; do
		[ -e "$f" ] || continue
		if ! "$prog" -runs=1 "$f" >"$work/regress.log" 2>&1; then
			echo "$target FAILED on regression input $f"
			tail -n 20 "$work/regress.log"
			failed="$failed $target"
		fi
	done
	mkdir -p "$work/$target/corpus" "$work/$target/artifacts"
	if [ -d "$srcdir/corpus/$target" ]; then
		cp "$srcdir/corpus/$target"/* "$work/$target/corpus/"
	fi
	# Bodies past SMK_DETECT_BODY_MAX and header blocks past the first
	# 4 KiB buffer need inputs larger than libFuzzer's default 4096.
	case $target in
	fuzz-detect|fuzz-envelope) flags=-max_len=16384 ;;
	*) flags= ;;
	esac
	echo "== $target: $seconds s"
	# shellcheck disable=SC2086 # lists of options
	"$prog" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
		-artifact_prefix="$work/$target/artifacts/" $flags ${FUZZ_FLAGS:-} \
		"$work/$target/corpus" >"$work/$target/log" 2>&1
	status=$?
	grep -E '^(#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::average_exec_per_sec)' \
		"$work/$target/log" | tail -n 3
	if [ $status -ne 0 ]; then
		echo "$target FAILED (exit $status), log: $work/$target/log"
		for f in "$work/$target/artifacts"/*; do
			[ -e "$f" ] && echo "  reproducer: $f"
		done
		failed="$failed $target"
	fi
done

if [ -n "$failed" ]; then
	echo "failed:$failed (kept $work)"
	exit 1
fi
echo "all targets ran $seconds s without a finding"
if [ -n "${FUZZ_KEEP:-}" ]; then
	echo "corpora kept in $work"
else
	rm -rf "$work"
fi
