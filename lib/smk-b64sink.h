/* smk-b64sink.h - a BIO sink that base64-encodes into MIME lines
 *
 * The last BIO of the envelope chain: CMS DER goes in, 76-character
 * base64 lines ended by the chosen line break come out to a callback in
 * chunks of a few kilobytes.
 */
#ifndef SMK_B64SINK_H
#define SMK_B64SINK_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/bio.h>

#include "smk-types.h"

BIO *smk_b64_sink_new(smk_write_fn *write, void *ctx, const char *eol);

/* Encodes the last partial group, ends the last line and hands out all
 * that is buffered.  Returns 0, or -1 if the callback failed. */
int smk_b64_sink_finish(BIO *sink);

/* Did the callback ever fail? */
bool smk_b64_sink_failed(BIO *sink);

#endif
