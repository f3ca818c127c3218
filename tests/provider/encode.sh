#!/bin/bash
# encode.sh - smimekit.so's encoders (provider/encoder.c) through the
# stock openssl command: `storeutl -keys -text` and `pkey -text` describe a
# token key (token, label, id, a pkcs11: URI that names it) and print its
# public key, the same modulus as `openssl x509 -modulus` and the same EC
# point as the certificate, and no private part; `pkey -text_pub` prints
# exactly what it prints for the certificate's public key; `pkey -pubout`
# writes the certificate's public key (PEM and DER); writing the private
# key (PEM, DER, encrypted, `openssl rsa`) fails with an error saying it
# cannot leave the token, and no key is written; software keys print and
# write as without the provider, in either activation order, and keys
# generated with smimekit first are written as the default provider would.
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
need openssl setsid basenc

prov_token
d=$T/prov
tok="pkcs11:token=$PROV_TOKEN"
pv="pin-value=$PROV_PIN"
key_rsa="$tok;type=private;object=$PROV_RSA_LABEL?$pv"
key_ec="$tok;type=private;object=$PROV_EC_LABEL?$pv"

# block FILE LABEL: the lines storeutl printed for the key labelled LABEL
# (from its "N: Pkey" line to the next one).
block() {
	awk -v want="label: $2" '
		/^[0-9]+: / { if (keep) exit; n = NR; buf = "" }
		{ buf = buf $0 "\n" }
		$0 == want { keep = 1 }
		END { if (keep) printf "%s", buf }
	' "$1"
}
# hexblock FILE HEADING: the colon-separated hex lines after HEADING
# ("Modulus:", "pub:") as one upper-case hex string, leading 00 dropped.
hexblock() {
	awk -v h="$2" '
		$0 == h { on = 1; next }
		on && /^    [0-9a-f:]+$/ { gsub(/[ :]/, ""); s = s $0; next }
		on { exit }
		END { print toupper(s) }
	' "$1" | sed -e 's/^00//'
}

# ---- storeutl -keys -text: both keys described, public parts right
prov_ok "storeutl -keys -text" storeutl -keys -text -noout "$tok?$pv"
has_line "$T/out" '^Total found: 2$' "storeutl -keys -text: two keys"
cp "$T/out" "$T/storeutl.txt"
for k in rsa ec; do
	label=alice-$k
	block "$T/storeutl.txt" "$label" > "$T/$k.txt"
	[ -s "$T/$k.txt" ] || { cat "$T/storeutl.txt" >&2; fail "storeutl -text: no block for $label"; }
	has_line "$T/$k.txt" "^Private-Key: .*held in smimekit token 'alice'" "$k: held in the token"
	has_line "$T/$k.txt" '^token: alice$' "$k: token name"
	id_var=PROV_${k^^}_ID
	has_line "$T/$k.txt" "^id: ${!id_var}\$" "$k: the key's id in hex"
	has_line "$T/$k.txt" "^uri: pkcs11:token=alice;.*object=$label;type=private\$" "$k: its URI"
	lacks "$T/$k.txt" '[Pp]rivate[A-Za-z]*:$|^priv:|prime1|coefficient|Exponent1' "$k: private key material"
done
has_line "$T/rsa.txt" '^Private-Key: \(2048 bit RSA' "rsa: type and size"
has_line "$T/ec.txt" '^Private-Key: \(256 bit EC prime256v1' "ec: type, size, curve"
ok "storeutl -keys -text: each key says it is held in token alice, with its label, id (hex) and URI, and shows no private part"

want=$(openssl x509 -in "$C/alice-rsa.pem" -noout -modulus | cut -d= -f2)
got=$(hexblock "$T/rsa.txt" "Modulus:")
[ -n "$want" ] && [ "$got" = "$want" ] || fail "storeutl -text modulus: '$got', want '$want'"
has_line "$T/rsa.txt" '^Exponent: 65537 \(0x10001\)$' "rsa: exponent"
want=$(openssl x509 -in "$C/alice-ec.pem" -noout -pubkey | openssl pkey -pubin -outform DER |
	tail -c 65 | basenc --base16 -w0)
got=$(hexblock "$T/ec.txt" "pub:")
[ ${#want} = 130 ] && [ "$got" = "$want" ] || fail "storeutl -text EC point: '$got', want '$want'"
has_line "$T/ec.txt" '^NIST CURVE: P-256$' "ec: curve"
ok "storeutl -keys -text: the modulus is x509 -modulus's, the EC point and curve the certificate's"

# The URI it prints names the key: signing with it works.
uri=$(sed -n 's/^uri: //p' "$T/rsa.txt")
printf 'named by the printed URI\n' | openssl dgst -sha256 -binary > "$T/hash"
prov_ok "sign with the printed URI" pkeyutl -sign -inkey "$uri?$pv" -in "$T/hash" -out "$T/sig"
openssl pkeyutl -verify -pubin -inkey "$d/rsa.pub" -in "$T/hash" -sigfile "$T/sig" > /dev/null ||
	fail "the printed URI: the signature does not verify with alice's RSA key"
ok "the printed uri: line names the key (pkeyutl -sign with it verifies)"

# ---- pkey -text, -text_pub
for k in rsa ec; do
	key_var=key_$k
	prov_ok "pkey -text $k" pkey -in "${!key_var}" -text -noout
	has_line "$T/out" "^Private-Key: .*held in smimekit token 'alice'" "pkey -text $k"
	has_line "$T/out" "^label: alice-$k\$" "pkey -text $k: label"
	prov_ok "pkey -text_pub $k" pkey -in "${!key_var}" -text_pub -noout
	openssl pkey -pubin -in "$d/$k.pub" -text_pub -noout > "$T/want.txt"
	same "$T/want.txt" "$T/out" "pkey -text_pub ($k) against the certificate's key"
done
ok "pkey -text describes the token key; pkey -text_pub prints exactly what it prints for the certificate's key (RSA, EC)"

# ---- the public key out
for k in rsa ec; do
	key_var=key_$k
	prov_ok "pkey -pubout $k" pkey -in "${!key_var}" -pubout
	same "$d/$k.pub" "$T/out" "pkey -pubout ($k)"
	prov_ok "pkey -pubout DER $k" pkey -in "${!key_var}" -pubout -outform DER -out "$T/pub.der"
	openssl pkey -pubin -in "$d/$k.pub" -outform DER -out "$T/want.der"
	same "$T/want.der" "$T/pub.der" "pkey -pubout -outform DER ($k)"
done
prov_ok "rsa -RSAPublicKey_out" rsa -in "$key_rsa" -RSAPublicKey_out
openssl rsa -pubin -in "$d/rsa.pub" -RSAPublicKey_out > "$T/want.pem" 2> /dev/null
same "$T/want.pem" "$T/out" "rsa -RSAPublicKey_out"
# openssl ec sets the point format and include-public before writing
prov_ok "ec -pubout" ec -in "$key_ec" -pubout
same "$d/ec.pub" "$T/out" "ec -pubout"
ok "pkey -pubout (PEM, DER), rsa -RSAPublicKey_out, ec -pubout: the certificates' public keys"

# ---- the private key never comes out
# refused WHAT CMD ARGS...: fails, names the cause, writes no key.
refused() {
	local what=$1
	shift
	rm -f "$T/key.out"
	prov_fails "$what" "$@"
	prov_err_names "$what" "smimekit.*cannot be written as (PEM|DER).*never leaves the token"
	lacks "$T/out" 'BEGIN' "$what: a PEM block on stdout"
	[ ! -s "$T/key.out" ] || fail "$what: something was written to the output file"
}
refused "pkey, PEM" pkey -in "$key_rsa"
[ ! -s "$T/out" ] || fail "pkey, PEM: output on stdout"
refused "pkey EC, PEM" pkey -in "$key_ec"
refused "pkey -outform DER" pkey -in "$key_rsa" -outform DER -out "$T/key.out"
refused "pkey, encrypted" pkey -in "$key_ec" -aes256 -passout pass:secret-pass -out "$T/key.out"
refused "openssl rsa" rsa -in "$key_rsa" -out "$T/key.out"
refused "pkey -text without -noout" pkey -in "$key_rsa" -text
ok "the private key as PEM, DER, encrypted PEM, through openssl rsa: a non-zero exit, an error saying it never leaves the token, no key written"

# storeutl without -noout still lists the keys (the PEM it would add is refused)
prov_ok "storeutl -keys" storeutl -keys "$tok?$pv"
has_line "$T/out" '^Total found: 2$' "storeutl -keys"
lacks "$T/out" 'PRIVATE KEY' "storeutl -keys: a private key PEM"
ok "storeutl -keys still lists both keys, without any private key PEM"

# ---- software keys: as without the provider, either activation order
for k in rsa ec; do
	openssl pkey -in "$C/alice-$k.key" -text -noout > "$T/want.txt"
	openssl pkey -in "$C/alice-$k.key" > "$T/want.pem"
	prov_ok "software key -text $k" pkey -in "$C/alice-$k.key" -text -noout
	same "$T/want.txt" "$T/out" "software $k key, pkey -text"
	prov_ok "software key PEM $k" pkey -in "$C/alice-$k.key"
	same "$T/want.pem" "$T/out" "software $k key, pkey"
	"${PROV_ENV[@]}" openssl pkey -provider-path "$SMK_PROVIDER_DIR" -provider default \
		-provider smimekit -in "$C/alice-$k.key" -text -noout > "$T/out" 2> "$T/err" ||
		{ cat "$T/err" >&2; fail "software $k key, default first"; }
	same "$T/want.txt" "$T/out" "software $k key, pkey -text, default first"
done
ok "software keys print and write exactly as without the provider (both activation orders)"

# Keys generated with smimekit activated first are smimekit's software
# keys: their PEM (encrypted: cipher and passphrase passed on), DER and
# text are the default provider's, readable without the provider.
first=(-provider-path "$SMK_PROVIDER_DIR" -provider smimekit -provider default)
for alg in RSA EC; do
	opt=rsa_keygen_bits:2048
	[ "$alg" = EC ] && opt=ec_paramgen_curve:P-256
	rm -f "$T/gen.pem" "$T/gen.txt"
	"${PROV_ENV[@]}" openssl genpkey "${first[@]}" -algorithm "$alg" -pkeyopt "$opt" \
		-aes-256-cbc -pass pass:gen-secret -out "$T/gen.pem" 2> "$T/err" ||
		{ cat "$T/err" >&2; fail "genpkey $alg, smimekit first"; }
	has_line "$T/gen.pem" '^-----BEGIN ENCRYPTED PRIVATE KEY-----$' "genpkey $alg: encrypted PKCS#8"
	"${PROV_ENV[@]}" openssl pkey "${first[@]}" -in "$T/gen.pem" -passin pass:gen-secret \
		-text -noout > "$T/gen.txt" 2> "$T/err" || { cat "$T/err" >&2; fail "pkey -text $alg"; }
	openssl pkey -in "$T/gen.pem" -passin pass:gen-secret -text -noout > "$T/want.txt" ||
		fail "genpkey $alg, smimekit first: the encrypted PEM does not open with its passphrase"
	same "$T/want.txt" "$T/gen.txt" "generated $alg key, pkey -text with smimekit first"
	"${PROV_ENV[@]}" openssl genpkey "${first[@]}" -algorithm "$alg" -pkeyopt "$opt" \
		-outform DER -out "$T/gen.der" 2> "$T/err" || { cat "$T/err" >&2; fail "genpkey DER $alg"; }
	openssl pkey -inform DER -in "$T/gen.der" -check -noout > /dev/null ||
		fail "genpkey $alg DER, smimekit first: not a valid key"
done
ok "keys generated with smimekit first: encrypted PEM, DER and text as the default provider writes them"

done_testing
