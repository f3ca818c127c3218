/* lmtp-deliver.c - an LMTP load client: deliveries per second
 *
 * Delivers one synthetic message of --size bytes over and over to an LMTP
 * server on 127.0.0.1 (RFC 2033, plain TCP), one recipient a transaction,
 * the recipients given with --to taken in turn, and reports how many
 * messages per second the server accepted.  With --clients C it forks C
 * children, each with its own connection and its share of the work; the
 * parent adds them up.
 *
 * Every connection: the greeting (220), LHLO once (250), then per message
 * MAIL FROM (250), RCPT TO (250), DATA (354), the message dot-stuffed and
 * ".", one reply (250) -- sequential transactions, no pipelining, no RSET
 * (a transaction ends with the reply to the final dot) -- and QUIT (221)
 * at the end.  Any other reply ends the run: the command and the server's
 * reply text go to standard error and the exit status is 1.  A delivery
 * counts only once the server has answered 250 to its final dot, that is
 * once it is stored.
 *
 * The message: fixed header fields (a Message-ID unique per message, of
 * fixed width, so every message has the same size), an empty line, then
 * text lines of 76 characters from the base64 alphabet (pseudo-random,
 * the same every run), CRLF line ends, the last one shorter (or one
 * longer) to give exactly --size bytes.  Every 64th line starts with "." and one line is
 * "." alone, so dot-stuffing is exercised; --size is the size before
 * stuffing (what the server stores, before its own trace fields).
 *
 * Timing: each connection first delivers --warmup messages (default 3;
 * the server's LMTP process and the mailboxes get going), then all
 * children wait for the parent to start them at once.  They deliver for at
 * least --min-time seconds (default 3: the first message to finish after
 * the deadline is the last one), or --count messages in all, shared out.
 * The time is from that common start until the last child is done
 * (CLOCK_MONOTONIC, which all processes share).  The result is one line
 * on standard output:
 *
 *   msgs=1234 warmup=12 seconds=3.012 rate=409.7 mbps=4.097 clients=4 size=10000
 *
 * msgs: timed deliveries in all; warmup: untimed ones before them; rate:
 * msgs/seconds; mbps: rate times size in MB/s (1 MB = 10^6 bytes).
 *
 * Usage: bench/lmtp-deliver --port P --to ADDR [--to ADDR...] [--size BYTES]
 *                           [--min-time SECONDS | --count N] [--clients C]
 *                           [--warmup N] [--from ADDR]
 *        bench/lmtp-deliver --size BYTES --write-message FILE
 *
 * --write-message writes the message as delivered (unstuffed, its
 * Message-ID a dummy) to FILE and connects nowhere: to compare with what was
 * stored.  bench/delivery.sh runs this against throwaway Dovecot servers.
 * A benchmark, not a test: `make check` does not run it.
 */
#define _DEFAULT_SOURCE		/* sockets and friends also under plain -std=c11 */
#include "config.h"

#include "bench-util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "lmtp-deliver"

#define LINE_CHARS 76			/* text characters of a body line */
#define DOT_EVERY 64			/* every 64th body line starts with "." */
#define DEFAULT_SIZE 10000
#define DEFAULT_MIN_TIME 3.0
#define DEFAULT_WARMUP 3
#define MAX_SIZE (1024L * 1024 * 1024)
#define MAX_CLIENTS 256
#define MAX_RCPTS 1024
#define REPLY_MAX 1024			/* reply text kept for error messages */
#define IO_TIMEOUT 120			/* seconds without progress: an error */
#define MB 1e6

/* ---- the message ------------------------------------------------------ */

/* The header; only the Message-ID changes, always with the same width. */
#define HEADER_FMT \
	"From: Benchmark Sender <sender@example.org>\r\n" \
	"To: Benchmark Recipient <recipient@example.org>\r\n" \
	"Subject: smimekit delivery benchmark\r\n" \
	"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n" \
	"Message-ID: <%010lu.%010lu@lmtp-deliver.example.org>\r\n" \
	"MIME-Version: 1.0\r\n" \
	"Content-Type: text/plain; charset=us-ascii\r\n" \
	"Content-Transfer-Encoding: 7bit\r\n" \
	"\r\n"
#define HEADER_BUF 512

struct message {
	size_t size;		/* header + body, unstuffed */
	size_t header_len;	/* the same for every Message-ID */
	char *body;		/* dot-stuffed body, then ".\r\n" */
	size_t body_len;	/* all of it, the final dot included */
	char *plain_body;	/* the body unstuffed (--write-message) */
	size_t plain_body_len;
};

static size_t
header_format(char *buf, size_t len, unsigned long id, unsigned long seq)
{
	int n = snprintf(buf, len, HEADER_FMT, id % 10000000000UL, seq % 10000000000UL);

	return n < 0 || (size_t)n >= len ? 0 : (size_t)n;
}


/* Appends src to dst with SMTP dot-stuffing (RFC 5321 4.5.2): a line that
 * starts with "." gets another in front.  src holds whole CRLF lines;
 * returns the bytes written (dst has room for 2 * len). */
static size_t
dot_stuff(char *dst, const char *src, size_t len)
{
	size_t out = 0;
	bool line_start = true;

	for (size_t i = 0; i < len; i++) {
		if (line_start && src[i] == '.')
			dst[out++] = '.';
		dst[out++] = src[i];
		line_start = src[i] == '\n';
	}
	return out;
}

/* The body for a message of size bytes: 0, or -1 (too small, no memory). */
static int
message_build(struct message *m, size_t size)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char header[HEADER_BUF];
	uint32_t seed = 0x5eed1e55;
	size_t body_plain, pos = 0, line = 0;

	memset(m, 0, sizeof(*m));
	m->header_len = header_format(header, sizeof(header), 0, 0);
	/* At least one line of text after the header. */
	if (m->header_len == 0 || size < m->header_len + 3) {
		fprintf(stderr, PROG ": --size %zu: at least %zu bytes\n", size, m->header_len + 3);
		return -1;
	}
	m->size = size;
	body_plain = size - m->header_len;
	m->plain_body = malloc(body_plain);
	if (m->plain_body == NULL)
		goto nomem;
	/* Invariant: what is left is 0 or at least 2 bytes (a CRLF). */
	while (pos < body_plain) {
		size_t left = body_plain - pos, chars;

		if (line == 7 && left >= 3 && left - 3 != 1) {
			chars = 1;	/* "." alone: ".." on the wire */
		} else {
			chars = left - 2 > LINE_CHARS ? LINE_CHARS : left - 2;
			if (left - 2 - chars == 1)
				chars++;	/* no 1-byte rest: it holds no CRLF */
		}
		for (size_t i = 0; i < chars; i++)
			m->plain_body[pos + i] = alphabet[bench_xorshift32(&seed) % 64];
		if (chars > 0 && (line == 7 || line % DOT_EVERY == DOT_EVERY - 1))
			m->plain_body[pos] = '.';
		m->plain_body[pos + chars] = '\r';
		m->plain_body[pos + chars + 1] = '\n';
		pos += chars + 2;
		line++;
	}
	m->plain_body_len = body_plain;
	m->body = malloc(2 * body_plain + 3);
	if (m->body == NULL)
		goto nomem;
	m->body_len = dot_stuff(m->body, m->plain_body, body_plain);
	memcpy(m->body + m->body_len, ".\r\n", 3);
	m->body_len += 3;
	return 0;
nomem:
	fputs(PROG ": out of memory\n", stderr);
	free(m->plain_body);
	return -1;
}

static void
message_free(struct message *m)
{
	free(m->body);
	free(m->plain_body);
}

/* The first message as delivered, unstuffed, into path. */
static int
message_write(const struct message *m, const char *path)
{
	char header[HEADER_BUF];
	size_t hlen = header_format(header, sizeof(header), 0, 0);
	FILE *f = fopen(path, "wb");

	if (f == NULL) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fwrite(header, 1, hlen, f) != hlen ||
	    fwrite(m->plain_body, 1, m->plain_body_len, f) != m->plain_body_len) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		fclose(f);
		return -1;
	}
	if (fclose(f) != 0) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- the connection --------------------------------------------------- */

struct conn {
	int fd;
	int client;		/* 0..C-1, for messages */
	size_t start, end;	/* unread bytes in buf */
	char buf[8192];
};


static int
conn_open(struct conn *c, int port)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
	} addr = { .in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) } };
	struct timeval tv = { .tv_sec = IO_TIMEOUT };
	int one = 1;

	addr.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->start = c->end = 0;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0) {
		fprintf(stderr, PROG ": client %d: socket: %s\n", c->client, strerror(errno));
		return -1;
	}
	/* Commands are small writes each awaiting a reply: no Nagle delay. */
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		fprintf(stderr, PROG ": client %d: setsockopt: %s\n", c->client, strerror(errno));
		return -1;
	}
	if (connect(c->fd, &addr.sa, sizeof(addr.in)) < 0) {
		fprintf(stderr, PROG ": client %d: connect to 127.0.0.1:%d: %s\n", c->client, port,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* Sends all of iov[0..n-1] (the array is consumed). */
static int
conn_send(struct conn *c, struct iovec *iov, int n, const char *what)
{
	while (n > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, PROG ": client %d: sending %s: %s\n", c->client, what,
				errno == EAGAIN ? "timed out" : strerror(errno));
			return -1;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int
conn_send_str(struct conn *c, const char *s, const char *what)
{
	struct iovec iov = { .iov_base = (void *)s, .iov_len = strlen(s) };

	return conn_send(c, &iov, 1, what);
}

/* One reply line without its CRLF into line (cut at len - 1 bytes):
 * 0, or -1 on EOF, error or timeout. */
static int
conn_read_line(struct conn *c, char *line, size_t len, const char *what)
{
	size_t out = 0;

	for (;;) {
		while (c->start < c->end) {
			char ch = c->buf[c->start++];

			if (ch == '\n') {
				if (out > 0 && line[out - 1] == '\r')
					out--;
				line[out] = '\0';
				return 0;
			}
			if (out < len - 1)
				line[out++] = ch;
		}
		ssize_t r = recv(c->fd, c->buf, sizeof(c->buf), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, PROG ": client %d: reading the reply to %s: %s\n", c->client,
				what, r == 0 ? "connection closed" :
				errno == EAGAIN ? "timed out" : strerror(errno));
			return -1;
		}
		c->start = 0;
		c->end = (size_t)r;
	}
}

/* Reads a whole reply (its lines "NNN-..." up to "NNN ...") and checks
 * that its code is want_class xx (2 or 3); else prints it and returns -1. */
static int
conn_expect(struct conn *c, int want_class, const char *what)
{
	char line[REPLY_MAX], text[REPLY_MAX] = "";
	int code = -1;

	for (;;) {
		bool last, well_formed;
		size_t used;

		if (conn_read_line(c, line, sizeof(line), what) < 0)
			return -1;
		well_formed = line[0] >= '1' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
			      line[2] >= '0' && line[2] <= '9' &&
			      (line[3] == '\0' || line[3] == ' ' || line[3] == '-');
		if (!well_formed) {
			fprintf(stderr, PROG ": client %d: not a reply to %s: \"%s\"\n", c->client,
				what, line);
			return -1;
		}
		if (code < 0)
			code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		/* All lines, joined with " / ", for the error message (cut
		 * when too long). */
		used = strlen(text);
		snprintf(text + used, sizeof(text) - used, "%s%.*s", used > 0 ? " / " : "",
			 (int)(sizeof(text) - used), line);
		last = line[3] != '-';
		if (last)
			break;
	}
	if (code / 100 != want_class) {
		fprintf(stderr, PROG ": client %d: %s: the server answered \"%s\" (wanted %dxx)\n",
			c->client, what, text, want_class);
		return -1;
	}
	return 0;
}

/* A command line and its reply of class want_class. */
static int
conn_command(struct conn *c, const char *cmd, int want_class, const char *what)
{
	if (conn_send_str(c, cmd, what) < 0)
		return -1;
	return conn_expect(c, want_class, what);
}

/* ---- one client ------------------------------------------------------- */

struct job {
	int port;
	const char *from;
	const char *const *rcpts;
	size_t nrcpts;
	const struct message *msg;
	unsigned long warmup;
	unsigned long count;	/* this client's share; 0: run for min_time */
	double min_time;
};

/* What a child tells the parent once it is done. */
struct result {
	unsigned long msgs;	/* timed deliveries */
	double end;		/* CLOCK_MONOTONIC when the last one was stored */
};

/* One transaction: message number seq to the next recipient in turn. */
static int
deliver(struct conn *c, const struct job *j, unsigned long seq)
{
	const char *rcpt = j->rcpts[((size_t)c->client + seq) % j->nrcpts];
	char cmd[600], header[HEADER_BUF];
	struct iovec iov[2];

	snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\n", j->from);
	if (conn_command(c, cmd, 2, "MAIL FROM") < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", rcpt);
	if (conn_command(c, cmd, 2, "RCPT TO") < 0)
		return -1;
	if (conn_command(c, "DATA\r\n", 3, "DATA") < 0)
		return -1;
	/* The header (no line of it starts with "."), then the stuffed body
	 * and the final dot, in one go. */
	iov[0].iov_base = header;
	iov[0].iov_len = header_format(header, sizeof(header), (unsigned long)getpid(), seq);
	iov[1].iov_base = j->msg->body;
	iov[1].iov_len = j->msg->body_len;
	if (iov[0].iov_len != j->msg->header_len) {
		fprintf(stderr, PROG ": client %d: the header changed size\n", c->client);
		return -1;
	}
	if (conn_send(c, iov, 2, "the message") < 0)
		return -1;
	/* LMTP: one reply per accepted recipient, here one. */
	return conn_expect(c, 2, "the final dot");
}

/* A child's work: connect, warm up, say ready on result_fd, wait for the
 * parent to close go_fd's other end, deliver, write a struct result. */
static int
client_run(int client, const struct job *j, int go_fd, int result_fd)
{
	struct conn c = { .fd = -1, .client = client };
	struct result res = { 0 };
	unsigned long seq = 0;
	double deadline;
	char byte = 'r';
	ssize_t r;

	if (conn_open(&c, j->port) < 0 || conn_expect(&c, 2, "the connection (greeting)") < 0 ||
	    conn_command(&c, "LHLO lmtp-deliver.example.org\r\n", 2, "LHLO") < 0)
		return -1;
	for (; seq < j->warmup; seq++) {
		if (deliver(&c, j, seq) < 0)
			return -1;
	}
	if (write(result_fd, &byte, 1) != 1)
		return -1;
	/* The parent closes its end: end of file for all children at once. */
	while ((r = read(go_fd, &byte, 1)) < 0 && errno == EINTR)
		;
	deadline = bench_now() + j->min_time;
	for (;;) {
		if (j->count > 0 ? res.msgs >= j->count : bench_now() >= deadline)
			break;
		if (deliver(&c, j, seq++) < 0)
			return -1;
		res.msgs++;
	}
	res.end = bench_now();
	if (conn_command(&c, "QUIT\r\n", 2, "QUIT") < 0)
		return -1;
	close(c.fd);
	if (write(result_fd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		return -1;
	return 0;
}

/* ---- the parent ------------------------------------------------------- */

/* Reads exactly len bytes: 0, or -1 (end of file: the child failed). */
static int
read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, (char *)buf + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void
kill_all(const pid_t *pids, int n)
{
	for (int i = 0; i < n; i++) {
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	}
}

/* Runs the clients; prints the result line.  0, or -1. */
static int
run(const struct job *base, int clients, unsigned long total_count)
{
	pid_t pids[MAX_CLIENTS] = { 0 };
	int result_fds[MAX_CLIENTS], go[2], status = 0;
	unsigned long msgs = 0;
	double start, end = 0;

	for (int i = 0; i < clients; i++)
		result_fds[i] = -1;
	if (pipe(go) < 0) {
		fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	for (int i = 0; i < clients; i++) {
		int fds[2];
		struct job j = *base;

		/* --count shared out: the first ones take the remainder. */
		if (total_count > 0)
			j.count = total_count / (unsigned long)clients +
				  ((unsigned long)i < total_count % (unsigned long)clients);
		if (pipe(fds) < 0) {
			fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
			status = -1;
			break;
		}
		pids[i] = fork();
		if (pids[i] < 0) {
			fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
			close(fds[0]);
			close(fds[1]);
			status = -1;
			break;
		}
		if (pids[i] == 0) {
			/* Only its own write end: a failed child is then
			 * end of file on its pipe in the parent. */
			for (int k = 0; k < i; k++)
				close(result_fds[k]);
			close(fds[0]);
			close(go[1]);
			_exit(client_run(i, &j, go[0], fds[1]) < 0 ? 1 : 0);
		}
		close(fds[1]);
		result_fds[i] = fds[0];
	}
	close(go[0]);

	/* Everyone connected and warmed up? */
	for (int i = 0; i < clients && status == 0; i++) {
		char byte;

		if (read_full(result_fds[i], &byte, 1) < 0) {
			fprintf(stderr, PROG ": client %d failed before the start\n", i);
			status = -1;
		}
	}
	start = bench_now();
	close(go[1]);	/* go */
	for (int i = 0; i < clients && status == 0; i++) {
		struct result res;

		if (read_full(result_fds[i], &res, sizeof(res)) < 0) {
			fprintf(stderr, PROG ": client %d failed\n", i);
			status = -1;
			break;
		}
		msgs += res.msgs;
		if (res.end > end)
			end = res.end;
	}
	if (status < 0)
		kill_all(pids, clients);
	for (int i = 0; i < clients; i++) {
		int ws;

		if (result_fds[i] >= 0)
			close(result_fds[i]);
		if (pids[i] <= 0)
			continue;
		while (waitpid(pids[i], &ws, 0) < 0) {
			if (errno != EINTR) {
				fprintf(stderr, PROG ": waitpid: %s\n", strerror(errno));
				return -1;
			}
		}
		if (status == 0 && !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0)) {
			fprintf(stderr, PROG ": client %d failed\n", i);
			status = -1;
		}
	}
	if (status < 0)
		return -1;
	if (msgs == 0 || !(end > start)) {
		fputs(PROG ": nothing was delivered in the timed part\n", stderr);
		return -1;
	}
	printf("msgs=%lu warmup=%lu seconds=%.3f rate=%.1f mbps=%.3f clients=%d size=%zu\n",
	       msgs, base->warmup * (unsigned long)clients, end - start, (double)msgs / (end - start),
	       (double)msgs / (end - start) * (double)base->msg->size / MB, clients,
	       base->msg->size);
	return 0;
}

/* ---- main ------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fputs("Usage: bench/lmtp-deliver --port P --to ADDR [--to ADDR...] [--size BYTES]\n"
	      "                          [--min-time SECONDS | --count N] [--clients C]\n"
	      "                          [--warmup N] [--from ADDR]\n"
	      "       bench/lmtp-deliver [--size BYTES] --write-message FILE\n"
	      "\n"
	      "LMTP deliveries per second to 127.0.0.1:P, one recipient a transaction,\n"
	      "the recipients taken in turn; prints\n"
	      "  msgs=N warmup=W seconds=S rate=MSGS/S mbps=MB/S clients=C size=BYTES\n"
	      "\n"
	      "  --port P              the LMTP port on 127.0.0.1\n"
	      "  --to ADDR             a recipient (repeatable; also ADDR,ADDR,...)\n"
	      "  --from ADDR           the envelope sender (default sender@example.org)\n"
	      "  --size BYTES          the message size, unstuffed (default 10000)\n"
	      "  --min-time SECONDS    deliver for this long (default 3)\n"
	      "  --count N             or deliver N messages in all\n"
	      "  --clients C           C connections, one process each (default 1)\n"
	      "  --warmup N            untimed messages per connection first (default 3)\n"
	      "  --write-message FILE  write the message to FILE and exit\n"
	      "  -h, --help            this text\n", f);
}

static bool
parse_ulong(const char *opt, const char *arg, unsigned long min, unsigned long max,
	    unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' || *out < min || *out > max) {
		fprintf(stderr, PROG ": --%s: '%s' is not a number in %lu..%lu\n", opt, arg, min, max);
		return false;
	}
	return true;
}

/* Adds the comma-separated addresses in arg (modified) to rcpts. */
static bool
add_rcpts(char *arg, const char **rcpts, size_t *n)
{
	for (char *save = NULL, *a = strtok_r(arg, ",", &save); a != NULL;
	     a = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_RCPTS) {
			fprintf(stderr, PROG ": more than %d recipients\n", MAX_RCPTS);
			return false;
		}
		if (strlen(a) > 256 || strpbrk(a, "<>\r\n ") != NULL) {
			fprintf(stderr, PROG ": --to: '%s' is not an address\n", a);
			return false;
		}
		rcpts[(*n)++] = a;
	}
	return true;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "to", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'f' },
		{ "size", required_argument, NULL, 's' },
		{ "min-time", required_argument, NULL, 'T' },
		{ "count", required_argument, NULL, 'n' },
		{ "clients", required_argument, NULL, 'c' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "write-message", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *rcpts[MAX_RCPTS];
	struct job job = { .from = "sender@example.org", .rcpts = rcpts,
			   .warmup = DEFAULT_WARMUP, .min_time = DEFAULT_MIN_TIME };
	unsigned long port = 0, size = DEFAULT_SIZE, count = 0, clients = 1;
	const char *write_path = NULL;
	struct message msg;
	char *end;
	int c, status;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_ulong("port", optarg, 1, 65535, &port))
				return EXIT_FAILURE;
			break;
		case 't':
			if (!add_rcpts(optarg, rcpts, &job.nrcpts))
				return EXIT_FAILURE;
			break;
		case 'f':
			if (strlen(optarg) > 256 || strpbrk(optarg, "<>\r\n ") != NULL) {
				fprintf(stderr, PROG ": --from: '%s' is not an address\n", optarg);
				return EXIT_FAILURE;
			}
			job.from = optarg;
			break;
		case 's':
			if (!parse_ulong("size", optarg, 1, MAX_SIZE, &size))
				return EXIT_FAILURE;
			break;
		case 'T':
			errno = 0;
			job.min_time = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(job.min_time > 0 && job.min_time < 86400)) {
				fprintf(stderr, PROG ": --min-time: '%s' is not a duration\n", optarg);
				return EXIT_FAILURE;
			}
			break;
		case 'n':
			if (!parse_ulong("count", optarg, 1, ULONG_MAX / 2, &count))
				return EXIT_FAILURE;
			break;
		case 'c':
			if (!parse_ulong("clients", optarg, 1, MAX_CLIENTS, &clients))
				return EXIT_FAILURE;
			break;
		case 'w':
			if (!parse_ulong("warmup", optarg, 0, 1000000, &job.warmup))
				return EXIT_FAILURE;
			break;
		case 'W':
			write_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_FAILURE;
		}
	}
	if (optind < argc || (write_path == NULL && (port == 0 || job.nrcpts == 0))) {
		usage(stderr);
		return EXIT_FAILURE;
	}
	if (count > 0 && count < clients) {
		fprintf(stderr, PROG ": --count %lu: fewer messages than --clients %lu\n", count, clients);
		return EXIT_FAILURE;
	}
	if (message_build(&msg, size) < 0)
		return EXIT_FAILURE;
	if (write_path != NULL) {
		status = message_write(&msg, write_path);
	} else {
		job.port = (int)port;
		job.msg = &msg;
		status = run(&job, (int)clients, count);
	}
	message_free(&msg);
	if (status < 0) {
		fputs(PROG ": FAILED\n", stderr);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
