#!/bin/bash
# cert-check.sh - `smimekit cert check`: one verdict per policy rule, exit
# status 0 only for a usable certificate.
. "${SMK_TEST_SRCDIR:?}/lib.sh"

S=$SMIMEKIT
A=alice@example.org

check() {	# check STATUS REGEX ADDRESS CERT [OPTIONS...]
	local want=$1 re=$2 addr=$3 cert=$4 s
	shift 4
	s=0
	"$S" cert check --for "$addr" "$@" "$cert" > "$T/out" 2>&1 || s=$?
	[ "$s" = "$want" ] || { cat "$T/out" >&2; fail "$cert for $addr: exit $s, want $want"; }
	has_line "$T/out" "$re" "$(basename "$cert") for $addr"
}

check 0 "usable for $A: RSA 2048-bit key, valid until" $A "$C/alice-rsa.pem"
check 0 "usable for $A: EC 256-bit key" $A "$C/alice-ec.pem"
check 0 "usable for $A: .*chains to a trust anchor" $A "$C/alice-rsa.pem" --trust "$C/ca.pem"
check 0 "usable for jörg@example.org" "jörg@example.org" "$C/utf8.pem"
check 0 "usable" "alice@EXAMPLE.org" "$C/alice-rsa.pem"
check 0 "usable" $A "$C/alice-upper.pem"
ok "usable certificates"

check 1 "not usable for $A: expired on 2021-01-01 00:00:00 UTC \[expired\]" $A "$C/alice-expired.pem"
check 1 "not valid before 2099-01-01 .*\[not-yet-valid\]" $A "$C/alice-future.pem"
check 1 "extendedKeyUsage lacks emailProtection \[extended-key-usage\]" $A "$C/alice-wrong-eku.pem"
check 1 "keyUsage lacks keyEncipherment .*\[key-usage\]" $A "$C/alice-no-ke.pem"
check 1 "keyUsage lacks keyAgreement .*\[key-usage\]" $A "$C/alice-ec-no-ka.pem"
check 1 "RSA key of 1024 bits is too weak \(minimum 2048\) \[weak-key\]" $A "$C/alice-rsa1024.pem"
check 1 "EC curve secp256k1 is not allowed .*\[key-type\]" $A "$C/alice-k256.pem"
check 1 "key type ED25519 cannot receive encrypted mail .*\[key-type\]" $A "$C/alice-ed25519.pem"
check 1 "no rfc822Name or SmtpUTF8Mailbox in subjectAltName .*\[address\]" $A "$C/alice-nosan.pem"
check 1 "subjectAltName is for bob@example.org, not $A \[address\]" $A "$C/bob.pem"
check 1 "subjectAltName is for alice@example.org, not Alice@example.org" "Alice@example.org" "$C/alice-rsa.pem"
check 1 "does not chain to a trust anchor: .*\[untrusted\]" $A "$C/alice-untrusted.pem" --trust "$C/ca.pem"
check 1 "not a mail address" "*" "$C/alice-rsa.pem"
check 1 "\[address\]" "*@example.org" "$C/alice-rsa.pem"
ok "every refusal names its reason"

# the chain in the certificate file is used for the trust check
cat "$C/alice-rsa.pem" "$C/ca.pem" > "$T/with-chain.pem"
check 0 "chains to a trust anchor" $A "$T/with-chain.pem" --trust "$C/ca.pem"
ok "chain from the certificate file"

check 2 "cannot open" $A "$T/nothing.pem"
check 2 "holds a private key but no certificate" $A "$C/alice-rsa.key"
check 2 "no such|cannot open" $A "$C/alice-rsa.pem" --trust "$T/no-ca.pem"
s=$(status "$S" cert check "$C/alice-rsa.pem" 2>/dev/null); [ "$s" = 2 ] || fail "missing --for: exit $s"
s=$(status "$S" cert bogus 2>/dev/null); [ "$s" = 2 ] || fail "unknown subcommand: exit $s"
"$S" cert check --help | grep -q -- '--trust' || fail "cert check --help"
ok "read and usage errors exit 2"
done_testing
