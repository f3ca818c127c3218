#!/bin/sh
# mkcerts.sh OUTDIR - makes the throwaway test PKI with the openssl command.
#
# Every certificate the tests use is made here, fresh, by stock OpenSSL:
#   ca.pem ca.key                 test root CA
#   other-ca.pem                  an unrelated CA (for "untrusted")
#   alice-rsa.{pem,key,p12}       RSA-2048, alice@example.org, usable
#   alice-ec.{pem,key,p12}        P-256, alice@example.org, usable
#   alice-rsa-new.{pem,key}       RSA-2048, usable, issued later than alice-rsa
#   alice-expired.pem             valid 2020-2021
#   alice-future.pem              valid from 2099
#   alice-wrong-eku.pem           EKU serverAuth only
#   alice-no-ke.pem               RSA, keyUsage digitalSignature only
#   alice-ec-no-ka.pem            EC, keyUsage digitalSignature only
#   alice-rsa1024.pem             RSA-1024
#   alice-k256.pem                EC on secp256k1
#   alice-ed25519.pem             Ed25519 key
#   alice-nosan.pem               address only in the subject DN
#   alice-upper.pem               rfc822Name alice@EXAMPLE.ORG
#   alice-untrusted.pem           issued by other-ca
#   bob.{pem,key}                 RSA-2048, bob@example.org
#   utf8.pem                      SmtpUTF8Mailbox jörg@example.org
# PKCS#12 files use the legacy PBE (gpgsm 2.2 and NSS import them), password "test".
set -eu

out=${1:?usage: mkcerts.sh OUTDIR}
mkdir -p "$out"
cd "$out"
export OPENSSL_CONF=/dev/null

cat > ca.cnf <<'CNF'
[ ca ]
default_ca = testca
[ testca ]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
serial = ./serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = optional
emailAddress = optional
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ rsa_user ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:alice@example.org
[ ec_user ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = emailProtection
subjectAltName = email:alice@example.org
[ wrong_eku ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = email:alice@example.org
[ no_ke ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = emailProtection
subjectAltName = email:alice@example.org
[ no_san ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
[ upper ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:alice@EXAMPLE.ORG
[ bob ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:bob@example.org
[ utf8 ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = @utf8_san
[ utf8_san ]
otherName.1 = 1.3.6.1.5.5.7.8.9;FORMAT:UTF8,UTF8:jörg@example.org
CNF

mkca() {	# mkca NAME CN
	mkdir -p "$1.d/newcerts"
	: > "$1.d/index.txt"
	echo 1000 > "$1.d/serial"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" \
		-subj "/CN=$2" -days 3650 -config ca.cnf -extensions v3_ca 2>/dev/null
}

newkey() {	# newkey FILE ALG
	case $2 in
	rsa1024) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$1" 2>/dev/null ;;
	rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null ;;
	ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null ;;
	k256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out "$1" 2>/dev/null ;;
	ed25519) openssl genpkey -algorithm ED25519 -out "$1" 2>/dev/null ;;
	esac
}

# issue NAME KEYFILE EXT SUBJECT START END [CA]
issue() {
	ca=${7:-ca}
	openssl req -new -key "$2" -subj "$4" -out "$1.csr" 2>/dev/null
	(cd "$ca.d" && openssl ca -batch -config ../ca.cnf -name testca \
		-cert "../$ca.pem" -keyfile "../$ca.key" -in "../$1.csr" -out "../$1.pem" \
		-extfile ../ca.cnf -extensions "$3" -startdate "$5" -enddate "$6" \
		-notext 2>/dev/null)
	rm -f "$1.csr"
}

utc() {	# utc DAYS-FROM-NOW -> YYYYMMDDHHMMSSZ
	date -u -d "@$(( $(date +%s) + $1 * 86400 ))" +%Y%m%d%H%M%SZ
}

mkca ca "smimekit test CA"
mkca other-ca "unrelated CA"

for k in alice-rsa alice-rsa-new bob alice-no-ke alice-expired alice-future \
	alice-wrong-eku alice-nosan alice-upper alice-untrusted utf8; do
	newkey $k.key rsa
done
newkey alice-ec.key ec
newkey alice-ec-no-ka.key ec
newkey alice-rsa1024.key rsa1024
newkey alice-k256.key k256
newkey alice-ed25519.key ed25519

subj="/CN=Alice Example"
issue alice-rsa alice-rsa.key rsa_user "$subj" "$(utc -10)" "$(utc 365)"
issue alice-rsa-new alice-rsa-new.key rsa_user "$subj" "$(utc -1)" "$(utc 365)"
issue alice-ec alice-ec.key ec_user "$subj" "$(utc -10)" "$(utc 365)"
issue alice-expired alice-expired.key rsa_user "$subj" 20200101000000Z 20210101000000Z
issue alice-future alice-future.key rsa_user "$subj" 20990101000000Z 21000101000000Z
issue alice-wrong-eku alice-wrong-eku.key wrong_eku "$subj" "$(utc -10)" "$(utc 365)"
issue alice-no-ke alice-no-ke.key no_ke "$subj" "$(utc -10)" "$(utc 365)"
issue alice-ec-no-ka alice-ec-no-ka.key no_ke "$subj" "$(utc -10)" "$(utc 365)"
issue alice-rsa1024 alice-rsa1024.key rsa_user "$subj" "$(utc -10)" "$(utc 365)"
issue alice-k256 alice-k256.key ec_user "$subj" "$(utc -10)" "$(utc 365)"
issue alice-ed25519 alice-ed25519.key ec_user "$subj" "$(utc -10)" "$(utc 365)"
issue alice-nosan alice-nosan.key no_san "$subj/emailAddress=alice@example.org" "$(utc -10)" "$(utc 365)"
issue alice-upper alice-upper.key upper "$subj" "$(utc -10)" "$(utc 365)"
issue alice-untrusted alice-untrusted.key rsa_user "$subj" "$(utc -10)" "$(utc 365)" other-ca
issue bob bob.key bob "/CN=Bob Example" "$(utc -10)" "$(utc 365)"
issue utf8 utf8.key utf8 "/CN=Joerg Example" "$(utc -10)" "$(utc 365)"

for k in alice-rsa alice-ec bob; do
	openssl pkcs12 -export -inkey $k.key -in $k.pem -out $k.p12 -passout pass:test \
		-keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 -name "$k"
done
chmod 600 ./*.key ./*.p12
