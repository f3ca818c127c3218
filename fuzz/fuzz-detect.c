/* fuzz-detect.c - libFuzzer target for smk-detect.c
 *
 * Input: a message.  Its header block is classified with
 * smk_detect_headers(), and the start of its body with smk_detect_body()
 * in both modes (base64 and binary) as a stream would deliver it: growing
 * prefixes, then the end.  The input as a whole also goes to
 * smk_detect_is_enveloped_der(), and to OpenSSL's CMS parser for
 * comparison.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "fuzz.h"
#include "smk-detect.h"
#include "smk-header.h"

/* Bytes that decide smk_detect_is_enveloped_der(): a SEQUENCE header of
 * at most 6 bytes, the OID's tag and length, and the longer OID (11). */
#define DER_DECIDED 19

static bool
is_enveloped(const uint8_t *data, size_t len)
{
	char *copy = fuzz_dup(data, len);
	bool r = smk_detect_is_enveloped_der((const unsigned char *)copy, len);

	fuzz_free(copy, len);
	return r;
}

static void
check_enveloped_der(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	bool whole = is_enveloped(data, size);
	size_t upto = size < 2 * DER_DECIDED ? size : 2 * DER_DECIDED;
	CMS_ContentInfo *cms;

	/* Only a prefix counts: once decided, more bytes change nothing. */
	for (size_t len = 0; len <= upto; len++) {
		bool r = is_enveloped(data, len);

		FUZZ_CHECK(!r || whole);
		if (len >= DER_DECIDED)
			FUZZ_CHECK(r == whole);
	}

	/* What OpenSSL reads as DER (Auth)EnvelopedData, re-encoded to the
	 * same bytes, must be recognised. */
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)size);
	if (cms != NULL) {
		int nid = OBJ_obj2nid(CMS_get0_type(cms));
		unsigned char *der = NULL;
		int derlen = i2d_CMS_ContentInfo(cms, &der);

		if ((nid == NID_pkcs7_enveloped || nid == NID_id_smime_ct_authEnvelopedData) &&
		    derlen > 0 && (size_t)derlen <= size && memcmp(der, data, (size_t)derlen) == 0)
			FUZZ_CHECK(whole);
		OPENSSL_free(der);
		CMS_ContentInfo_free(cms);
	}
	ERR_clear_error();
}

static enum smk_detect_verdict
detect_body(const struct smk_detect *d, const char *body, size_t avail, size_t len, bool final)
{
	enum smk_detect_verdict v;

	fuzz_hide_tail(body, avail, len);
	v = smk_detect_body(d, body, avail, final);
	fuzz_reveal(body, len);
	return v;
}

/* The body's start as the envelope collects it: growing prefixes without
 * `final`, until a verdict, at most SMK_DETECT_BODY_MAX bytes. */
static void
check_body(bool base64, const char *body, size_t len)
{
	const struct smk_detect d = { .base64 = base64 };
	size_t capped = len < SMK_DETECT_BODY_MAX ? len : SMK_DETECT_BODY_MAX;
	enum smk_detect_verdict ref, v;
	size_t avail = 0;

	/* With all there is (or all that is ever looked at), a verdict. */
	ref = detect_body(&d, body, capped, len, true);
	FUZZ_CHECK(ref == SMK_DETECT_PLAIN || ref == SMK_DETECT_ENCRYPTED);

	/* Bytes after the first SMK_DETECT_BODY_MAX do not matter. */
	v = detect_body(&d, body, len, len, true);
	FUZZ_CHECK(v == ref);
	v = detect_body(&d, body, len, len, false);
	FUZZ_CHECK(v == ref || (v == SMK_DETECT_NEED_BODY && len < SMK_DETECT_BODY_MAX));

	/* Growing prefixes: one byte at a time at first, then doubling. */
	for (;;) {
		v = detect_body(&d, body, avail, len, false);
		if (avail >= SMK_DETECT_BODY_MAX)
			FUZZ_CHECK(v != SMK_DETECT_NEED_BODY);
		/* An early verdict is the verdict. */
		FUZZ_CHECK(v == SMK_DETECT_NEED_BODY || v == ref);
		/* `final` always gives one. */
		v = detect_body(&d, body, avail, len, true);
		FUZZ_CHECK(v == SMK_DETECT_PLAIN || v == SMK_DETECT_ENCRYPTED);
		if (avail == len)
			break;
		avail = avail < 64 ? avail + 1 : 2 * avail;
		if (avail > len)
			avail = len;
	}
}

/* smk_detect_headers() against the Content-Type it looked at.  (The body
 * is checked in both modes whatever the verdict.) */
static void
check_headers(const struct smk_header_list *list)
{
	const struct smk_header_field *f = smk_header_find(list, "content-type");
	struct smk_content_type ct;
	struct smk_detect d = { .base64 = true };	/* must be reset */
	enum smk_detect_verdict v;
	bool pkcs7;

	v = smk_detect_headers(&d, list);
	if (f == NULL || !smk_content_type_parse(f->value, f->value_len, &ct)) {
		FUZZ_CHECK(v == SMK_DETECT_PLAIN);
		return;
	}
	pkcs7 = strcmp(ct.type, "application") == 0 &&
		(strcmp(ct.subtype, "pkcs7-mime") == 0 || strcmp(ct.subtype, "x-pkcs7-mime") == 0);
	if (strcmp(ct.type, "multipart") == 0 && strcmp(ct.subtype, "encrypted") == 0)
		FUZZ_CHECK(v == SMK_DETECT_ENCRYPTED);
	else if (!pkcs7)
		FUZZ_CHECK(v == SMK_DETECT_PLAIN);
	else
		FUZZ_CHECK(v == SMK_DETECT_PLAIN || v == SMK_DETECT_NEED_BODY);
	if (v != SMK_DETECT_NEED_BODY)
		FUZZ_CHECK(!d.base64);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smk_header_scanner sc;
	struct smk_header_list list = { 0 };
	struct smk_error err;
	char *msg = fuzz_dup(data, size);
	char *body;
	size_t body_len;

	smk_header_scanner_init(&sc);
	FUZZ_CHECK(smk_header_scan(&sc, msg, size, true));
	FUZZ_CHECK(smk_header_parse(&list, msg + sc.prefix_len, sc.fields_end - sc.prefix_len,
				    &err) == 0);

	check_headers(&list);

	/* The body on its own, so reading past it is caught. */
	body_len = size - sc.body_start;
	body = fuzz_dup(msg + sc.body_start, body_len);
	check_body(false, body, body_len);
	check_body(true, body, body_len);
	fuzz_free(body, body_len);
	smk_header_list_free(&list);
	fuzz_free(msg, size);

	check_enveloped_der(data, size);
	return 0;
}
