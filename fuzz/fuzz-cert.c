/* fuzz-cert.c - libFuzzer target for smk_cert_load_mem()
 *
 * Input: the contents of a certificate file (PEM, DER X.509 or PKCS#7).
 * Whatever is loaded is also described the way the command does.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "smk-cert.h"

static void
describe(X509 *cert)
{
	char buf[512];

	smk_cert_serial_hex(cert, buf, sizeof(buf));
	FUZZ_CHECK(memchr(buf, '\0', sizeof(buf)) != NULL && buf[0] != '\0');
	smk_cert_subject(cert, buf, sizeof(buf));
	FUZZ_CHECK(memchr(buf, '\0', sizeof(buf)) != NULL);
	smk_asn1_time_str(X509_get0_notBefore(cert), buf, sizeof(buf));
	FUZZ_CHECK(buf[0] != '\0');
	smk_asn1_time_str(X509_get0_notAfter(cert), buf, sizeof(buf));
	FUZZ_CHECK(buf[0] != '\0');
	/* A short buffer truncates, never overflows. */
	smk_cert_subject(cert, buf, 4);
	FUZZ_CHECK(strlen(buf) < 4);
	(void)X509_get0_pubkey(cert);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = fuzz_dup(data, size);
	struct smk_error err;
	STACK_OF(X509) *certs;

	smk_error_clear(&err);
	certs = smk_cert_load_mem(copy, size, "fuzz input", &err);
	if (certs == NULL) {
		FUZZ_CHECK(err.code != SMK_OK);
		FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL && err.msg[0] != '\0');
	} else {
		FUZZ_CHECK(err.code == SMK_OK);
		FUZZ_CHECK(sk_X509_num(certs) > 0);
		for (int i = 0; i < sk_X509_num(certs); i++) {
			X509 *cert = sk_X509_value(certs, i);

			FUZZ_CHECK(cert != NULL);
			describe(cert);
		}
		smk_cert_stack_free(certs);
	}
	ERR_clear_error();
	fuzz_free(copy, size);
	return 0;
}
