# tests/token/tokenlib.sh - alice's keys on a file token, made as a user
# would, for the tests of the fronts over the key store (the PKCS#11
# module: tests/pkcs11/p11lib.sh; the OpenSSL provider:
# tests/provider/provlib.sh).  Sourced after tests/lib.sh.
# shellcheck shell=bash
#
# token_key_id PUBKEY-PEM: the id the key store gives a key, the CKA_ID
# NSS derives (SHA-1 of the RSA modulus or of the P-256 point), in
# lower-case hex.
#
# token_alice DIR NAME [CONFIG-LINE...]: DIR/smimekit.conf, exported as
# SMIMEKIT_CONF, with one file token [token NAME] in DIR/token (the
# CONFIG-LINEs added to its section), made by `smimekit token init` with
# the PINs in DIR/so-pin and DIR/pin and filled by `smimekit token import`
# of alice's RSA-2048 and P-256 keys and certificates
# (tests/certs/mkcerts.sh), as PKCS#12 files DIR/alice-{rsa,ec}.p12 made
# here under the password in DIR/p12-password.

token_key_id() {
	if openssl rsa -pubin -in "$1" -noout 2>/dev/null; then
		openssl rsa -pubin -in "$1" -noout -modulus | cut -d= -f2 | basenc --base16 -d |
			openssl sha1 -r | cut -d' ' -f1
	else
		# A P-256 SubjectPublicKeyInfo ends in the 65-byte point.
		openssl pkey -pubin -in "$1" -outform DER | tail -c 65 | openssl sha1 -r | cut -d' ' -f1
	fi
}

token_alice() {
	local d=$1 name=$2 k line
	shift 2
	mkdir -p "$d/token"
	chmod 700 "$d/token"
	{
		printf '[token %s]\ntype = file\npath = %s\n' "$name" "$d/token"
		for line in "$@"; do printf '%s\n' "$line"; done
	} > "$d/smimekit.conf"
	export SMIMEKIT_CONF=$d/smimekit.conf
	"$SMIMEKIT" token init "$name" --so-pin-file "$d/so-pin" --pin-file "$d/pin" \
		> "$d/init.out" 2>&1 || fail "smimekit token init: $(cat "$d/init.out")"
	for k in rsa ec; do
		openssl pkcs12 -export -inkey "$C/alice-$k.key" -in "$C/alice-$k.pem" \
			-name "alice-$k" -passout "file:$d/p12-password" -out "$d/alice-$k.p12" ||
			fail "openssl pkcs12 -export alice-$k"
		"$SMIMEKIT" token import "$name" "$d/alice-$k.p12" --pin-file "$d/pin" \
			--p12-password-file "$d/p12-password" > "$d/import.out" 2>&1 ||
			fail "smimekit token import alice-$k: $(cat "$d/import.out")"
	done
}
