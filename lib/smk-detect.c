/* smk-detect.c - is this message already encrypted? */
#include "config.h"

#include "smk-detect.h"

#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

/* DER of the OIDs (without tag and length). */
static const unsigned char oid_enveloped_data[] = {	/* 1.2.840.113549.1.7.3 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03
};
static const unsigned char oid_auth_enveloped_data[] = {	/* 1.2.840.113549.1.9.16.1.23 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17
};

/* Decoded bytes needed to see the ContentInfo's contentType: SEQUENCE
 * header (at most 6) + OID header (2) + the longer OID (11). */
#define SNIFF_DER_NEED 19

enum smk_detect_verdict
smk_detect_headers(struct smk_detect *d, const struct smk_header_list *headers)
{
	const struct smk_header_field *f;
	struct smk_content_type ct;
	char smime_type[64];

	d->base64 = false;
	f = smk_header_find(headers, "content-type");
	if (f == NULL || !smk_content_type_parse(f->value, f->value_len, &ct))
		return SMK_DETECT_PLAIN;

	if (strcmp(ct.type, "multipart") == 0 && strcmp(ct.subtype, "encrypted") == 0)
		return SMK_DETECT_ENCRYPTED;

	if (strcmp(ct.type, "application") != 0 ||
	    (strcmp(ct.subtype, "pkcs7-mime") != 0 && strcmp(ct.subtype, "x-pkcs7-mime") != 0))
		return SMK_DETECT_PLAIN;

	if (smk_content_type_param(f->value, f->value_len, "smime-type", smime_type, sizeof(smime_type)) &&
	    strcasecmp(smime_type, "enveloped-data") != 0 &&
	    strcasecmp(smime_type, "authenveloped-data") != 0)
		return SMK_DETECT_PLAIN;	/* signed-data, certs-only, compressed-data */

	f = smk_header_find(headers, "content-transfer-encoding");
	if (f != NULL) {
		char cte[32];
		size_t i = 0, j = 0;

		/* The value is a single token, possibly with blanks around it. */
		while (i < f->value_len && j + 1 < sizeof(cte)) {
			char ch = f->value[i++];

			if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n')
				cte[j++] = ch;
		}
		cte[j] = '\0';
		d->base64 = strcasecmp(cte, "base64") == 0;
	}
	return SMK_DETECT_NEED_BODY;
}

bool
smk_detect_is_enveloped_der(const unsigned char *der, size_t len)
{
	size_t i = 1, olen;

	if (len < 2 || der[0] != 0x30)	/* SEQUENCE */
		return false;
	if (der[1] == 0x80 || der[1] < 0x80) {
		i = 2;	/* indefinite or short form */
	} else {
		size_t k = der[1] & 0x7f;

		if (k > 4)
			return false;
		i = 2 + k;
	}
	if (i + 2 > len || der[i] != 0x06)	/* OBJECT IDENTIFIER */
		return false;
	olen = der[i + 1];
	i += 2;
	if (i + olen > len)
		return false;
	return (olen == sizeof(oid_enveloped_data) &&
		memcmp(der + i, oid_enveloped_data, olen) == 0) ||
	       (olen == sizeof(oid_auth_enveloped_data) &&
		memcmp(der + i, oid_auth_enveloped_data, olen) == 0);
}

static bool
is_b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

enum smk_detect_verdict
smk_detect_body(const struct smk_detect *d, const char *body, size_t len, bool final)
{
	unsigned char der[32];
	size_t have = 0;

	/* Only the first SMK_DETECT_BODY_MAX bytes count, however many the
	 * caller has: else the verdict would depend on how the input was
	 * split into writes. */
	if (len > SMK_DETECT_BODY_MAX)
		len = SMK_DETECT_BODY_MAX;
	if (d->base64) {
		/* Decode the first 32 base64 characters (24 bytes). */
		unsigned char chars[33];
		size_t n = 0;

		for (size_t i = 0; i < len && n < 32; i++) {
			unsigned char c = (unsigned char)body[i];

			if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
				continue;
			if (!is_b64_char(c))
				return SMK_DETECT_PLAIN;
			chars[n++] = c;
		}
		if (n < 32 && !final && len < SMK_DETECT_BODY_MAX)
			return SMK_DETECT_NEED_BODY;
		n -= n % 4;
		chars[n] = '\0';
		if (n > 0) {
			int r = EVP_DecodeBlock(der, chars, (int)n);

			if (r < 0)
				return SMK_DETECT_PLAIN;
			have = (size_t)r;
		}
	} else {
		if (len < SNIFF_DER_NEED && !final)
			return SMK_DETECT_NEED_BODY;
		have = len < sizeof(der) ? len : sizeof(der);
		memcpy(der, body, have);
	}
	return smk_detect_is_enveloped_der(der, have) ? SMK_DETECT_ENCRYPTED : SMK_DETECT_PLAIN;
}

enum smk_detect_verdict
smk_detect_message(const char *data, size_t len, bool complete)
{
	struct smk_header_scanner sc;
	struct smk_header_list fields = { 0 };
	struct smk_detect d;
	enum smk_detect_verdict v;

	smk_header_scanner_init(&sc);
	if (!smk_header_scan(&sc, data, len, complete))
		return SMK_DETECT_NEED_BODY;
	if (smk_header_parse(&fields, data + sc.prefix_len, sc.fields_end - sc.prefix_len, NULL) < 0)
		return SMK_DETECT_PLAIN;	/* out of memory: encrypting is safe */
	v = smk_detect_headers(&d, &fields);
	smk_header_list_free(&fields);
	if (v == SMK_DETECT_NEED_BODY)
		v = smk_detect_body(&d, data + sc.body_start, len - sc.body_start, complete);
	return v;
}
