# tests/ldap/slapd.sh - throwaway OpenLDAP servers for the directory tests.
# shellcheck shell=bash
#
# Sourced after tests/lib.sh (uses $T, $C, fail, on_exit):
#
#   . "$SMK_TEST_SRCDIR/lib.sh"
#   . "$SMK_TEST_SRCDIR/ldap/slapd.sh"
#   slapd_new dir; slapd_start dir; slapd_load_testdata dir
#   ldapsearch -x -H "$(slapd_uri dir)" -b dc=example,dc=org '(mail=alice@example.org)'
#
# slapd_new NAME [--provider | --consumer-of NAME2]
#     $T/slapd-NAME: cn=config made offline (slapadd -n0): one mdb database
#     dc=example,dc=org, rootdn cn=admin,dc=example,dc=org with the password
#     in $T/admin.pw, schemas core cosine inetorgperson misc, and the shipped
#     doc/ldap/indexes.ldif and doc/ldap/acl.ldif applied as they are.
#     --provider adds the syncprov overlay; --consumer-of replicates NAME2
#     (refreshAndPersist, as the rootdn).  A free port on 127.0.0.1 is chosen.
# slapd_start NAME | slapd_stop NAME | slapd_restart NAME (same port)
#     Every started server is stopped when the test exits, pass or fail.
# slapd_uri NAME      ldap://127.0.0.1:PORT
# slapd_ldapi NAME    ldapi://%2F...  (SASL EXTERNAL as root manages all)
# slapd_dir NAME      the server's directory (slapd.log is there)
# slapd_add NAME LDIF          ldapadd as root over ldapi (as the rootdn when
#     not root); fails the test on error
# slapd_load_testdata NAME     the test data below, loaded with slapadd (slapd
#     refuses the broken certificates over LDAP), so a running server is
#     stopped and started again around it.  Not for a consumer: load its
#     provider.
# slapd_tls NAME CERT KEY   present CERT: StartTLS on the ldap:// port and an
#     ldaps:// listener (slapd_ldaps_uri NAME); before slapd_start.
# slapd_wait_for NAME FILTER TIMEOUT
#     anonymous searches until an entry matches; status 1 after TIMEOUT s.
#
# The rootdn's password is in $T/admin.pw; the users' in $T/alice.pw,
# $T/bob.pw, $T/admin-helper.pw (random, mode 0600, no newline: for -y).
# Test data, DNs uid=NAME,ou=people,dc=example,dc=org:
#   alice   mail alice@example.org, mailLocalAddress ali@example.org;
#           userCertificate;binary alice-rsa, alice-ec; userSMIMECertificate
#           PKCS#7 of alice-rsa-new; userPKCS12 alice-rsa.p12
#   bob     bob@example.org, userCertificate;binary bob
#   carol   carol@example.org, no certificate
#   star    mail *@example.org (literally), userCertificate;binary alice-expired
#   paren   mail "a)(uid=*"@example.org (literally), userCertificate;binary bob
#   garbage garbage@example.org; userCertificate;binary: 64 fixed random-looking
#           bytes, alice-rsa's DER cut in half, ca, alice-rsa-new;
#           userSMIMECertificate: 48 random-looking bytes
#   admin-helper  admin-helper@example.org, member of
#           cn=smimekit-admins,ou=groups,dc=example,dc=org
# On a provider, garbage lacks the random and the cut certificate: a consumer
# checks certificate syntax like any LDAP write, refuses that entry, and then
# stops replicating there (retrying forever).
#
# SMK_SLAPD_DEBUG=stats (any slapd -d level) logs to $(slapd_dir NAME)/slapd.log.

case :$PATH: in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac
need slapd slapadd slapmodify slappasswd ldapsearch ldapadd ldapmodify openssl base64

_slapd_suffix=dc=example,dc=org
_slapd_rootdn=cn=admin,dc=example,dc=org
_slapd_docs=$SMK_TEST_SRCDIR/../doc/ldap
_slapd_hooked=no

# Stop every server of this test, whoever started it, before lib.sh removes $T.
_slapd_stop_all() {
	local d
	for d in "$T"/slapd-*/; do
		[ -f "$d/name" ] && slapd_stop "$(cat "$d/name")"
	done
	return 0
}

# Stock client tools without the user's ldap.conf or ~/.ldaprc.
_slapd_ldap() { LDAPNOINIT=1 "$@"; }

_slapd_d() {
	local d=$T/slapd-${1:?server name}
	[ -f "$d/name" ] || fail "slapd: no server '$1' (slapd_new $1 first)"
	printf '%s\n' "$d"
}

# _slapd_password FILE: a random password in FILE (mode 0600, no newline).
_slapd_password() {
	[ -s "$1" ] && return 0
	(umask 077 && openssl rand -hex 16 | tr -d '\n' > "$1")
	chmod 600 "$1"
}

_slapd_hash() { slappasswd -T "$1" 2>/dev/null; }

_slapd_port_busy() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A random free port in 20000-59999, not given to another server of this test.
_slapd_free_port() {
	local i p
	for i in $(seq 50); do
		p=$(((RANDOM << 15 | RANDOM) % 40000 + 20000))
		grep -qx "$p" "$T"/slapd-*/port 2>/dev/null && continue
		_slapd_port_busy "$p" && continue
		echo "$p"
		return 0
	done
	fail "slapd: no free port found"
}

# RFC 3986 percent-encoding for the socket path in an ldapi:// URI.
_slapd_pct() {
	local s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s\n' "$out"
}

# _slapd_tool DIR CMD...: runs an offline slap* tool, its output to the log.
_slapd_tool() {
	local d=$1
	shift
	if ! "$@" >"$d/tool.out" 2>&1; then
		cat "$d/tool.out" >&2
		fail "slapd: $* failed"
	fi
	cat "$d/tool.out" >>"$d/slapd.log"
}

slapd_new() {
	local name=${1:?usage: slapd_new NAME [--provider | --consumer-of NAME2]}
	local role=standalone upstream='' d sock pw
	case $name in *[!A-Za-z0-9_-]* | '') fail "slapd_new: bad name '$name'" ;; esac
	case ${2:-} in
	'') ;;
	--provider) role=provider ;;
	--consumer-of)
		role=consumer
		upstream=${3:?slapd_new: --consumer-of NAME2}
		[ "$(cat "$(_slapd_d "$upstream")/role")" = provider ] ||
			fail "slapd_new: $upstream is not a provider (slapd_new $upstream --provider)"
		;;
	*) fail "slapd_new: unknown option '$2'" ;;
	esac
	d=$T/slapd-$name
	[ -e "$d" ] && fail "slapd_new: $name exists"
	mkdir -p "$d/slapd.d" "$d/db"
	chmod 700 "$d"
	_slapd_password "$T/admin.pw"

	# sun_path holds 108 bytes; fall back to a short directory under /tmp.
	sock=$d/ldapi
	if [ ${#sock} -gt 100 ]; then
		sock=$(mktemp -d /tmp/smk-ldapi.XXXXXX)
		on_exit "rm -rf $(printf %q "$sock")"
		sock=$sock/ldapi
	fi
	printf '%s\n' "$sock" >"$d/sock"
	_slapd_free_port >"$d/port"
	echo "$role" >"$d/role"
	echo "$upstream" >"$d/upstream"

	pw=$(_slapd_hash "$T/admin.pw")
	{
		cat <<-EOF
			dn: cn=config
			objectClass: olcGlobal
			cn: config
			olcPidFile: $d/slapd.pid
			olcArgsFile: $d/slapd.args
			olcLogLevel: none

			dn: cn=module{0},cn=config
			objectClass: olcModuleList
			cn: module{0}
			olcModulePath: /usr/lib/ldap
			olcModuleLoad: back_mdb
		EOF
		[ "$role" = provider ] && echo "olcModuleLoad: syncprov"
		echo
		cat <<-EOF
			dn: cn=schema,cn=config
			objectClass: olcSchemaConfig
			cn: schema

			include: file:///etc/ldap/schema/core.ldif

			include: file:///etc/ldap/schema/cosine.ldif

			include: file:///etc/ldap/schema/inetorgperson.ldif

			include: file:///etc/ldap/schema/misc.ldif

			dn: olcDatabase={-1}frontend,cn=config
			objectClass: olcDatabaseConfig
			objectClass: olcFrontendConfig
			olcDatabase: {-1}frontend

			dn: olcDatabase={0}config,cn=config
			objectClass: olcDatabaseConfig
			olcDatabase: {0}config
			olcAccess: {0}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * break

			dn: olcDatabase={1}mdb,cn=config
			objectClass: olcDatabaseConfig
			objectClass: olcMdbConfig
			olcDatabase: {1}mdb
			olcSuffix: $_slapd_suffix
			olcRootDN: $_slapd_rootdn
			olcRootPW: $pw
			olcDbDirectory: $d/db
			olcDbMaxSize: 1073741824
		EOF
		[ "$role" = consumer ] && _slapd_syncrepl_attr "$upstream"
		if [ "$role" = provider ]; then
			cat <<-EOF

				dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
				objectClass: olcOverlayConfig
				objectClass: olcSyncProvConfig
				olcOverlay: {0}syncprov
				olcSpCheckpoint: 100 10
			EOF
		fi
	} >"$d/config.ldif"
	_slapd_tool "$d" slapadd -n0 -F "$d/slapd.d" -l "$d/config.ldif"
	# The shipped files, as they are: what admins apply is what is tested.
	_slapd_tool "$d" slapmodify -n0 -F "$d/slapd.d" -l "$_slapd_docs/indexes.ldif"
	_slapd_tool "$d" slapmodify -n0 -F "$d/slapd.d" -l "$_slapd_docs/acl.ldif"
	if [ "$role" != standalone ]; then
		printf '%s\n' "dn: olcDatabase={1}mdb,cn=config" "changetype: modify" \
			"add: olcDbIndex" "olcDbIndex: entryCSN,entryUUID eq" >"$d/repl-index.ldif"
		_slapd_tool "$d" slapmodify -n0 -F "$d/slapd.d" -l "$d/repl-index.ldif"
	fi
	echo "$name" >"$d/name"
}

# The olcSyncrepl line for a consumer of UPSTREAM (its current port).  No
# timeout=N: with it, stopping a consumer in persist mode takes N seconds.
_slapd_syncrepl_attr() {
	printf 'olcSyncrepl: rid=001 provider=%s bindmethod=simple binddn="%s" credentials=%s searchbase="%s" type=refreshAndPersist retry="1 +" network-timeout=2\n' \
		"$(slapd_uri "$1")" "$_slapd_rootdn" "$(cat "$T/admin.pw")" "$_slapd_suffix"
}

# A consumer follows its provider's port (which may change at its first start).
_slapd_follow_upstream() {
	local d=$1 up want
	up=$(cat "$d/upstream")
	[ -n "$up" ] || return 0
	want="provider=$(slapd_uri "$up") "
	grep -qF -- "$want" "$d/slapd.d/cn=config/olcDatabase={1}mdb.ldif" && return 0
	{
		printf '%s\n' "dn: olcDatabase={1}mdb,cn=config" "changetype: modify" "replace: olcSyncrepl"
		_slapd_syncrepl_attr "$up"
	} >"$d/syncrepl.ldif"
	_slapd_tool "$d" slapmodify -n0 -F "$d/slapd.d" -l "$d/syncrepl.ldif"
}

_slapd_running() {
	local d=$1 pid
	[ -s "$d/pid" ] || return 1
	pid=$(cat "$d/pid")
	kill -0 "$pid" 2>/dev/null && grep -q slapd "/proc/$pid/cmdline" 2>/dev/null
}

_slapd_answers() {
	_slapd_ldap ldapsearch -x -H "$1" -b "" -s base -o nettimeout=2 -LLL 1.1 >/dev/null 2>&1
}

slapd_start() {
	local name=${1:?usage: slapd_start NAME} d try pid uri i first=no lines
	d=$(_slapd_d "$name")
	_slapd_running "$d" && fail "slapd_start: $name is already running"
	if [ "$_slapd_hooked" = no ]; then
		on_exit _slapd_stop_all
		_slapd_hooked=yes
	fi
	[ -e "$d/started" ] || first=yes
	_slapd_follow_upstream "$d"
	for try in 1 2 3 4 5 6 7 8 9 10; do
		uri=$(slapd_uri "$name")
		echo "--- slapd_start $name $uri (try $try)" >>"$d/slapd.log"
		lines=$(wc -l <"$d/slapd.log")
		slapd -F "$d/slapd.d" -h "$uri/ $(slapd_ldapi "$name")$(_slapd_ldaps_listener "$d")" \
			-d "${SMK_SLAPD_DEBUG:-none}" \
			</dev/null >>"$d/slapd.log" 2>&1 &
		pid=$!
		echo "$pid" >"$d/pid"
		# Ask over ldapi first: that socket is ours alone, while another
		# test's slapd may answer on the port if ours could not bind it.
		for i in $(seq 250); do
			if _slapd_answers "$(slapd_ldapi "$name")" && _slapd_answers "$uri"; then
				touch "$d/started"
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.02
		done
		if kill -0 "$pid" 2>/dev/null; then
			slapd_stop "$name"
			tail -n 30 "$d/slapd.log" >&2
			fail "slapd_start: $name ($uri) does not answer"
		fi
		rm -f "$d/pid"
		tail -n +"$((lines + 1))" "$d/slapd.log" | grep -q 'bind.*errno=98' ||
			{ tail -n 30 "$d/slapd.log" >&2; fail "slapd_start: $name did not start"; }
		# Port taken (tests run in parallel): a new one unless clients know
		# this one already; then wait for it to be free again.
		if [ "$first" = yes ]; then
			_slapd_free_port >"$d/port.new"
			mv "$d/port.new" "$d/port"
		else
			sleep 0.2
		fi
	done
	tail -n 30 "$d/slapd.log" >&2
	fail "slapd_start: $name: no port to listen on"
}

# slapd_tls NAME CERT KEY: the server presents CERT (StartTLS on its ldap://
# port, and an ldaps:// listener on a second port, see slapd_ldaps_uri).
slapd_tls() {
	local name=${1:?usage: slapd_tls NAME CERT KEY} cert=${2:?} key=${3:?} d
	d=$(_slapd_d "$name")
	_slapd_running "$d" && fail "slapd_tls: stop $name first"
	cp "$cert" "$d/server.pem"
	cp "$key" "$d/server.key"
	chmod 600 "$d/server.key"
	printf '%s\n' "dn: cn=config" "changetype: modify" \
		"replace: olcTLSCertificateFile" "olcTLSCertificateFile: $d/server.pem" "-" \
		"replace: olcTLSCertificateKeyFile" "olcTLSCertificateKeyFile: $d/server.key" \
		>"$d/tls.ldif"
	_slapd_tool "$d" slapmodify -n0 -F "$d/slapd.d" -l "$d/tls.ldif"
	_slapd_free_port >"$d/ldaps_port"
}

# " ldaps://127.0.0.1:PORT/" when slapd_tls was used, else nothing.
_slapd_ldaps_listener() {
	[ -s "$1/ldaps_port" ] && printf ' ldaps://127.0.0.1:%s/' "$(cat "$1/ldaps_port")"
	return 0
}

slapd_ldaps_uri() {
	echo "ldaps://127.0.0.1:$(cat "$(_slapd_d "${1:?usage: slapd_ldaps_uri NAME}")/ldaps_port")"
}

slapd_stop() {
	local name=${1:?usage: slapd_stop NAME} d pid i port
	d=$(_slapd_d "$name")
	if _slapd_running "$d"; then
		pid=$(cat "$d/pid")
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 250); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.02
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "slapd_stop: $name ($pid) ignores SIGTERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$d/pid"
	port=$(cat "$d/port")
	for i in $(seq 100); do
		_slapd_port_busy "$port" || return 0
		# Someone else's listener would stay: do not wait forever for it.
		sleep 0.02
	done
	return 0
}

slapd_restart() {
	slapd_stop "${1:?usage: slapd_restart NAME}"
	slapd_start "$1"
}

slapd_uri() { echo "ldap://127.0.0.1:$(cat "$(_slapd_d "${1:?usage: slapd_uri NAME}")/port")"; }
slapd_ldapi() { echo "ldapi://$(_slapd_pct "$(cat "$(_slapd_d "${1:?usage: slapd_ldapi NAME}")/sock")")"; }
slapd_dir() { _slapd_d "${1:?usage: slapd_dir NAME}"; }

slapd_add() {
	local name=${1:?usage: slapd_add NAME LDIF} ldif=${2:?usage: slapd_add NAME LDIF} d
	local auth=(-Y EXTERNAL -Q)
	d=$(_slapd_d "$name")
	# Only root's ldapi identity is an administrator; others bind as rootdn.
	[ "$(id -u)" = 0 ] || auth=(-x -D "$_slapd_rootdn" -y "$T/admin.pw")
	_slapd_ldap ldapadd "${auth[@]}" -H "$(slapd_ldapi "$name")" -f "$ldif" >"$d/add.out" 2>&1 ||
		{ cat "$d/add.out" >&2; fail "slapd_add $name $ldif failed"; }
}

# _slapd_b64 FILE: FILE as one base64 line.
_slapd_b64() { base64 -w0 "$1"; }
# PEM to DER: the base64 between the markers (what openssl x509 -outform
# DER gives, fixture.sh checks; openssl needs 50 ms a call here).
_slapd_der() {
	sed -n '/^-----BEGIN CERTIFICATE-----$/,/^-----END CERTIFICATE-----$/{//!p}' "$1" | base64 -d
}

# _slapd_bytes TEXT SUMCMD: the binary digest of TEXT.
_slapd_bytes() {
	local hex
	hex=$(printf %s "$1" | "$2" | cut -d' ' -f1)
	# shellcheck disable=SC2059 # the format is \xNN escapes
	printf "$(printf %s "$hex" | sed 's/../\\x&/g')"
}

_slapd_person() {	# NAME MAIL [PASSWORD-FILE]
	printf '%s\n' "" "dn: uid=$1,ou=people,$_slapd_suffix" "objectClass: inetOrgPerson" \
		"uid: $1" "cn: $1" "sn: $1" "mail: $2"
	[ -z "${3:-}" ] || echo "userPassword: $(_slapd_hash "$3")"
}

# _slapd_testdata DIR: the test users as LDIF on stdout (scratch files in DIR).
_slapd_testdata() {
	local d=$1 w=$1/testdata.d n
	rm -rf "$w"
	mkdir "$w"
	_slapd_password "$T/alice.pw"
	_slapd_password "$T/bob.pw"
	_slapd_password "$T/admin-helper.pw"
	for n in alice-rsa alice-ec alice-rsa-new alice-expired bob ca; do
		_slapd_der "$C/$n.pem" >"$w/$n.der"
	done
	openssl crl2pkcs7 -nocrl -certfile "$C/alice-rsa-new.pem" -outform DER -out "$w/alice-rsa-new.p7c"
	# Fixed "random" bytes: slapadd normalizes userCertificate values (issuer
	# and serial), and fails on some random ones; this one it takes.
	_slapd_bytes 'smimekit test garbage 2' sha512sum >"$w/random64"
	_slapd_bytes 'smimekit test garbage smime' sha384sum >"$w/random48"
	head -c "$(($(wc -c <"$w/alice-rsa.der") / 2))" "$w/alice-rsa.der" >"$w/truncated.der"

	cat <<-EOF
		dn: $_slapd_suffix
		objectClass: dcObject
		objectClass: organization
		dc: example
		o: Example

		dn: ou=people,$_slapd_suffix
		objectClass: organizationalUnit
		ou: people

		dn: ou=groups,$_slapd_suffix
		objectClass: organizationalUnit
		ou: groups

		dn: cn=smimekit-admins,ou=groups,$_slapd_suffix
		objectClass: groupOfNames
		cn: smimekit-admins
		member: uid=admin-helper,ou=people,$_slapd_suffix
	EOF
	_slapd_person alice alice@example.org "$T/alice.pw"
	cat <<-EOF
		objectClass: inetLocalMailRecipient
		mailLocalAddress: ali@example.org
		userCertificate;binary:: $(_slapd_b64 "$w/alice-rsa.der")
		userCertificate;binary:: $(_slapd_b64 "$w/alice-ec.der")
		userSMIMECertificate:: $(_slapd_b64 "$w/alice-rsa-new.p7c")
		userPKCS12:: $(_slapd_b64 "$C/alice-rsa.p12")
	EOF
	_slapd_person bob bob@example.org "$T/bob.pw"
	echo "userCertificate;binary:: $(_slapd_b64 "$w/bob.der")"
	_slapd_person carol carol@example.org
	_slapd_person star '*@example.org'
	echo "userCertificate;binary:: $(_slapd_b64 "$w/alice-expired.der")"
	_slapd_person paren '"a)(uid=*"@example.org'
	echo "userCertificate;binary:: $(_slapd_b64 "$w/bob.der")"
	_slapd_person garbage garbage@example.org
	# Values slapd's certificate syntax check rejects: a consumer would
	# refuse the entry and stop replicating there, so not on a provider.
	[ "$(cat "$d/role")" = provider ] || cat <<-EOF
		userCertificate;binary:: $(_slapd_b64 "$w/random64")
		userCertificate;binary:: $(_slapd_b64 "$w/truncated.der")
	EOF
	cat <<-EOF
		userCertificate;binary:: $(_slapd_b64 "$w/ca.der")
		userCertificate;binary:: $(_slapd_b64 "$w/alice-rsa-new.der")
		userSMIMECertificate:: $(_slapd_b64 "$w/random48")
	EOF
	_slapd_person admin-helper admin-helper@example.org "$T/admin-helper.pw"
}

slapd_load_testdata() {
	local name=${1:?usage: slapd_load_testdata NAME} d was=no
	d=$(_slapd_d "$name")
	[ "$(cat "$d/role")" != consumer ] || fail "slapd_load_testdata: $name is a consumer; load its provider"
	_slapd_testdata "$d" >"$d/testdata.ldif"
	_slapd_running "$d" && was=yes
	[ "$was" = no ] || slapd_stop "$name"
	# slapadd, not ldapadd: slapd rejects the garbage entry's broken
	# userCertificate values (invalidAttributeSyntax), slapadd stores them.
	_slapd_tool "$d" slapadd -w -F "$d/slapd.d" -b "$_slapd_suffix" -l "$d/testdata.ldif"
	[ "$was" = no ] || slapd_start "$name"
}

slapd_wait_for() {
	local name=${1:?usage: slapd_wait_for NAME FILTER TIMEOUT} filter=${2:?} timeout=${3:?}
	local uri end out
	uri=$(slapd_uri "$name")
	end=$(($(date +%s%N) + $(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000 }') * 1000000))
	while :; do
		out=$(_slapd_ldap ldapsearch -x -H "$uri" -b "$_slapd_suffix" -o nettimeout=2 -LLL \
			"$filter" 1.1 2>/dev/null) || out=''
		case $out in *dn:*) return 0 ;; esac
		[ "$(date +%s%N)" -lt "$end" ] || break
		sleep 0.05
	done
	echo "slapd_wait_for: no entry matches $filter on $name after ${timeout}s" >&2
	return 1
}
