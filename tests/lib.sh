# tests/lib.sh - shared helpers for the shell tests (sourced, bash).
#
# The environment comes from `make check` (AM_TESTS_ENVIRONMENT):
# SMIMEKIT, SMK_TEST_CERTS, SMK_TEST_DATA, SMK_TEST_SRCDIR.
# SMK_KEEP=1 keeps the temporary directory $T (servers stopped) to look
# at after a failure.
set -euo pipefail

: "${SMIMEKIT:?run through make check}"
: "${SMK_TEST_CERTS:?run through make check}"
: "${SMK_TEST_DATA:?run through make check}"
: "${SMK_TEST_SRCDIR:?run through make check}"
export OPENSSL_CONF=/dev/null

C=$SMK_TEST_CERTS
D=$SMK_TEST_DATA
T=$(mktemp -d "${TMPDIR:-/tmp}/smk-test.XXXXXX")
chmod 755 "$T"
checks=0

_cleanup_hooks=()
on_exit() { _cleanup_hooks+=("$1"); }
_cleanup() {
	local h
	for h in "${_cleanup_hooks[@]}"; do eval "$h" || true; done
	[ -n "${SMK_KEEP:-}" ] || rm -rf "$T"
}
trap _cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { checks=$((checks + 1)); echo "ok $checks - $*"; }
done_testing() { echo "# $checks checks passed"; }

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 ||
			fail "$c is not installed (./dev.sh test installs the test dependencies)"
	done
}

# outer_header MSG: the header block of MSG, line breaks made LF.
outer_header() { sed -e 's/\r$//' -e '/^$/q' "$1"; }

# body_der MSG OUT: base64-decodes the body of an S/MIME message to DER.
body_der() { sed -e 's/\r$//' "$1" | sed -e '1,/^$/d' | base64 -d > "$2"; }

# expected_inner MSG: what the encrypted entity must be (Content-* fields
# and body, line breaks CRLF); an independent implementation in awk.
expected_inner() { awk -f "$SMK_TEST_SRCDIR/expected-inner.awk" "$1"; }

# expected_body MSG: the body alone, CRLF.
expected_body() { sed -e 's/\r$//' "$1" | sed -e '1,/^$/d' | sed -e 's/$/\r/'; }

# body_of FILE: the part after the first empty line (CRLF kept).
body_of() { awk 'found { print; next } /^\r?$/ { found = 1 }' "$1"; }

# same FILE1 FILE2 WHAT: byte-for-byte equality or fail with a diff.
same() {
	if ! cmp -s "$1" "$2"; then
		diff <(od -c "$1") <(od -c "$2") | head -20 >&2 || true
		fail "$3: $1 and $2 differ"
	fi
}

# has_line FILE REGEX WHAT
has_line() { grep -Eq -e "$2" "$1" || { cat "$1" >&2; fail "$3: no line matching /$2/"; }; }
lacks() { ! grep -Eq -e "$2" "$1" || { cat "$1" >&2; fail "$3: unexpected /$2/"; }; }

# issue_cert OUT CN SERIAL EXTENSION...: a new RSA-2048 key OUT.key and a
# certificate OUT.pem for it from the test CA, valid 30 days, with the
# given X.509v3 extension lines (e.g. "subjectAltName=email:x@example.org").
issue_cert() {
	local out=$1 cn=$2 serial=$3
	shift 3
	openssl req -new -newkey rsa:2048 -nodes -keyout "$out.key" -subj "/CN=$cn" \
		-out "$out.csr" 2>/dev/null
	printf '%s\n' "$@" > "$out.ext"
	openssl x509 -req -in "$out.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -set_serial "$serial" \
		-days 30 -extfile "$out.ext" -out "$out.pem" 2>/dev/null || fail "issue_cert $out"
	rm -f "$out.csr" "$out.ext"
}

# An S/MIME end-entity certificate for ADDRESS: issue_smime_cert OUT CN SERIAL ADDRESS
issue_smime_cert() {
	issue_cert "$1" "$2" "$3" "basicConstraints=CA:false" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=emailProtection" "subjectAltName=email:$4"
}

# status CMD...: runs CMD, prints its exit status (never fails).
status() { local s=0; "$@" || s=$?; echo "$s"; }
