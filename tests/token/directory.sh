#!/bin/bash
# directory.sh - the directory token (cloud-held keys) and `smimekit token
# escrow` against a real slapd: certificates listed without a PIN, an
# admin escrows a key, login as the entry decrypts it on the client, an
# import adds a new userPKCS12 value and keeps the old ones, PIN change
# (LDAP password and escrow together), login = bind with a separate escrow
# PIN, wrong PINs, and a directory that is down or hangs.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/ldap/slapd.sh"
need openssl ldapsearch ldapwhoami timeout

slapd_new dir
slapd_load_testdata dir
slapd_start dir
uri=$(slapd_uri dir)
base=dc=example,dc=org
alice=uid=alice,ou=people,$base
S=$SMIMEKIT
export XDG_STATE_HOME=$T/state

printf '[directory]\nuri = %s\nbase = %s\ntimeout = 3\nnetwork_timeout = 3\n\n[token cloud]\ntype = directory\naddress = alice@example.org\n' \
	"$uri" "$base" > "$T/smimekit.conf"
export SMIMEKIT_CONF=$T/smimekit.conf
admin=(--bind-dn "cn=admin,$base" --bind-password-file "$T/admin.pw")

run() {	# run WANT-STATUS COMMAND... ; output in $T/out, $T/err
	local want=$1 s=0
	shift
	"$@" > "$T/out" 2> "$T/err" < /dev/null || s=$?
	[ "$s" = "$want" ] || { cat "$T/out" "$T/err" >&2; fail "$*: exit $s, want $want"; }
}
secret() { (umask 077 && printf '%s\n' "$2" > "$T/$1"); }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
# escrow_values FILE: alice's userPKCS12 values, one base64 line each (as the rootdn)
escrow_values() {
	LDAPNOINIT=1 ldapsearch -x -LLL -o ldif-wrap=no -H "$uri" -D "cn=admin,$base" -y "$T/admin.pw" \
		-b "$alice" -s base userPKCS12 | sed -n 's/^userPKCS12:: //p' > "$1"
}
secret p12pw 'p12 password'
secret wrong 'not alices password'
openssl pkcs12 -export -inkey "$C/alice-ec.key" -in "$C/alice-ec.pem" -name alice-ec \
	-passout "file:$T/p12pw" -out "$T/alice-ec.p12" 2>/dev/null || fail "pkcs12 -export ec"
openssl pkcs12 -export -inkey "$C/alice-rsa-new.key" -in "$C/alice-rsa-new.pem" -name alice-new \
	-passout "file:$T/p12pw" -out "$T/alice-new.p12" 2>/dev/null || fail "pkcs12 -export new"

# ---- certificates without a PIN
s=0
timeout 20 setsid "$S" token list cloud > "$T/out" 2> "$T/err" < /dev/null || s=$?
[ "$s" = 0 ] || { cat "$T/err" >&2; fail "token list cloud: exit $s"; }
has_line "$T/out" '^token cloud \(directory\): label "alice@example.org", serial [0-9A-F]{16}$' "header"
has_line "$T/out" '^  3 items$' "alice's 3 certificates"
for c in alice-rsa alice-ec alice-rsa-new; do
	has_line "$T/out" "^    certificate: .*serial $(serial "$C/$c.pem"), expires " "$c listed"
done
lacks "$T/out" 'private key: yes' "no private key before login"
[ "$(grep -c 'private key: unknown (escrowed keys show after login)$' "$T/out")" = 3 ] || fail "before login"
ok "token list shows the published certificates without a PIN (no terminal asked)"

# ---- escrow by an admin
escrow_values "$T/v0"
[ "$(wc -l < "$T/v0")" = 1 ] || fail "fixture: alice should have 1 userPKCS12 value"
run 1 "$S" token escrow alice@example.org "$T/alice-ec.p12" --bind-dn "uid=admin-helper,ou=people,$base" \
	--bind-password-file "$T/admin-helper.pw" --pin-file "$T/alice.pw" --p12-password-file "$T/p12pw"
has_line "$T/err" 'directory .*(nsufficient access|modify)' "admin-helper may only delete"
escrow_values "$T/v"
same "$T/v0" "$T/v" "escrow values after a refused escrow"
run 1 "$S" token escrow "${admin[@]}" bob@example.org "$T/alice-ec.p12" --pin-file "$T/alice.pw" \
	--p12-password-file "$T/p12pw"
has_line "$T/err" 'not for bob@example.org.*--force' "escrow checks the address"
run 0 "$S" token escrow "${admin[@]}" alice@example.org "$T/alice-ec.p12" --pin-file "$T/alice.pw" \
	--p12-password-file "$T/p12pw"
has_line "$T/out" "^escrowed the key of certificate serial $(serial "$C/alice-ec.pem") for alice@example.org in $alice " "escrow"
escrow_values "$T/v1"
[ "$(wc -l < "$T/v1")" = 2 ] || fail "escrow: want 2 values: $(wc -l < "$T/v1")"
grep -qxF "$(cat "$T/v0")" "$T/v1" || fail "escrow removed the old value"
grep -vxF -f "$T/v0" "$T/v1" | base64 -d > "$T/escrowed.p12"
openssl pkcs12 -in "$T/escrowed.p12" -info -nodes -passin "file:$T/alice.pw" > "$T/p12.txt" 2>&1 ||
	fail "openssl pkcs12 does not open the escrowed value with alice's PIN: $(cat "$T/p12.txt")"
has_line "$T/p12.txt" 'MAC: sha256, Iteration 600000' "MAC"
has_line "$T/p12.txt" 'Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256' "key bag"
has_line "$T/p12.txt" 'friendlyName: alice-ec' "label"
ok "token escrow adds a userPKCS12 value (PBES2/AES-256, PBKDF2-SHA256 and a SHA-256 MAC at 600000), keeps the old one; refused writes change nothing"

# ---- login as the entry: the escrow opens on the client
ec_id=$(openssl pkey -in "$C/alice-ec.key" -pubout -outform DER | tail -c 65 | openssl sha1 -r | cut -d' ' -f1)
run 0 "$S" token list cloud --login --pin-file "$T/alice.pw"
has_line "$T/out" "^  - id $ec_id, label \"[^\"]*\", EC prime256v1, private key: yes\$" "EC key after login"
has_line "$T/err" '1 of 2 escrowed keys .* do not open with this PIN' "the fixture's value (another password) is skipped with a note"
ok "login binds as alice with the PIN, decrypts her escrow, skips values under another PIN"

run 1 "$S" token list cloud --login --pin-file "$T/wrong"
has_line "$T/err" 'token cloud: incorrect PIN \(1 of 10 attempts used\)' "wrong PIN"
[ "$(stat -c %a "$XDG_STATE_HOME/smimekit/cloud.state")" = 600 ] || fail "state file mode"
has_line "$XDG_STATE_HOME/smimekit/cloud.state" '^failures 1$' "counter"
run 0 "$S" token list cloud
has_line "$T/out" 'failures 1 of 10' "list shows the failures"
run 0 "$S" token list cloud --login --pin-file "$T/alice.pw"
has_line "$XDG_STATE_HOME/smimekit/cloud.state" '^failures 0$' "counter reset"
ok "a wrong PIN is a clear error and counts in the 0600 state file; a good login resets it"

# ---- import on the directory token: a new value, the old ones stay
run 0 "$S" token import cloud "$T/alice-new.p12" --pin-file "$T/alice.pw" --p12-password-file "$T/p12pw"
has_line "$T/out" '^imported RSA 2048 key id [0-9a-f]{40}, label "alice-new" with its certificate into token cloud$' "import"
escrow_values "$T/v2"
[ "$(wc -l < "$T/v2")" = 3 ] || fail "import: want 3 values: $(wc -l < "$T/v2")"
grep -qxF -f "$T/v1" "$T/v2" && [ "$(grep -cxF -f "$T/v1" "$T/v2")" = 2 ] || fail "import lost an old value"
run 0 "$S" token list cloud --login --pin-file "$T/alice.pw"
[ "$(grep -c 'private key: yes' "$T/out")" = 2 ] || fail "want 2 private keys: $(cat "$T/out")"
has_line "$T/out" "serial $(serial "$C/alice-rsa-new.pem"), expires" "new key's certificate"
ok "token import on the directory token escrows a new value; the old values stay"

# ---- PIN change with login = self: the LDAP password and the escrow together
secret newpin 'alices new password'
run 0 "$S" token passwd cloud --pin-file "$T/alice.pw" --new-pin-file "$T/newpin"
LDAPNOINIT=1 ldapwhoami -x -H "$uri" -D "$alice" -y <(tr -d '\n' < "$T/newpin") > /dev/null ||
	fail "the directory does not take the new password"
if LDAPNOINIT=1 ldapwhoami -x -H "$uri" -D "$alice" -y "$T/alice.pw" > /dev/null 2>&1; then
	fail "the old password still binds"
fi
escrow_values "$T/v3"
[ "$(wc -l < "$T/v3")" = 3 ] || fail "passwd: want 3 values: $(wc -l < "$T/v3")"
grep -qxF "$(cat "$T/v0")" "$T/v3" || fail "passwd dropped the value it could not open"
run 0 "$S" token list cloud --login --pin-file "$T/newpin"
[ "$(grep -c 'private key: yes' "$T/out")" = 2 ] || fail "after passwd: $(cat "$T/out")"
run 1 "$S" token list cloud --login --pin-file "$T/alice.pw"
ok "token passwd changes the password and re-encrypts every escrow value (others kept)"

# ---- a PIN change that fails midway leaves the keys readable
if [ "$(id -u)" = 0 ]; then	# cn=config is root's (ldapi, SASL EXTERNAL)
	acl() {	# acl WRITE|READ: may users change their own password?
		local by=write
		[ "$1" = READ ] && by=read
		printf 'dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\ndelete: olcAccess\nolcAccess: {2}\n-\nadd: olcAccess\nolcAccess: {2}to attrs=userPassword by self %s by anonymous auth by * none\n' \
			"$by" > "$T/acl.ldif"
		slapd_add dir "$T/acl.ldif"
	}
	acl READ
	secret pin3 'a third password'
	escrow_values "$T/before"
	run 1 "$S" token passwd cloud --pin-file "$T/newpin" --new-pin-file "$T/pin3"
	has_line "$T/err" 'password change: .*nsufficient access' "the password change refused"
	escrow_values "$T/after"
	same "$T/before" "$T/after" "the escrow after a failed password change"
	run 0 "$S" token list cloud --login --pin-file "$T/newpin"
	[ "$(grep -c 'private key: yes' "$T/out")" = 2 ] || fail "keys after a failed passwd: $(cat "$T/out")"
	acl WRITE
	ok "a password change the directory refuses: the copies under the new PIN are removed again, the old PIN opens every key"
else
	echo "# skipped: failed PIN change (changing the ACL needs root on the fixture slapd)"
fi

# ---- login = bind: a separate escrow PIN, the configured bind reads
secret epin 'separate escrow PIN'
printf '[directory]\nuri = %s\nbase = %s\nbind_dn = cn=admin,%s\nbind_password_file = %s\ntimeout = 3\n\n[token cb]\ntype = directory\naddress = alice@example.org\nlogin = bind\nmax_failures = 3\n' \
	"$uri" "$base" "$base" "$T/admin.pw" > "$T/bind.conf"
run 0 "$S" token escrow --config "$T/bind.conf" alice@example.org "$T/alice-ec.p12" --pin-file "$T/epin" \
	--p12-password-file "$T/p12pw"
run 0 "$S" token list --config "$T/bind.conf" cb --login --pin-file "$T/epin"
has_line "$T/out" "^  - id $ec_id, .*private key: yes\$" "login = bind opens the value under the escrow PIN"
run 1 "$S" token list --config "$T/bind.conf" cb --login --pin-file "$T/wrong"
has_line "$T/err" 'incorrect PIN \(1 of 3' "no value opens: wrong PIN"
run 1 "$S" token list --config "$T/bind.conf" cb --login --pin-file "$T/wrong"
run 1 "$S" token list --config "$T/bind.conf" cb --login --pin-file "$T/wrong"
has_line "$T/err" 'locked after 3 failures' "locked at max_failures"
run 1 "$S" token list --config "$T/bind.conf" cb --login --pin-file "$T/epin"
has_line "$T/err" 'locked after 3 wrong PINs \(remove .*cb.state' "locked: even the right PIN"
rm "$XDG_STATE_HOME/smimekit/cb.state"
run 0 "$S" token list --config "$T/bind.conf" cb --login --pin-file "$T/epin"
ok "login = bind: the PIN only decrypts, wrong when no value opens; client-side lockout"

# ---- the directory down, then hanging
slapd_stop dir
start=$(date +%s)
run 75 "$S" token list cloud --login --pin-file "$T/newpin"
has_line "$T/err" "directory unavailable: $uri" "down: names the server"
run 75 "$S" token list cloud
has_line "$T/err" "token cloud: .*$uri" "list: names the server"
run 75 "$S" token escrow "${admin[@]}" alice@example.org "$T/alice-ec.p12" --pin-file "$T/alice.pw" \
	--p12-password-file "$T/p12pw"
[ $(($(date +%s) - start)) -le 8 ] || fail "a stopped directory took $(($(date +%s) - start)) s"
ok "directory stopped: exit 75 with an error naming the server"

slapd_start dir
pid=$(cat "$(slapd_dir dir)/pid")
kill -STOP "$pid"
on_exit "kill -CONT $pid 2>/dev/null"
start=$(date +%s)
s=0
timeout 30 "$S" token list cloud --login --pin-file "$T/newpin" > "$T/out" 2> "$T/err" < /dev/null || s=$?
took=$(($(date +%s) - start))
kill -CONT "$pid"
[ "$s" = 75 ] || { cat "$T/err" >&2; fail "hanging directory: exit $s, want 75"; }
has_line "$T/err" "$uri" "hang: names the server"
# timeout = 3: connecting and each operation; a few of them, never forever
[ "$took" -le 15 ] || fail "a hanging directory took $took s (timeout 3 s)"
ok "directory hanging: exit 75 after the configured timeout (${took} s), not a hang"

run 0 "$S" token list cloud --login --pin-file "$T/newpin"
ok "works again once the directory is back"

# ---- a PKCS#11 client on the directory token (once the module exists)
if [ -f "${SMK_PKCS11_MODULE:-}" ] && command -v pkcs11-tool > /dev/null; then
	# a module built with ASan needs the runtime loaded first
	p11=(pkcs11-tool)
	asan=$(ldd "$SMK_PKCS11_MODULE" | awk '/libasan/ { print $3 }')
	[ -z "$asan" ] || p11=(env LD_PRELOAD="$asan" ASAN_OPTIONS=detect_leaks=0 pkcs11-tool)
	p11+=(--module "$SMK_PKCS11_MODULE" --token-label alice@example.org)
	pin=$(head -1 "$T/newpin")
	"${p11[@]}" --login --pin "$pin" --list-objects > "$T/p11" 2>&1 ||
		fail "pkcs11-tool on the directory token: $(cat "$T/p11")"
	has_line "$T/p11" 'Private Key Object' "pkcs11-tool sees the escrowed key"
	printf 'hello' > "$T/msg"
	"${p11[@]}" --login --pin "$pin" --sign --mechanism ECDSA-SHA256 --id "$ec_id" \
		--signature-format openssl -i "$T/msg" -o "$T/sig" > "$T/p11" 2>&1 ||
		fail "pkcs11-tool sign on the directory token: $(cat "$T/p11")"
	openssl dgst -sha256 -verify <(openssl x509 -in "$C/alice-ec.pem" -pubkey -noout) \
		-signature "$T/sig" "$T/msg" > /dev/null || fail "signature does not verify"
	ok "pkcs11-tool logs in to the directory token and signs with the escrowed key"

	escrow_values "$T/v4"
	"${p11[@]}" --login --pin "$pin" --keypairgen --key-type EC:prime256v1 --label generated \
		> "$T/p11" 2>&1 || fail "pkcs11-tool --keypairgen on the directory token: $(cat "$T/p11")"
	escrow_values "$T/v5"
	[ "$(wc -l < "$T/v5")" = $(($(wc -l < "$T/v4") + 1)) ] ||
		fail "keygen: want one more userPKCS12 value: $(wc -l < "$T/v4") -> $(wc -l < "$T/v5")"
	[ "$(grep -cxF -f "$T/v4" "$T/v5")" = "$(wc -l < "$T/v4")" ] || fail "keygen lost an old value"
	grep -vxF -f "$T/v4" "$T/v5" | base64 -d > "$T/gen.p12"
	openssl pkcs12 -in "$T/gen.p12" -nocerts -nodes -passin "file:$T/newpin" 2>/dev/null |
		openssl pkey -pubout > "$T/gen-pub.pem" || fail "the generated key's value does not open with the PIN"
	# (a signature, not --read-object: OpenSC 0.23's EC public key export
	# reads freed memory, which ASan builds catch)
	gen_id=$(openssl pkey -pubin -in "$T/gen-pub.pem" -outform DER | tail -c 65 | openssl sha1 -r | cut -d' ' -f1)
	"${p11[@]}" --login --pin "$pin" --sign --mechanism ECDSA-SHA256 --id "$gen_id" \
		--signature-format openssl -i "$T/msg" -o "$T/gen.sig" > "$T/p11" 2>&1 ||
		fail "pkcs11-tool sign with the generated key: $(cat "$T/p11")"
	openssl dgst -sha256 -verify "$T/gen-pub.pem" -signature "$T/gen.sig" "$T/msg" > /dev/null ||
		fail "the escrowed key is not the generated one"
	ok "a key generated with pkcs11-tool is escrowed as a new userPKCS12 value under the PIN; the old ones stay"
else
	echo "# skipped: pkcs11-tool on the directory token (no module or no pkcs11-tool)"
fi
done_testing
