#!/bin/bash
# bench/delivery.sh - LMTP deliveries per second through a real Dovecot:
# without a plugin, with Dovecot's mail-crypt, and with smimekit.
#
# Usage: bench/delivery.sh BUILDDIR [--min-time SECONDS] [--rounds N]
#                          [--sizes 'BYTES...'] [--clients 'C...']
#
#   bench/delivery.sh build
#   bench/delivery.sh build --min-time 5 --rounds 5
#   bench/delivery.sh build --sizes 10000 --clients 1     (a quick look)
#
# Builds what is missing in BUILDDIR first (make -C BUILDDIR
# tests/certs/stamp bench/lmtp-deliver dovecot-plugin/lib90_smimekit_plugin.la).
# Then, with the test fixture (tests/lib.sh, tests/dovecot/dovecot.sh:
# needs root and Dovecot 2.3), three throwaway servers run side by side,
# identical but for the plugin (Dovecot's defaults otherwise, fsync
# included):
#
#   none       no mail plugin
#   mailcrypt  mail_plugins = $mail_plugins mail_crypt, a global
#              prime256v1 key pair (openssl, PEM), mail_crypt_save_version = 2
#   smimekit   mail_plugins = $mail_plugins smimekit, smimekit_cert =
#              DIR/certs/%n.pem, smimekit_address = %n@example.org; each
#              user a fresh RSA-2048 S/MIME certificate from the test CA
#              (issue_smime_cert), everything else the plugin's defaults
#
# For every message size (default 10 kB, 100 kB, 1 MB; decimal) and
# client count (default 1, then 4 parallel connections), each round
# measures the three servers one after the other, the order rotated from
# round to round, so that machine noise hits them alike; a figure is the
# median of --rounds rounds (default 3).  A measurement is
# BUILDDIR/bench/lmtp-deliver (see bench/lmtp-deliver.c): --min-time
# seconds (default 2) of deliveries to alice, bob, carol, dave and erin in
# turn, after 5 untimed ones per connection (every mailbox exists before
# the clock starts).  The mail directories are emptied before every
# measurement: each starts from empty mailboxes, and disk use stays small.
# Also measured: the CPU time of the servers' lmtp processes per delivery.
#
# Checked, else the run fails: every delivery the client counted is a
# file in the mail directories, and every such file is in the expected
# form (plain text / starting with "CRYPTED" / Content-Type
# application/pkcs7-mime).  At the end, one stored message of each server
# is opened -- as stored, over IMAP (mail-crypt decrypts), with
# openssl cms -decrypt -- and its body must be what was sent.
#
# The table goes to standard output, progress to standard error.  Servers
# and files (under TMPDIR) are removed at exit, also on failure or Ctrl-C.
# With the defaults it takes about 3 minutes.  A benchmark, not a test:
# `make check` does not run it.
set -euo pipefail

usage() {
	echo "usage: $0 BUILDDIR [--min-time SECONDS] [--rounds N] [--sizes 'BYTES...'] [--clients 'C...']" >&2
	exit 2
}
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
	usage
fi
builddir=$(cd "$1" && pwd)
shift
srcdir=$(cd "$(dirname "$0")/.." && pwd)

min_time=2
rounds=3
sizes='10000 100000 1000000'
client_counts='1 4'
warmup=5
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--min-time) min_time=$2 ;;
	--rounds) rounds=$2 ;;
	--sizes) sizes=$2 ;;
	--clients) client_counts=$2 ;;
	*) usage ;;
	esac
	shift 2
done
case $min_time in '' | *[!0-9.]* | *.*.*) echo "delivery.sh: --min-time $min_time is not a duration" >&2; exit 2 ;; esac
case $rounds in '' | *[!0-9]* | 0) echo "delivery.sh: --rounds $rounds is not a count" >&2; exit 2 ;; esac
for n in $sizes $client_counts; do
	case $n in '' | *[!0-9]* | 0) echo "delivery.sh: '$n' is not a size or count" >&2; exit 2 ;; esac
done
if [ -z "${sizes// /}" ] || [ -z "${client_counts// /}" ]; then usage; fi

plugin=$builddir/dovecot-plugin/.libs/lib90_smimekit_plugin.so
if [ ! -x "$builddir/bench/lmtp-deliver" ] || [ ! -e "$builddir/tests/certs/stamp" ] ||
	[ ! -f "$plugin" ]; then
	make -C "$builddir" tests/certs/stamp bench/lmtp-deliver \
		dovecot-plugin/lib90_smimekit_plugin.la >&2
fi
client=$builddir/bench/lmtp-deliver

# What tests/lib.sh wants (SMIMEKIT and the data are not used here).
export SMK_TEST_SRCDIR=$srcdir/tests
export SMK_TEST_CERTS=$builddir/tests/certs/out
export SMK_TEST_DATA=$srcdir/tests/data
export SMIMEKIT=$builddir/tools/smimekit
export SMK_DOVECOT_PLUGIN=$plugin
# shellcheck source=tests/lib.sh
. "$SMK_TEST_SRCDIR/lib.sh"
# shellcheck source=tests/dovecot/dovecot.sh
. "$SMK_TEST_SRCDIR/dovecot/dovecot.sh"
# The EXIT trap (lib.sh) stops the servers and removes $T; make signals exit.
trap 'exit 130' INT
trap 'exit 143' TERM

configs=(none mailcrypt smimekit)
declare -A label=([none]='no plugin' [mailcrypt]=mail-crypt [smimekit]=smimekit)
# What every stored file of a server must be (see classify below).
declare -A want_kind=([none]=plain [mailcrypt]=crypted [smimekit]=smime)
users=(alice bob carol dave erin)
rcpts=()
for u in "${users[@]}"; do rcpts+=(--to "$u@example.org"); done

say() { echo "delivery.sh: $*" >&2; }

# ---- the servers ----------------------------------------------------------

say "setting up three Dovecot servers under $T ..."
for cfg in "${configs[@]}"; do
	dovecot_new "$cfg"
done

echo '# no mail plugin' >"$(dovecot_dir none)/local.conf"

d=$(dovecot_dir mailcrypt)
# As in Dovecot's documentation: a prime256v1 key, PEM, and its public half.
openssl ecparam -name prime256v1 -genkey | openssl pkey -out "$d/ecprivkey.pem"
openssl pkey -in "$d/ecprivkey.pem" -pubout -out "$d/ecpubkey.pem"
cat >"$d/local.conf" <<EOF
mail_plugins = \$mail_plugins mail_crypt
plugin {
  mail_crypt_global_private_key = <$d/ecprivkey.pem
  mail_crypt_global_public_key = <$d/ecpubkey.pem
  mail_crypt_save_version = 2
}
EOF

d=$(dovecot_dir smimekit)
mkdir "$d/certs" "$T/keys"
serial=$((0xde1100))
for u in "${users[@]}"; do
	serial=$((serial + 1))
	issue_smime_cert "$T/keys/$u" "${u^}" "$serial" "$u@example.org"
	cp "$T/keys/$u.pem" "$d/certs/$u.pem"
done
chmod 755 "$d/certs"
chmod 644 "$d/certs"/*.pem
cat >"$d/local.conf" <<EOF
mail_plugins = \$mail_plugins smimekit
plugin {
  smimekit_cert = $d/certs/%n.pem
  smimekit_address = %n@example.org
}
EOF

for cfg in "${configs[@]}"; do
	dovecot_start "$cfg"
done

# ---- one measurement ------------------------------------------------------

# empty_mail CFG: every user's mail directory emptied (the directory stays;
# Dovecot makes its maildir and indexes again at the next delivery).
empty_mail() {
	local u m
	for u in "${users[@]}"; do
		m=$(dovecot_maildir "$1" "$u")
		find "$m" -mindepth 1 -delete
	done
}

# lmtp_cpu CFG: clock ticks (user + system) used so far by the server's live
# lmtp processes.  They stay between connections (service_count = 0) and
# are killed only after a minute idle, so a difference over one
# measurement is what its deliveries cost (a process that exits in between
# would be missed: the check below compares process lists).
lmtp_pids() { pgrep -f "^dovecot-smk-$(cat "$(dovecot_dir "$1")/token")/lmtp" | sort -n | tr '\n' ' '; }
lmtp_cpu() {
	local p
	for p in $(lmtp_pids "$1"); do
		# Fields 14 and 15 of /proc/PID/stat: 12 and 13 after the ")".
		sed 's/.*) //' "/proc/$p/stat" 2>/dev/null || true
	done | awk '{ t += $12 + $13 } END { print t + 0 }'
}
hz=$(getconf CLK_TCK)

# classify CFG: counts of the server's stored messages by form, e.g.
# "plain=12 crypted=0 smime=0 other=0": "crypted" starts with CRYPTED
# (mail-crypt), "smime" has Content-Type: application/pkcs7-mime in its
# header, "plain" has the benchmark's Subject in its header and neither.
classify() {
	local dirs=() u m
	for u in "${users[@]}"; do
		m=$(dovecot_maildir "$1" "$u")
		dirs+=("$m/new" "$m/cur")
	done
	"$SMK_PYTHON" - "${dirs[@]}" <<-'EOF'
		import os, sys
		n = {"plain": 0, "crypted": 0, "smime": 0, "other": 0}
		for d in sys.argv[1:]:
		    if not os.path.isdir(d):
		        continue
		    for name in os.listdir(d):
		        with open(os.path.join(d, name), "rb") as f:
		            head = f.read(16384)
		        header = head.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0].lower()
		        if head.startswith(b"CRYPTED"):
		            n["crypted"] += 1
		        elif b"\ncontent-type: application/pkcs7-mime" in header:
		            n["smime"] += 1
		        elif b"\nsubject: smimekit delivery benchmark" in header:
		            n["plain"] += 1
		        else:
		            n["other"] += 1
		print(" ".join("%s=%d" % kv for kv in n.items()))
	EOF
}

# measure CFG SIZE CLIENTS: one run of the client against CFG's server;
# sets $rate (msgs/s) and $cpu_ms (lmtp CPU milliseconds per delivery).
measure() {
	local cfg=$1 size=$2 clients=$3 out msgs warm stored kinds cpu0 cpu1 pids0 pids1
	empty_mail "$cfg"
	pids0=$(lmtp_pids "$cfg")
	cpu0=$(lmtp_cpu "$cfg")
	out=$("$client" --port "$(dovecot_lmtp_port "$cfg")" "${rcpts[@]}" --size "$size" \
		--clients "$clients" --min-time "$min_time" --warmup "$warmup") ||
		{ tail -n 20 "$(dovecot_log "$cfg")" >&2; fail "$cfg: bench/lmtp-deliver failed"; }
	cpu1=$(lmtp_cpu "$cfg")
	pids1=$(lmtp_pids "$cfg")
	msgs=$(sed -n 's/.*msgs=\([0-9]*\).*/\1/p' <<<"$out")
	warm=$(sed -n 's/.*warmup=\([0-9]*\).*/\1/p' <<<"$out")
	rate=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$out")
	if [ -z "$msgs" ] || [ -z "$warm" ] || [ -z "$rate" ]; then
		fail "$cfg: unexpected client output: $out"
	fi
	# Every delivery the client counted is stored, each in the right form.
	kinds=$(classify "$cfg")
	stored=$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); s += kv[2] } } END { print s }' <<<"$kinds")
	[ "$stored" = $((msgs + warm)) ] ||
		fail "$cfg: the client delivered $((msgs + warm)) messages, $stored are stored ($kinds)"
	case " $kinds " in *" ${want_kind[$cfg]}=$stored "*) ;; *)
		fail "$cfg: stored messages not all ${want_kind[$cfg]}: $kinds" ;;
	esac
	# A process gone in between would hide its CPU time: then no figure.
	local old
	for old in $pids0; do
		case " $pids1 " in *" $old "*) ;; *) cpu1=''; break ;; esac
	done
	if [ -n "$cpu1" ]; then
		cpu_ms=$(awk -v t=$((cpu1 - cpu0)) -v hz="$hz" -v n=$((msgs + warm)) \
			'BEGIN { printf "%.3f", t / hz * 1000 / n }')
	else
		cpu_ms=nan
	fi
}

# ---- the rounds -----------------------------------------------------------

# median V...: the middle value (the mean of the two middle ones for an even
# count); "nan" values are left out.
median() {
	printf '%s\n' "$@" | grep -v nan | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "nan";
			else if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

human() {
	awk -v b="$1" 'BEGIN { if (b >= 1e6 && b % 1e6 == 0) printf "%d MB", b / 1e6;
		else if (b >= 1e3 && b % 1e3 == 0) printf "%d kB", b / 1e3; else printf "%d B", b }'
}

declare -A rates cpus
start_time=$SECONDS
for size in $sizes; do
	for clients in $client_counts; do
		for r in $(seq "$rounds"); do
			# Rotate the order: a b c, b c a, c a b, ...
			line=''
			for i in 0 1 2; do
				cfg=${configs[$(((i + r - 1) % 3))]}
				measure "$cfg" "$size" "$clients"
				rates[$cfg,$size,$clients,$r]=$rate
				cpus[$cfg,$size,$clients,$r]=$cpu_ms
				line+=" $cfg $rate/s (${cpu_ms} ms cpu)"
			done
			say "$(human "$size") x$clients round $r/$rounds:$line"
		done
	done
done
elapsed=$((SECONDS - start_time))

# ---- end-to-end check: one stored message of each server opened ---------

last_size=${sizes##* }
"$client" --size "$last_size" --write-message "$T/sent.eml"
body_of "$T/sent.eml" | tr -d '\r' >"$T/sent.body"

one_stored() {
	local m
	m=$(dovecot_maildir "$1" alice)
	find "$m/new" "$m/cur" -type f -print -quit
}

f=$(one_stored none)
[ -n "$f" ] || fail "none: nothing stored for alice"
body_of "$f" | tr -d '\r' >"$T/none.body"
same "$T/sent.body" "$T/none.body" "no plugin: the stored body"
lacks "$f" 'application/pkcs7-mime' "no plugin: the stored file"

f=$(one_stored mailcrypt)
[ -n "$f" ] || fail "mailcrypt: nothing stored for alice"
[ "$(head -c 7 "$f")" = CRYPTED ] || fail "mail-crypt: $f does not start with CRYPTED"
dovecot_imap mailcrypt alice fetch INBOX 1 --body "$T/mailcrypt.eml" ||
	fail "mail-crypt: IMAP FETCH failed"
body_of "$T/mailcrypt.eml" | tr -d '\r' >"$T/mailcrypt.body"
same "$T/sent.body" "$T/mailcrypt.body" "mail-crypt: the body fetched over IMAP"

f=$(one_stored smimekit)
[ -n "$f" ] || fail "smimekit: nothing stored for alice"
grep -q '^Content-Type: application/pkcs7-mime' "$f" || fail "smimekit: $f is not S/MIME"
openssl cms -decrypt -in "$f" -inkey "$T/keys/alice.key" -recip "$T/keys/alice.pem" \
	-out "$T/smimekit.inner" 2>"$T/cms.err" || fail "smimekit: openssl cms -decrypt: $(cat "$T/cms.err")"
body_of "$T/smimekit.inner" | tr -d '\r' >"$T/smimekit.body"
same "$T/sent.body" "$T/smimekit.body" "smimekit: the decrypted body"
say "checked: plain, CRYPTED and S/MIME stored; each opens to the body sent ($(human "$last_size"))"

# ---- the table ------------------------------------------------------------

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
fs=$(findmnt -n -o FSTYPE -T "$(dovecot_dir none)" 2>/dev/null || echo '?')
echo "smimekit delivery benchmark: LMTP over TCP on 127.0.0.1 into maildir"
echo "  dovecot:  $(dovecot --version), $(openssl version)"
echo "  machine:  $(nproc) CPUs ($cpu_model), mail on $fs, Dovecot defaults (mail_fsync = $(doveconf -c "$(dovecot_dir none)/dovecot.conf" -h mail_fsync))"
echo "  configs:  no plugin | mail-crypt (global prime256v1 key, save version 2) |"
echo "            smimekit (RSA-2048 certificate per user; plugin defaults: aes-256-cbc, pkcs1)"
echo "  method:   median of $rounds rounds of >= $min_time s each, the three servers in turn"
echo "            (order rotated per round), $warmup untimed deliveries per connection"
echo "            first, one recipient per message (5 users in turn), mailboxes emptied"
echo "            before each measurement; every delivery checked as stored"
echo
printf '%-7s %7s | %10s | %10s | %10s | %10s | %13s | %19s\n' size clients 'no plugin' mail-crypt smimekit \
	mc/none smimekit/none smimekit/mail-crypt
printf '%-7s %7s | %10s | %10s | %10s | %10s | %13s | %19s\n' '' '' msgs/s msgs/s msgs/s ratio ratio ratio
printf -- '----------------+------------+------------+------------+------------+---------------+--------------------\n'
verdicts=()
declare -A med medcpu
for size in $sizes; do
	for clients in $client_counts; do
		for cfg in "${configs[@]}"; do
			vals=() cv=()
			for r in $(seq "$rounds"); do
				vals+=("${rates[$cfg,$size,$clients,$r]}")
				cv+=("${cpus[$cfg,$size,$clients,$r]}")
			done
			med[$cfg]=$(median "${vals[@]}")
			medcpu[$cfg,$size,$clients]=$(median "${cv[@]}")
		done
		read -r mc_ratio smk_ratio smk_mc < <(awk -v n="${med[none]}" -v m="${med[mailcrypt]}" \
			-v s="${med[smimekit]}" 'BEGIN { printf "%.3f %.3f %.3f\n", m / n, s / n, s / m }')
		printf '%-7s %7s | %10.1f | %10.1f | %10.1f | %9.3fx | %12.3fx | %18.3fx\n' \
			"$(human "$size")" "$clients" "${med[none]}" "${med[mailcrypt]}" "${med[smimekit]}" \
			"$mc_ratio" "$smk_ratio" "$smk_mc"
		v=$(awk -v s="$smk_ratio" -v m="$mc_ratio" 'BEGIN {
			printf "%s, %s", (s >= 0.95 ? "met" : "NOT MET"), (s >= m ? "met" : "NOT MET") }')
		verdicts+=("$(printf '%-7s x%-2s smimekit/none %.3fx >= 0.95: %s >= mail-crypt/none %.3fx: %s' \
			"$(human "$size")" "$clients" "$smk_ratio" "${v%%,*}" "$mc_ratio" "${v#*, }")")
	done
done
echo
echo "targets (smimekit >= 0.95x of no plugin, and >= mail-crypt's ratio):"
printf '  %s\n' "${verdicts[@]}"
echo
echo "lmtp process CPU per delivery (ms, median; user + system, all lmtp processes):"
printf '%-7s %7s | %10s | %10s | %10s | %14s | %14s\n' size clients 'no plugin' mail-crypt smimekit \
	'mc - none' 'smimekit - none'
for size in $sizes; do
	for clients in $client_counts; do
		n=${medcpu[none,$size,$clients]} m=${medcpu[mailcrypt,$size,$clients]} s=${medcpu[smimekit,$size,$clients]}
		awk -v sz="$(human "$size")" -v c="$clients" -v n="$n" -v m="$m" -v s="$s" 'BEGIN {
			printf "%-7s %7s | %10.2f | %10.2f | %10.2f | %+14.2f | %+14.2f\n", sz, c, n, m, s, m - n, s - n }'
	done
done
echo
echo "all rounds (msgs/s, round 1 2 ...):"
for size in $sizes; do
	for clients in $client_counts; do
		line=''
		for cfg in "${configs[@]}"; do
			vals=()
			for r in $(seq "$rounds"); do vals+=("${rates[$cfg,$size,$clients,$r]}"); done
			line+=" ${label[$cfg]}: ${vals[*]};"
		done
		printf '  %-7s x%-2s%s\n' "$(human "$size")" "$clients" "${line%;}"
	done
done
echo
echo "measuring took ${elapsed}s"
