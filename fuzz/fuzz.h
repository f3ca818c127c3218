/* fuzz.h - helpers shared by the libFuzzer targets
 *
 * Every target checks invariants with FUZZ_CHECK(), which prints the
 * failed condition and aborts, so libFuzzer records the input as a crash.
 */
#ifndef SMK_FUZZ_H
#define SMK_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

/* The entry points libFuzzer calls. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) \
	((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))

static inline _Noreturn void
fuzz_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
	fflush(stderr);
	abort();
}

/* Reads control bytes off the front of the input. */
struct fuzz_input {
	const uint8_t *data;
	size_t size;
};

static inline uint8_t
fuzz_take_byte(struct fuzz_input *in)
{
	uint8_t b;

	if (in->size == 0)
		return 0;
	b = in->data[0];
	in->data++;
	in->size--;
	return b;
}

/* Chunk sizes for feeding a buffer in pieces: the sizes are used in turn,
 * over and over; a size of 0 is an empty piece.  With no sizes, or all
 * of them 0, the whole buffer is one piece. */
struct fuzz_split {
	uint8_t sizes[8];
	size_t nsizes;
	size_t next;
};

/* Takes a count byte (mod max_sizes + 1) and that many size bytes. */
static inline void
fuzz_split_init(struct fuzz_split *s, struct fuzz_input *in, size_t max_sizes)
{
	bool any = false;

	if (max_sizes > sizeof(s->sizes))
		max_sizes = sizeof(s->sizes);
	s->nsizes = fuzz_take_byte(in) % (max_sizes + 1);
	s->next = 0;
	for (size_t i = 0; i < s->nsizes; i++) {
		s->sizes[i] = fuzz_take_byte(in);
		any = any || s->sizes[i] != 0;
	}
	if (!any)
		s->nsizes = 0;
}

/* The size of the next piece when `left` bytes remain (left > 0). */
static inline size_t
fuzz_split_next(struct fuzz_split *s, size_t left)
{
	size_t n;

	if (s->nsizes == 0)
		return left;
	n = s->sizes[s->next++ % s->nsizes];
	return n < left ? n : left;
}

/* A malloc'd copy of data[0..len), so that reading past its end is caught
 * by AddressSanitizer even where the fuzzer's buffer goes on.  Never
 * returns NULL (malloc(0) may, so at least one byte is allocated, and the
 * bytes from len on are poisoned). */
static inline char *
fuzz_dup(const void *data, size_t len)
{
	char *p = malloc(len ? len : 1);

	if (p == NULL)
		abort();
	if (len > 0)
		memcpy(p, data, len);
	else
		ASAN_POISON_MEMORY_REGION(p, 1);
	return p;
}

static inline void
fuzz_free(char *p, size_t len)
{
	if (p != NULL && len == 0)
		ASAN_UNPOISON_MEMORY_REGION(p, 1);
	free(p);
}

/* Makes buf[avail..len) unreadable, to show a parser only the first
 * `avail` bytes of a buffer that grows in place.  fuzz_reveal() undoes
 * it.  No-ops without AddressSanitizer. */
static inline void
fuzz_hide_tail(const char *buf, size_t avail, size_t len)
{
	if (avail < len)
		ASAN_POISON_MEMORY_REGION(buf + avail, len - avail);
}

static inline void
fuzz_reveal(const char *buf, size_t len)
{
	if (len > 0)
		ASAN_UNPOISON_MEMORY_REGION(buf, len);
}

#endif
