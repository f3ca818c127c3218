#ifndef SMIMEKIT_ISTREAM_H
#define SMIMEKIT_ISTREAM_H

/* smimekit-istream.h - reading a message as an S/MIME message */

#include "smk-envelope.h"

/* An istream giving input encrypted per opts (the recipients are
 * referenced, not kept).  When the whole message went through, one info
 * line goes to event: "encrypted to <what>", or that the message was
 * already encrypted and stays as it is.  NULL with *error_r if the
 * options are refused. */
struct istream *smimekit_istream_create(struct istream *input,
					const struct smk_envelope_opts *opts,
					struct event *event, const char *what,
					const char **error_r);

#endif
