#!/bin/bash
# dev.sh - the two commands of smimekit development:
#
#   ./dev.sh demo    install what is missing, build, and show the main job:
#                    a message encrypted with `smimekit encrypt` and opened
#                    with `openssl cms`; then throwaway slapd and Dovecot
#                    servers: a certificate published, a message delivered
#                    over LMTP, ciphertext on disk, fetched over IMAP and
#                    opened with the key
#   ./dev.sh test    install what is missing, build (normal and ASan+UBSan),
#                    run every test; non-zero exit status on any failure
#
# Also: ./dev.sh deps | build | bench | fuzz [SECONDS]
#
# Works on a fresh Debian 12 machine as root (or with sudo).  Package
# installation never starts the packages' own services.
set -euo pipefail

top=$(cd "$(dirname "$0")" && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

# What building needs, and what the tests drive.
deps_build=(build-essential autoconf automake libtool pkg-config openssl libssl-dev
	check libp11-kit-dev libldap-dev dovecot-dev)
deps_test=(gpgsm libnss3-tools clang libclang-rt-14-dev valgrind slapd ldap-utils
	dovecot-core dovecot-imapd dovecot-lmtpd python3 opensc gnutls-bin p11-kit p11-kit-modules)
deps_demo=(slapd ldap-utils dovecot-core dovecot-imapd dovecot-lmtpd python3)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "dev.sh: $*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root (or sudo) to install: ${*: -1}"
	fi
}

install_deps() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing ${missing[*]}"
	# Keep the packages' own daemons (dovecot, slapd) from starting.
	local policy=/usr/sbin/policy-rc.d ours=no
	if [ ! -e "$policy" ]; then
		as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
		ours=yes
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
	[ "$ours" = yes ] && as_root rm -f "$policy"
	return 0
}

# build DIR [CONFIGURE-ARGS...]
build() {
	local dir=$1
	shift
	if [ ! -x configure ] || [ configure.ac -nt configure ]; then
		say "autogen"
		./autogen.sh >/dev/null
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/Makefile" ] ||
		[ "$(cat "$dir/.dev-configure-args" 2>/dev/null)" != "$*" ]; then
		say "configure $dir $*"
		(cd "$dir" && "$top/configure" -q "$@")
		echo "$*" > "$dir/.dev-configure-args"
	fi
	say "build $dir"
	make -C "$dir" -j"$jobs" >/dev/null
}

cmd_demo() {
	install_deps "${deps_build[@]}"
	build build --with-dovecot=/usr/lib/dovecot
	local smk=$top/build/tools/smimekit
	demo_dir=$(mktemp -d)
	trap 'rm -rf "$demo_dir"' EXIT
	export OPENSSL_CONF=/dev/null
	cd "$demo_dir"

	say "a throwaway CA and a certificate for alice@example.org"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
		-subj "/CN=smimekit demo CA" -addext "basicConstraints=critical,CA:true" \
		-addext "keyUsage=critical,keyCertSign" 2>/dev/null
	openssl req -new -newkey rsa:2048 -nodes -keyout alice.key -out alice.csr \
		-subj "/CN=Alice Example" 2>/dev/null
	printf '%s\n' "basicConstraints=CA:false" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=emailProtection" "subjectAltName=email:alice@example.org" > alice.ext
	openssl x509 -req -in alice.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
		-extfile alice.ext -out alice.pem 2>/dev/null
	"$smk" cert check --for alice@example.org --trust ca.pem alice.pem

	cp "$top/tests/data/demo.eml" message.eml
	say "the message as it arrives"
	cat message.eml

	say "smimekit encrypt --to alice.pem < message.eml"
	"$smk" encrypt --to alice.pem < message.eml > encrypted.eml
	cat encrypted.eml

	say "openssl cms -decrypt -inkey alice.key -recip alice.pem < encrypted.eml"
	openssl cms -decrypt -inkey alice.key -recip alice.pem -in encrypted.eml -out decrypted.txt
	cat decrypted.txt

	grep -q 'launch is on 14 December' decrypted.txt || die "the demo message did not come back"
	if grep -q 'launch is on' encrypted.eml; then die "plaintext in the encrypted message"; fi
	say "so far by hand; now the same on a mail server"
	cd "$top"

	# The Dovecot part: throwaway slapd and Dovecot on loopback (the test
	# fixtures), the plugin encrypting at delivery.
	if [ "$(id -u)" != 0 ]; then
		say "the Dovecot part needs root (Dovecot switches users): run ./dev.sh demo as root"
		return 0
	fi
	install_deps "${deps_demo[@]}"
	make -C build tests/certs/stamp >/dev/null
	SMK_TEST_CERTS=$top/build/tests/certs/out SMK_TEST_DATA=$top/tests/data \
		SMK_TEST_SRCDIR=$top/tests SMIMEKIT=$smk \
		SMK_DOVECOT_PLUGIN=$top/build/dovecot-plugin/.libs/lib90_smimekit_plugin.so \
		bash tests/dovecot/demo.sh
}

# run_checks DIR: make check in DIR; prints Check's summary lines.
run_checks() {
	local dir=$1 rc=0
	say "make check in $dir"
	make -C "$dir" -j"$jobs" check >"$dir/check.out" 2>&1 || rc=$?
	grep -E '^(PASS|FAIL|XFAIL|XPASS|SKIP|ERROR):' "$dir/check.out" || true
	echo
	for log in "$dir"/tests/unit/check-*.log; do
		[ -f "$log" ] && grep -H -E '^[0-9]+%: Checks: ' "$log" | sed "s|^$dir/||"
	done
	grep -E '^# (TOTAL|PASS|FAIL|ERROR|SKIP)' "$dir/check.out" || true
	if [ $rc -ne 0 ]; then
		echo "--- failures in $dir:" >&2
		for log in $(grep -l -E '^(FAIL|ERROR)' "$dir"/tests/*/*.trs 2>/dev/null); do
			echo "--- ${log%.trs}.log" >&2
			tail -n 40 "${log%.trs}.log" >&2
		done
		tail -n 30 "$dir/check.out" >&2
	fi
	return $rc
}

cmd_test() {
	install_deps "${deps_build[@]}" "${deps_test[@]}"
	local failed=0
	build build --with-dovecot=/usr/lib/dovecot
	run_checks build || failed=1
	build build-asan --enable-sanitizers
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		run_checks build-asan || failed=1
	if [ -x fuzz/run.sh ]; then
		build build-fuzz CC=clang --enable-fuzzers --enable-sanitizers
		say "fuzz smoke run"
		fuzz/run.sh build-fuzz "${SMK_FUZZ_SECONDS:-20}" || failed=1
	fi
	if [ $failed -ne 0 ]; then
		say "FAILED"
		exit 1
	fi
	say "all tests passed"
}

cmd_bench() {
	install_deps "${deps_build[@]}" "${deps_test[@]}"
	build build --with-dovecot=/usr/lib/dovecot
	make -C build bench/envelope bench/ldap-lookup bench/lmtp-deliver \
		tests/certs/stamp dovecot-plugin/lib90_smimekit_plugin.la >/dev/null
	say "bench/envelope"
	build/bench/envelope --smimekit build/tools/smimekit "$@"
	say "bench/ldap-lookup"
	bench/ldap-lookup.sh build
	say "bench/provider"
	bench/provider.sh build
	if [ "$(id -u)" = 0 ]; then
		say "bench/delivery"
		bench/delivery.sh build
	else
		say "bench/delivery skipped: it starts Dovecot and needs root"
	fi
}

cmd_fuzz() {
	install_deps "${deps_build[@]}" "${deps_test[@]}"
	build build-fuzz CC=clang --enable-fuzzers --enable-sanitizers
	fuzz/run.sh build-fuzz "${1:-300}"
}

case ${1:-} in
demo) cmd_demo ;;
test) cmd_test ;;
deps) install_deps "${deps_build[@]}" "${deps_test[@]}" ;;
build) install_deps "${deps_build[@]}"; build build --with-dovecot=/usr/lib/dovecot ;;
bench) shift; cmd_bench "$@" ;;
fuzz) shift; cmd_fuzz "$@" ;;
*) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
