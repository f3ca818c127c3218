/* smimekit-istream.c - an istream that reads a message and returns it as
 * an S/MIME message
 *
 * The save path reads the message through this stream, so maildir's S=
 * size, the index and the cache all see only the S/MIME message.  Input
 * goes to lib/'s envelope as it is read; the envelope's output is kept in
 * a buffer until the reader takes it.  Memory stays bounded: at most one
 * step of input (plus its base64 growth) is buffered.  A parent that
 * has no data yet (an IMAP literal still arriving) makes read() return 0,
 * as filter streams must.
 */
#include "lib.h"
#include "buffer.h"
#include "istream-private.h"

#include <openssl/crypto.h>

#include "smimekit-istream.h"

/* Input handed to the envelope per step.  The output of one step (a third
 * larger, in base64) then fits the buffer it starts with: larger steps
 * would grow the buffers past malloc's mmap threshold (128 kB), and every
 * message would pay for fresh zeroed pages. */
#define SMIMEKIT_ISTREAM_STEP (16 * 1024)

struct smimekit_istream {
	struct istream_private istream;
	struct smk_envelope *env;
	buffer_t *out;		/* envelope output not yet returned */
	size_t out_pos;
	bool input_done;	/* parent at EOF and the envelope finished */
	struct event *event;
	char *what;
};

static int
out_append(void *ctx, const void *data, size_t len)
{
	struct smimekit_istream *s = ctx;

	buffer_append(s->out, data, len);
	return 0;
}

static ssize_t
fail(struct smimekit_istream *s, int stream_errno, const char *error)
{
	io_stream_set_error(&s->istream.iostream, "%s", error);
	s->istream.istream.stream_errno = stream_errno;
	return -1;
}

/* Hands buffered output to the reader; returns bytes given or 0 if the
 * buffer is empty, -2 if the reader's buffer is full. */
static ssize_t
give_output(struct smimekit_istream *s)
{
	struct istream_private *stream = &s->istream;
	size_t avail, n = s->out->used - s->out_pos;

	if (n == 0)
		return 0;
	if (!i_stream_try_alloc(stream, n, &avail))
		return -2;
	if (n > avail)
		n = avail;
	memcpy(stream->w_buffer + stream->pos, CONST_PTR_OFFSET(s->out->data, s->out_pos), n);
	stream->pos += n;
	s->out_pos += n;
	if (s->out_pos == s->out->used) {
		buffer_set_used_size(s->out, 0);
		s->out_pos = 0;
	}
	return (ssize_t)n;
}

static ssize_t
smimekit_istream_read(struct istream_private *stream)
{
	struct smimekit_istream *s = container_of(stream, struct smimekit_istream, istream);
	const unsigned char *data;
	size_t size;
	ssize_t ret;

	for (;;) {
		ret = give_output(s);
		if (ret != 0)
			return ret;
		if (s->input_done) {
			stream->istream.eof = TRUE;
			return -1;
		}

		ret = i_stream_read_more_memarea(stream->parent, &data, &size);
		if (ret == 0)
			return 0;	/* non-blocking parent: no data yet */
		if (ret < 0) {
			if (stream->parent->stream_errno != 0) {
				return fail(s, stream->parent->stream_errno,
					    i_stream_get_error(stream->parent));
			}
			/* end of the message */
			if (smk_envelope_finish(s->env) < 0)
				return fail(s, EIO, smk_envelope_error(s->env)->msg);
			s->input_done = TRUE;
			if (smk_envelope_outcome(s->env) == SMK_ENVELOPE_PASSTHROUGH)
				e_info(s->event, "smimekit: already encrypted, stored unchanged");
			else
				e_info(s->event, "smimekit: encrypted to %s", s->what);
			continue;
		}
		if (size > SMIMEKIT_ISTREAM_STEP)
			size = SMIMEKIT_ISTREAM_STEP;
		if (smk_envelope_write(s->env, data, size) < 0)
			return fail(s, EIO, smk_envelope_error(s->env)->msg);
		i_stream_skip(stream->parent, size);
	}
}

static void
smimekit_istream_close(struct iostream_private *stream, bool close_parent)
{
	struct smimekit_istream *s =
		container_of(stream, struct smimekit_istream, istream.iostream);

	if (close_parent)
		i_stream_close(s->istream.parent);
}

static void
smimekit_istream_destroy(struct iostream_private *stream)
{
	struct smimekit_istream *s =
		container_of(stream, struct smimekit_istream, istream.iostream);

	smk_envelope_free(s->env);
	if (s->out != NULL) {
		/* it held ciphertext, but also outer headers: wipe anyway */
		OPENSSL_cleanse(buffer_get_modifiable_data(s->out, NULL), s->out->used);
		buffer_free(&s->out);
	}
	event_unref(&s->event);
	i_free(s->what);
	i_stream_free_buffer(&s->istream);
	i_stream_unref(&s->istream.parent);
}

struct istream *
smimekit_istream_create(struct istream *input, const struct smk_envelope_opts *opts,
			struct event *event, const char *what, const char **error_r)
{
	struct smimekit_istream *s = i_new(struct smimekit_istream, 1);
	struct smk_error err;

	s->env = smk_envelope_new(opts, out_append, s, &err);
	if (s->env == NULL) {
		*error_r = t_strdup(err.msg);
		i_free(s);
		return NULL;
	}
	s->out = buffer_create_dynamic(default_pool, SMIMEKIT_ISTREAM_STEP * 2);
	s->event = event;
	event_ref(event);
	s->what = i_strdup(what);
	s->istream.max_buffer_size = input->real_stream->max_buffer_size;
	s->istream.read = smimekit_istream_read;
	s->istream.iostream.close = smimekit_istream_close;
	s->istream.iostream.destroy = smimekit_istream_destroy;
	s->istream.istream.readable_fd = FALSE;
	s->istream.istream.blocking = input->blocking;
	s->istream.istream.seekable = FALSE;
	return i_stream_create(&s->istream, input, -1, 0);
}
