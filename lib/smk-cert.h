/* smk-cert.h - reading and describing certificates
 *
 * Certificates reach smimekit as files named by admins (PEM or DER,
 * sometimes with the chain, sometimes as PKCS#7 certs-only) and as
 * directory values.  Errors name the source and what was wrong with it.
 */
#ifndef SMK_CERT_H
#define SMK_CERT_H

#include <stddef.h>

#include <openssl/x509.h>

#include "smk-error.h"

/* Largest certificate file read, to refuse /dev/zero and mail spools. */
#define SMK_CERT_FILE_MAX (1024 * 1024)

/* Every certificate in data[0..len): PEM (CERTIFICATE, TRUSTED
 * CERTIFICATE and PKCS7 blocks), DER X.509 or DER PKCS#7 certs-only.
 * `what` names the source in error messages.  Returns NULL with err set
 * if there is none. */
STACK_OF(X509) *smk_cert_load_mem(const void *data, size_t len, const char *what,
				  struct smk_error *err);

STACK_OF(X509) *smk_cert_load_file(const char *path, struct smk_error *err);

void smk_cert_stack_free(STACK_OF(X509) *certs);

/* Upper-case hex serial number ("0A1B..."), or "?" */
void smk_cert_serial_hex(X509 *cert, char *buf, size_t len);

/* RFC 2253 subject, one line. */
void smk_cert_subject(X509 *cert, char *buf, size_t len);

/* "2026-11-29 07:51:33 UTC" */
void smk_asn1_time_str(const ASN1_TIME *t, char *buf, size_t len);

#endif
