#!/bin/bash
# libctx.sh - smimekit.so alone: the stock openssl command with only the
# smimekit provider loaded (no default provider in the application's
# library context).  The key store decodes its files, checks the PIN and
# runs the private-key operations in the provider's own library context
# (smk_keystore_new_ex), so token keys still load and work: pkeyutl signs
# (ECDSA, RSA PKCS#1) and decrypts (OAEP-SHA-256) with a file token's keys,
# and decrypts with a directory token's escrowed key (PKCS#12 from slapd);
# the results are checked by openssl runs with the default provider.
# Before the key store had a library context of its own, the token showed
# nothing here (PBKDF2 failed: unsupported).
. "${SMK_TEST_SRCDIR:?}/lib.sh"
. "$SMK_TEST_SRCDIR/provider/provlib.sh"
need openssl setsid
prov_token
# only smimekit: what PROV_ARGS would say, without "-provider default"
PROV_ARGS=(-provider-path "$SMK_PROVIDER_DIR" -provider smimekit)

printf 'Signed by a token key, nothing else loaded.\n' | openssl dgst -sha256 -binary -out "$T/hash"

prov_ok "ECDSA with only smimekit" pkeyutl -sign -inkey "$PROV_EC_KEY" -in "$T/hash" -out "$T/ec.sig"
openssl pkeyutl -verify -pubin -inkey "$T/prov/ec.pub" -in "$T/hash" -sigfile "$T/ec.sig" > "$T/v" 2>&1 ||
	{ cat "$T/v" >&2; fail "the ECDSA signature does not verify"; }
ok "ECDSA signature with only the smimekit provider loaded verifies"

# RSA PKCS#1 v1.5 over the input as given: equal to the key file's
prov_ok "RSA with only smimekit" pkeyutl -sign -inkey "$PROV_RSA_KEY" -in "$T/hash" -out "$T/rsa.sig"
openssl pkeyutl -sign -inkey "$C/alice-rsa.key" -in "$T/hash" -out "$T/rsa-sw.sig" ||
	fail "software RSA signature"
same "$T/rsa-sw.sig" "$T/rsa.sig" "RSA PKCS#1 signature with only smimekit"
ok "RSA PKCS#1 signature with only the smimekit provider loaded equals the key file's"

head -c 32 /dev/urandom > "$T/secret"
openssl pkeyutl -encrypt -pubin -inkey "$T/prov/rsa.pub" -pkeyopt rsa_padding_mode:oaep \
	-pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in "$T/secret" -out "$T/ct" ||
	fail "software OAEP encryption"
prov_ok "OAEP decryption with only smimekit" pkeyutl -decrypt -inkey "$PROV_RSA_KEY" \
	-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 \
	-in "$T/ct" -out "$T/pt"
same "$T/secret" "$T/pt" "OAEP decryption with only smimekit"
ok "OAEP-SHA-256 decryption with only the smimekit provider loaded"

# a wrong PIN is still refused (the PIN check ran, in the provider's context)
prov_fails "wrong PIN, only smimekit" pkeyutl -sign \
	-inkey "pkcs11:token=$PROV_TOKEN;object=$PROV_EC_LABEL;type=private;pin-value=not-the-pin" \
	-in "$T/hash" -out "$T/bad.sig"
prov_err_names "wrong PIN, only smimekit" "PIN incorrect|incorrect PIN|wrong PIN"
ok "a wrong PIN is refused with only the smimekit provider loaded"

# a directory token: the escrowed PKCS#12 and the certificates come from slapd
prov_cloud_token
rm -f "$T/pt"
prov_ok "directory token, only smimekit" pkeyutl -decrypt \
	-inkey "pkcs11:token=alice@example.org;id=$(prov_pct "$PROV_RSA_ID");type=private;pin-source=file:$T/alice.pw" \
	-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 \
	-in "$T/ct" -out "$T/pt"
same "$T/secret" "$T/pt" "directory token OAEP decryption with only smimekit"
ok "directory token: the escrowed key decrypts with only the smimekit provider loaded"
done_testing
