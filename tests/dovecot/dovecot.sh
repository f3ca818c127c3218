# tests/dovecot/dovecot.sh - throwaway Dovecot servers for the plugin tests.
# shellcheck shell=bash
#
# Sourced after tests/lib.sh (uses $T, fail, on_exit); needs root (Dovecot
# switches to the mail user), else the test is skipped (status 77):
#
#   . "$SMK_TEST_SRCDIR/lib.sh"
#   . "$SMK_TEST_SRCDIR/dovecot/dovecot.sh"
#   dovecot_new dc
#   echo 'mail_plugins = $mail_plugins smimekit' >"$(dovecot_dir dc)/local.conf"
#   dovecot_start dc
#   dovecot_lmtp dc --from a@example.org --to alice@example.org --file msg.eml
#   dovecot_imap dc alice fetch INBOX 1 --body out.eml
#
# dovecot_new NAME
#     $(dovecot_dir NAME) (normally $T/dovecot-NAME): dovecot.conf, the
#     passwd-file `users', and the users alice bob carol dave erin, all with
#     the password in $T/imap.pw (random, mode 0600, no newline), home
#     DIR/home/USER, mail in maildir:DIR/mail/USER, running as the system
#     user smktest (made with useradd -r if missing).  Login names and LMTP
#     recipients alike: "alice" or "alice@any.domain" (auth_username_format
#     = %Ln); unknown users are refused (LMTP 550).  protocols = imap lmtp on
#     127.0.0.1 without TLS: an LMTP and an IMAP port (free ones, chosen
#     again if taken at the first start), and an LMTP unix socket DIR/lmtp.
#     mail_plugin_dir = DIR/modules: links to every stock module in
#     /usr/lib/dovecot/modules, and to $SMK_DOVECOT_PLUGIN (our
#     lib90_smimekit_plugin.so) when that file exists.  No mail_plugins are
#     set, and no protocol { } block sets any, so a global mail_plugins
#     applies to every protocol (imap, lmtp, lda, doveadm).
#     mail_temp_dir = DIR/tmp (LMTP spools mail over 128 kB there),
#     lda_mailbox_autocreate = yes, log (all levels) in DIR/dovecot.log.
# DIR/local.conf
#     Included last (!include_try): a test writes its settings there before
#     dovecot_start (or before dovecot_restart), e.g.
#         mail_plugins = $mail_plugins smimekit
#         plugin {
#           smimekit_... = ...
#         }
#     Do not put mail_plugins in a protocol { } block before a global one:
#     "$mail_plugins" expands to the value set so far in the file.
# dovecot_user_field NAME USER FIELD=VALUE
#     A userdb extra field for USER in the passwd-file (e.g.
#     smimekit_disabled=yes, written userdb_smimekit_disabled=yes); replaces
#     an earlier value of FIELD.  No spaces or colons; Dovecot expands %
#     variables in VALUE.  Any time: auth reads the file again when
#     its mtime or size changed, but looks at most once a second; on a
#     running server this waits until `doveadm user' shows the new value.
# dovecot_start NAME | dovecot_stop NAME | dovecot_restart NAME (same ports)
#     Start returns once LMTP and IMAP greet (with the instance's own
#     greeting); stop sends SIGTERM to the master and waits for it and all
#     its services.  Every started server is stopped when the test exits,
#     pass or fail.
# dovecot_dir NAME | dovecot_log NAME | dovecot_lmtp_port NAME |
# dovecot_lmtp_socket NAME | dovecot_imap_port NAME | dovecot_maildir NAME USER
# dovecot_doveadm NAME ARGS...    doveadm -c DIR/dovecot.conf ARGS...
# dovecot_lda NAME ARGS...        /usr/lib/dovecot/dovecot-lda -c DIR/dovecot.conf ARGS...
#     (e.g. dovecot_lda dc -d carol -f sender@example.org <msg).  Both look
#     users up through the running server's auth: start it first.
# dovecot_lmtp NAME [--socket] ARGS...
#     lmtp.py (see there) on the LMTP port, or the unix socket: e.g.
#     dovecot_lmtp dc --socket --from a@example.org --to bob --to carol <msg
# dovecot_imap NAME USER COMMAND...
#     imap.py (see there) as USER with the password in $T/imap.pw.
# Both run $SMK_PYTHON: Debian's /usr/bin/python3 unless set (a pyenv shim
# first in PATH would cost 0.1 s a call).
#
# The master daemonises but keeps its stdout and stderr: they go to
# DIR/master.out, never to a pipe of the caller (which would never see EOF).

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: the Dovecot tests need root (Dovecot switches to the mail user)"
	exit 77
fi
case :$PATH: in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac
if [ -z "${SMK_PYTHON:-}" ]; then
	SMK_PYTHON=python3
	[ -x /usr/bin/python3 ] && SMK_PYTHON=/usr/bin/python3
fi
need dovecot doveadm doveconf useradd runuser "$SMK_PYTHON"
[ -x /usr/lib/dovecot/dovecot-lda ] ||
	fail "dovecot-lda is not installed (./dev.sh test installs the test dependencies)"

_dovecot_users=(alice bob carol dave erin)
_dovecot_mail_user=smktest
_dovecot_modules=/usr/lib/dovecot/modules
_dovecot_hooked=no
# The running servers of this shell, "PID TOKEN CONF" by name: the cleanup
# stops them even if their directory is gone.
declare -gA _dovecot_live=()
_dovecot_py=$SMK_TEST_SRCDIR/dovecot

# Stop every server of this test before lib.sh removes $T (and remove the
# directories made outside $T).
_dovecot_cleanup() {
	local l d n
	for l in "$T"/dovecot-*; do
		[ -f "$l/name" ] && dovecot_stop "$(cat "$l/name")"
	done
	for n in "${!_dovecot_live[@]}"; do
		# shellcheck disable=SC2086 # PID TOKEN CONF
		_dovecot_kill ${_dovecot_live[$n]}
	done
	for l in "$T"/dovecot-*; do
		[ -L "$l" ] || continue
		d=$(readlink "$l")
		case $d in /tmp/smk-dovecot.*) rm -rf "$d" ;; esac
	done
	return 0
}

_dovecot_d() {
	local d=$T/dovecot-${1:?server name}
	[ -f "$d/name" ] || fail "dovecot: no server '$1' (dovecot_new $1 first)"
	printf '%s\n' "$(cd "$d" && pwd -P)"
}

_dovecot_password() {
	[ -s "$1" ] && return 0
	(umask 077 && openssl rand -hex 16 | tr -d '\n' >"$1")
	chmod 600 "$1"
}

# The unprivileged owner of all mail; created once per machine.
_dovecot_mail_user() {
	id -u "$_dovecot_mail_user" >/dev/null 2>&1 && return 0
	# Another test may create it at the same time: then useradd fails.
	useradd -r -M -U -s /usr/sbin/nologin -d /nonexistent "$_dovecot_mail_user" \
		>/dev/null 2>&1 || true
	id -u "$_dovecot_mail_user" >/dev/null 2>&1 || fail "dovecot: useradd $_dovecot_mail_user failed"
}

# _dovecot_reachable DIR: the auth process (user dovecot) and the mail
# processes (smktest) can both enter DIR.
_dovecot_reachable() {
	runuser -u dovecot -- test -x "$1" 2>/dev/null &&
		runuser -u "$_dovecot_mail_user" -- test -x "$1" 2>/dev/null
}

_dovecot_port_busy() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A random free port in 20000-59999, not given to another server of this test.
_dovecot_free_port() {
	local p
	for _ in $(seq 50); do
		p=$(((RANDOM << 15 | RANDOM) % 40000 + 20000))
		grep -qx "$p" "$T"/dovecot-*/lmtp_port "$T"/dovecot-*/imap_port 2>/dev/null && continue
		_dovecot_port_busy "$p" && continue
		echo "$p"
		return 0
	done
	fail "dovecot: no free port found"
}

_dovecot_new_ports() {
	local d=$1 p
	p=$(_dovecot_free_port)
	echo "$p" >"$d/lmtp_port"
	p=$(_dovecot_free_port)
	echo "$p" >"$d/imap_port"
}

# DIR/dovecot.conf from the ports and the directory.
_dovecot_conf() {
	local d=$1 uid gid
	uid=$(id -u "$_dovecot_mail_user")
	gid=$(id -g "$_dovecot_mail_user")
	cat >"$d/dovecot.conf" <<-EOF
		# A throwaway server of the smimekit tests (tests/dovecot/dovecot.sh).
		instance_name = smk-$(cat "$d/token")
		base_dir = $d/run
		state_dir = $d/state
		log_path = $d/dovecot.log
		info_log_path = $d/dovecot.log
		debug_log_path = $d/dovecot.log
		mail_debug = no
		auth_verbose = no
		auth_debug = no

		protocols = imap lmtp
		listen = 127.0.0.1
		ssl = no
		disable_plaintext_auth = no
		auth_mechanisms = plain login
		auth_username_format = %Ln
		login_greeting = smk-$(cat "$d/token") ready
		login_trusted_networks = 127.0.0.0/8
		# A wrong password costs no time: no delay, no penalty for the IP.
		auth_failure_delay = 0

		first_valid_uid = $uid
		first_valid_gid = $gid
		mail_location = maildir:$d/mail/%u
		mail_temp_dir = $d/tmp
		mail_plugin_dir = $d/modules
		lda_mailbox_autocreate = yes

		passdb {
		  driver = passwd-file
		  args = scheme=PLAIN $d/users
		}
		userdb {
		  driver = passwd-file
		  args = $d/users
		  default_fields = uid=$uid gid=$gid
		}

		service lmtp {
		  inet_listener lmtp {
		    address = 127.0.0.1
		    port = $(cat "$d/lmtp_port")
		  }
		  unix_listener $d/lmtp {
		    mode = 0666
		  }
		}
		service anvil {
		  unix_listener anvil-auth-penalty {
		    mode = 0
		  }
		}
		service imap-login {
		  inet_listener imap {
		    address = 127.0.0.1
		    port = $(cat "$d/imap_port")
		  }
		  inet_listener imaps {
		    port = 0
		  }
		}

		# Settings for one protocol go here; mail_plugins is deliberately not
		# set in them (see dovecot.sh).
		protocol imap {
		}
		protocol lmtp {
		}
		protocol lda {
		}
		protocol doveadm {
		}

		!include_try $d/local.conf
	EOF
}

# DIR/users, the passwd-file: "USER:{PLAIN}PASSWORD::::HOME::EXTRA" with
# EXTRA the userdb_FIELD=VALUE of DIR/fields.USER (one FIELD=VALUE a line).
_dovecot_users_file() {
	local d=$1 u extra old
	old=$(stat -c %Y "$d/users" 2>/dev/null || echo 0)
	for u in "${_dovecot_users[@]}"; do
		extra=''
		[ -s "$d/fields.$u" ] && extra=$(sed 's/^/userdb_/' "$d/fields.$u" | tr '\n' ' ')
		printf '%s:{PLAIN}%s::::%s::%s\n' "$u" "$(cat "$T/imap.pw")" "$d/home/$u" "${extra% }"
	done >"$d/users.new"
	chown root:dovecot "$d/users.new"
	chmod 640 "$d/users.new"
	mv -f "$d/users.new" "$d/users"
	# Auth reads the file again when its mtime (in seconds) or size differs.
	[ "$(stat -c %Y "$d/users")" -gt "$old" ] || touch -d "@$((old + 1))" "$d/users"
}

dovecot_new() {
	local name=${1:?usage: dovecot_new NAME} d real u m
	case $name in *[!A-Za-z0-9_-]* | '') fail "dovecot_new: bad name '$name'" ;; esac
	d=$T/dovecot-$name
	[ -e "$d" ] && fail "dovecot_new: $name exists"
	_dovecot_mail_user
	if [ "$_dovecot_hooked" = no ]; then
		on_exit _dovecot_cleanup
		_dovecot_hooked=yes
	fi
	# Dovecot's unix sockets (sun_path: 108 bytes) live in DIR/run, paths go
	# into dovecot.conf unquoted, and the users dovecot and smktest must be
	# able to enter DIR: else a directory under /tmp, $T/dovecot-NAME a link
	# to it.
	if [ ${#d} -le 60 ] && [[ $d != *[!A-Za-z0-9._/-]* ]] && _dovecot_reachable "$T"; then
		mkdir "$d"
	else
		real=$(mktemp -d /tmp/smk-dovecot.XXXXXX)
		ln -s "$real" "$d"
	fi
	chmod 755 "$d"
	d=$(cd "$d" && pwd -P)
	_dovecot_password "$T/imap.pw"
	openssl rand -hex 6 >"$d/token"
	mkdir -p "$d/run" "$d/state" "$d/modules" "$d/tmp" "$d/home" "$d/mail"
	chmod 1777 "$d/tmp"
	for u in "${_dovecot_users[@]}"; do
		mkdir -p "$d/home/$u" "$d/mail/$u"
		chown "$_dovecot_mail_user:" "$d/home/$u" "$d/mail/$u"
		chmod 700 "$d/home/$u" "$d/mail/$u"
	done
	for m in "$_dovecot_modules"/*.so; do
		ln -s "$m" "$d/modules/"
	done
	if [ -n "${SMK_DOVECOT_PLUGIN:-}" ] && [ -f "$SMK_DOVECOT_PLUGIN" ]; then
		ln -sf "$SMK_DOVECOT_PLUGIN" "$d/modules/"
	fi
	_dovecot_new_ports "$d"
	_dovecot_users_file "$d"
	_dovecot_conf "$d"
	: >"$d/dovecot.log"
	echo "$name" >"$d/name"
}

dovecot_user_field() {
	local usage='usage: dovecot_user_field NAME USER FIELD=VALUE'
	local d user=${2:?$usage} fv=${3:?$usage} field got
	d=$(_dovecot_d "${1:?$usage}")
	field=${fv%%=*}
	case " ${_dovecot_users[*]} " in *" $user "*) ;; *) fail "dovecot_user_field: no user '$user'" ;; esac
	case $field in '' | *[!A-Za-z0-9_.-]*) fail "dovecot_user_field: bad field '$fv'" ;; esac
	case $fv in *=*) ;; *) fail "dovecot_user_field: '$fv' is not FIELD=VALUE" ;; esac
	case $fv in *[[:space:]:]*) fail "dovecot_user_field: no spaces or colons in '$fv'" ;; esac
	touch "$d/fields.$user"
	{
		awk -v f="$field=" 'index($0, f) != 1' "$d/fields.$user"
		printf '%s\n' "$fv"
	} >"$d/fields.new"
	mv -f "$d/fields.new" "$d/fields.$user"
	_dovecot_users_file "$d"
	# A running auth process looks at the file at most once a second (and
	# then only if mtime or size changed): wait until it has the value.
	_dovecot_pid "$d" >/dev/null || return 0
	for _ in $(seq 100); do
		got=$(doveadm -c "$d/dovecot.conf" user -f "$field" "$user" 2>/dev/null) || got=''
		[ "$got" != "${fv#*=}" ] || return 0
		sleep 0.05
	done
	doveadm -c "$d/dovecot.conf" user "$user" >&2 || true
	grep "^$user:" "$d/users" >&2 || true
	tail -n 20 "$d/dovecot.log" >&2 || true
	fail "dovecot_user_field: auth does not see $fv for $user"
}

# The master's pid when it runs (its command line names our config).
_dovecot_pid() {
	local d=$1 pid
	[ -s "$d/run/master.pid" ] || return 1
	pid=$(cat "$d/run/master.pid")
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$d/dovecot.conf" || return 1
	echo "$pid"
}

# _dovecot_greets PORT PATTERN: the first line from PORT matches PATTERN
# (the greeting names the instance: no other server answers for it).
_dovecot_greets() {
	local line
	line=$(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		IFS= read -r -t 2 line <&3 || exit 1
		case $line in 220*) printf 'QUIT\r\n' >&3 ;; *) printf 'x LOGOUT\r\n' >&3 ;; esac
		printf '%s\n' "$line"
	) 2>/dev/null || return 1
	# shellcheck disable=SC2254 # a pattern
	case $line in $2) return 0 ;; esac
	return 1
}

dovecot_start() {
	local name=${1:?usage: dovecot_start NAME} d try first=no token rc pid
	d=$(_dovecot_d "$name")
	_dovecot_pid "$d" >/dev/null && fail "dovecot_start: $name is already running"
	[ -e "$d/started" ] || first=yes
	token=$(cat "$d/token")
	for try in 1 2 3 4 5 6 7 8 9 10; do
		_dovecot_conf "$d"
		echo "--- dovecot_start $name lmtp $(cat "$d/lmtp_port") imap $(cat "$d/imap_port") (try $try)" \
			>>"$d/dovecot.log"
		rc=0
		dovecot -c "$d/dovecot.conf" </dev/null >"$d/master.out" 2>&1 || rc=$?
		if [ $rc = 0 ]; then
			for _ in $(seq 200); do
				if _dovecot_greets "$(cat "$d/lmtp_port")" "220 *smk-$token ready*" &&
					_dovecot_greets "$(cat "$d/imap_port")" "\* OK *smk-$token ready*"; then
					touch "$d/started"
					pid=$(_dovecot_pid "$d") && _dovecot_live[$name]="$pid $token $d/dovecot.conf"
					return 0
				fi
				_dovecot_pid "$d" >/dev/null || break
				sleep 0.05
			done
			dovecot_stop "$name"
			cat "$d/master.out" >&2
			tail -n 30 "$d/dovecot.log" >&2
			fail "dovecot_start: $name does not answer"
		fi
		# The master says why on stderr (and in the log).
		if ! grep -qs 'Address already in use' "$d/master.out"; then
			cat "$d/master.out" >&2
			tail -n 30 "$d/dovecot.log" >&2
			fail "dovecot_start: $name did not start"
		fi
		# A port is taken (tests run in parallel): new ones unless clients
		# know these already; then wait for them to be free again.
		if [ "$first" = yes ]; then
			_dovecot_new_ports "$d"
		else
			sleep 0.2
		fi
	done
	cat "$d/master.out" >&2
	fail "dovecot_start: $name: no port to listen on"
}

dovecot_stop() {
	local name=${1:?usage: dovecot_stop NAME} d pid
	d=$(_dovecot_d "$name")
	unset "_dovecot_live[$name]"
	pid=$(_dovecot_pid "$d") || return 0
	_dovecot_kill "$pid" "$(cat "$d/token")" "$d/dovecot.conf"
}

# _dovecot_kill PID TOKEN CONF: stops the master PID (if it still is the
# one of CONF) and waits for all processes of the instance to go.
_dovecot_kill() {
	local pid=$1 token=$2 conf=$3 procs
	if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$conf"; then
		kill -TERM "$pid" 2>/dev/null || true
	else
		pid=''
	fi
	# On SIGTERM the master closes its listeners and stops the services; then
	# it sends SIGQUIT to what is left (its log process) and sleeps a second
	# "for them to close their listeners" (the log process has none) before
	# it exits, and the log process goes when the master has gone.  Once the
	# services but the log are gone, SIGKILL saves that second (restarts
	# are many): the master has nothing left to do.
	for _ in $(seq 500); do
		if [ -n "$pid" ] && [ -z "$(_dovecot_procs "$token" '' nolog)" ]; then
			sleep 0.05	# for the log process to read the last lines
			kill -KILL "$pid" 2>/dev/null || true
			rm -f "$(dirname "$conf")/run/master.pid"
			pid=''
		fi
		procs=$(_dovecot_procs "$token" "$pid")
		[ -n "$procs" ] || return 0
		sleep 0.02
	done
	echo "dovecot_stop: $conf: killing $procs" >&2
	# shellcheck disable=SC2086 # a list of pids
	kill -KILL $procs 2>/dev/null || true
	return 0
}

# _dovecot_procs TOKEN [MASTER-PID [nolog]]: the live processes of the
# instance (the services' titles are dovecot-INSTANCE_NAME/SERVICE...),
# without its log process if "nolog".  A master that has exited stays a
# zombie until init reaps it, which can take a second.
_dovecot_procs() {
	local p procs
	procs="${2:-} $(pgrep -f "^dovecot-smk-$1/" | tr '\n' ' ')"
	for p in $procs; do
		[ -r "/proc/$p/stat" ] || continue
		# Field 3 of /proc/PID/stat, after the ")" that ends the name.
		case $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) in Z* | X* | '') continue ;; esac
		if [ "${3:-}" = nolog ] && [ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" = "dovecot-smk-$1/log " ]; then
			continue
		fi
		printf '%s ' "$p"
	done
}

dovecot_restart() {
	dovecot_stop "${1:?usage: dovecot_restart NAME}"
	dovecot_start "$1"
}

dovecot_dir() { _dovecot_d "${1:?usage: dovecot_dir NAME}"; }
dovecot_log() { echo "$(_dovecot_d "${1:?usage: dovecot_log NAME}")/dovecot.log"; }
dovecot_lmtp_port() { cat "$(_dovecot_d "${1:?usage: dovecot_lmtp_port NAME}")/lmtp_port"; }
dovecot_imap_port() { cat "$(_dovecot_d "${1:?usage: dovecot_imap_port NAME}")/imap_port"; }
dovecot_lmtp_socket() { echo "$(_dovecot_d "${1:?usage: dovecot_lmtp_socket NAME}")/lmtp"; }
dovecot_maildir() {
	echo "$(_dovecot_d "${1:?usage: dovecot_maildir NAME USER}")/mail/${2:?usage: dovecot_maildir NAME USER}"
}

dovecot_doveadm() {
	local d
	d=$(_dovecot_d "${1:?usage: dovecot_doveadm NAME ARGS...}")
	shift
	doveadm -c "$d/dovecot.conf" "$@"
}

dovecot_lmtp() {
	local d
	d=$(_dovecot_d "${1:?usage: dovecot_lmtp NAME [--socket] ARGS...}")
	shift
	if [ "${1:-}" = --socket ]; then
		shift
		"$SMK_PYTHON" "$_dovecot_py/lmtp.py" --socket "$d/lmtp" "$@"
	else
		"$SMK_PYTHON" "$_dovecot_py/lmtp.py" --port "$(cat "$d/lmtp_port")" "$@"
	fi
}

dovecot_imap() {
	local d user=${2:?usage: dovecot_imap NAME USER COMMAND...}
	d=$(_dovecot_d "${1:?usage: dovecot_imap NAME USER COMMAND...}")
	shift 2
	"$SMK_PYTHON" "$_dovecot_py/imap.py" --port "$(cat "$d/imap_port")" --user "$user" \
		--password-file "$T/imap.pw" "$@"
}

dovecot_lda() {
	local d
	d=$(_dovecot_d "${1:?usage: dovecot_lda NAME ARGS...}")
	shift
	/usr/lib/dovecot/dovecot-lda -c "$d/dovecot.conf" "$@"
}
