/* smk-detect.h - is this message already encrypted?
 *
 * A message passes through the envelope unchanged when it is already
 * encrypted: S/MIME EnvelopedData or AuthEnvelopedData
 * (application/pkcs7-mime or the older application/x-pkcs7-mime), or
 * PGP/MIME (multipart/encrypted).  Labels can lie or be missing, so an
 * application/pkcs7-mime body is also looked at: only a body that really
 * starts with a CMS (Auth)EnvelopedData ContentInfo counts as encrypted.
 * Signed-only mail (multipart/signed, smime-type=signed-data) is plain.
 */
#ifndef SMK_DETECT_H
#define SMK_DETECT_H

#include <stdbool.h>
#include <stddef.h>

#include "smk-header.h"

enum smk_detect_verdict {
	SMK_DETECT_PLAIN,	/* to be encrypted */
	SMK_DETECT_ENCRYPTED,	/* pass through unchanged */
	SMK_DETECT_NEED_BODY,	/* the body must be looked at */
};

/* How much of the body smk_detect_body() may need at most. */
#define SMK_DETECT_BODY_MAX 4096

struct smk_detect {
	bool base64;	/* the body is base64 (else binary) */
};

enum smk_detect_verdict smk_detect_headers(struct smk_detect *d, const struct smk_header_list *headers);

/* body[0..len) is the start of the body.  Returns NEED_BODY only when
 * more would help and !final and len < SMK_DETECT_BODY_MAX. */
enum smk_detect_verdict smk_detect_body(const struct smk_detect *d, const char *body, size_t len, bool final);

/* The same decision from the start of a whole message, data[0..len)
 * (complete: that is all of it).  NEED_BODY means "give more". */
enum smk_detect_verdict smk_detect_message(const char *data, size_t len, bool complete);

/* Does der[0..len) start a CMS ContentInfo of type envelopedData or
 * authEnvelopedData?  Exposed for tests. */
bool smk_detect_is_enveloped_der(const unsigned char *der, size_t len);

#endif
