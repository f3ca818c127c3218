/* envelope.c - throughput and memory benchmark of the S/MIME envelope
 *
 * On synthetic messages of 10 kB, 1 MB and 100 MB (RFC 5322, LF line
 * ends, 72-byte text lines), all in one run, it measures:
 *
 *   1. the envelope core in process: smk_envelope_* with one RSA-2048
 *      recipient and aes-256-cbc, fed 64 KiB at a time, its output
 *      counted and dropped;
 *   2. the raw limit for the same bytes: an OpenSSL BIO chain
 *      BIO_f_cipher (AES-256-CBC, random key and IV) -> BIO_f_base64 ->
 *      counting sink, fed the same 64 KiB chunks;
 *   3. `smimekit encrypt` against `openssl cms -encrypt -stream` as
 *      processes (fork, exec, wait4; wall time) on the same message files;
 *   4. the peak RSS of the smimekit process for each size.
 *
 * In process, the messages are never held whole in memory: every chunk
 * points into one fixed-size, periodic body buffer.  Each figure is the
 * best of 3 rounds, a round repeating its run for at least --min-time
 * seconds; the runs being compared alternate round by round.
 *
 * Usage: bench/envelope [--smimekit PATH] [--cert PEM] [--openssl PATH]
 *                       [--min-time SECONDS] [--quick]
 * Environment: SMIMEKIT, SMK_BENCH_CERT, SMK_BENCH_OPENSSL, TMPDIR.
 * Without a certificate, a throwaway RSA-2048 one is made.  The message
 * files and that certificate go to a temporary directory that is removed
 * at the end.  A benchmark, not a test: `make check` does not run it.
 */
#include "config.h"

#include "bench-util.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "smk-envelope.h"

#define CHUNK (64 * 1024)		/* bytes per write, in process */
#define LINE_LEN 72			/* body line: 71 characters and LF */
#define PATTERN_LINES 1024		/* the body repeats after this many lines */
#define PATTERN_BYTES (PATTERN_LINES * LINE_LEN)
#define ROUNDS 3
#define DEFAULT_MIN_TIME 0.5		/* seconds per round */
#define MB 1e6				/* sizes and rates are decimal */

static const char message_header[] =
	"From: Alice Example <alice@example.org>\n"
	"To: Bob Example <bob@example.org>\n"
	"Subject: smimekit envelope benchmark\n"
	"Date: Mon, 01 Jan 2024 12:00:00 +0000\n"
	"Message-ID: <envelope-bench@example.org>\n"
	"MIME-Version: 1.0\n"
	"Content-Type: text/plain; charset=us-ascii\n"
	"Content-Transfer-Encoding: 7bit\n"
	"\n";
#define HEADER_LEN (sizeof(message_header) - 1)

static const struct {
	const char *label;
	uint64_t nominal;	/* bytes; the message is cut to whole lines */
	bool quick;		/* part of a --quick run */
} sizes[] = {
	{ "10 kB", 10000, true },
	{ "1 MB", 1000000, true },
	{ "100 MB", 100000000, false },
};
#define N_SIZES (sizeof(sizes) / sizeof(sizes[0]))

/* ---- synthetic messages ----------------------------------------------- */

/* Every message is the header, then body lines taken cyclically from
 * pattern.  pattern holds one period plus CHUNK bytes of wrap-around, so
 * any chunk of the body is a contiguous slice of it. */
struct corpus {
	unsigned char first[CHUNK];			/* header, then the body's start */
	unsigned char pattern[PATTERN_BYTES + CHUNK];
};


/* One line of words, LINE_LEN bytes with the LF. */
static void
fill_line(unsigned char *line, uint32_t *seed)
{
	static const char *const words[] = {
		"the", "message", "is", "encrypted", "for", "every", "recipient",
		"before", "it", "reaches", "mailbox", "and", "nobody", "else",
		"can", "read", "a", "line", "of", "plain", "text", "with",
		"some", "longer", "words", "such", "as", "confidentiality",
		"streaming", "envelope", "certificate", "benchmark",
	};
	size_t n = 0;

	while (n < LINE_LEN - 1) {
		const char *w = words[bench_xorshift32(seed) % (sizeof(words) / sizeof(words[0]))];

		if (n > 0)
			line[n++] = ' ';
		for (; *w != '\0' && n < LINE_LEN - 1; w++)
			line[n++] = (unsigned char)*w;
	}
	line[LINE_LEN - 1] = '\n';
}

static struct corpus *
corpus_new(void)
{
	struct corpus *c = malloc(sizeof(*c));
	uint32_t seed = 0x5eed1234;

	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < PATTERN_LINES; i++)
		fill_line(c->pattern + i * LINE_LEN, &seed);
	memcpy(c->pattern + PATTERN_BYTES, c->pattern, CHUNK);
	memcpy(c->first, message_header, HEADER_LEN);
	memcpy(c->first + HEADER_LEN, c->pattern, CHUNK - HEADER_LEN);
	return c;
}

/* The nominal size cut down to the header and whole body lines. */
static uint64_t
message_size(uint64_t nominal)
{
	return HEADER_LEN + (nominal - HEADER_LEN) / LINE_LEN * LINE_LEN;
}

/* The chunk of a size-byte message at pos (a multiple of CHUNK, < size). */
static const unsigned char *
message_chunk(const struct corpus *c, uint64_t size, uint64_t pos, size_t *len)
{
	uint64_t left = size - pos;

	*len = left < CHUNK ? (size_t)left : CHUNK;
	if (pos == 0)
		return c->first;
	return c->pattern + (pos - HEADER_LEN) % PATTERN_BYTES;
}

/* ---- the temporary directory ------------------------------------------ */

/* What to remove at the end, or on SIGINT/SIGTERM/SIGHUP. */
#define MAX_TMP_FILES 8
static char tmp_dir[PATH_MAX];
static char tmp_files[MAX_TMP_FILES][PATH_MAX];
static volatile sig_atomic_t n_tmp_files;

/* Async-signal-safe: only unlink and rmdir. */
static void
tmp_remove_all(void)
{
	for (int i = 0; i < n_tmp_files; i++)
		unlink(tmp_files[i]);
	n_tmp_files = 0;
	if (tmp_dir[0] != '\0')
		rmdir(tmp_dir);
	tmp_dir[0] = '\0';
}

static void
on_signal(int sig)
{
	tmp_remove_all();
	raise(sig);	/* SA_RESETHAND: now the default action */
}

static int
tmp_dir_create(void)
{
	const char *base = getenv("TMPDIR");
	struct sigaction sa;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (snprintf(tmp_dir, sizeof(tmp_dir), "%s/smk-bench.XXXXXX", base) >= (int)sizeof(tmp_dir) ||
	    mkdtemp(tmp_dir) == NULL) {
		fprintf(stderr, "envelope: cannot create a directory in %s: %s\n", base, strerror(errno));
		tmp_dir[0] = '\0';
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return 0;
}

/* Registers tmp_dir/name for removal and returns its path. */
static const char *
tmp_path(const char *name)
{
	char *path;

	if (n_tmp_files == MAX_TMP_FILES)
		return NULL;
	path = tmp_files[n_tmp_files];
	if (snprintf(path, PATH_MAX, "%s/%s", tmp_dir, name) >= PATH_MAX)
		return NULL;
	n_tmp_files++;
	return path;
}

static int
write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t r = write(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static int
write_message_file(const struct corpus *c, uint64_t size, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		goto fail;
	for (uint64_t pos = 0; pos < size; pos += CHUNK) {
		size_t len;
		const unsigned char *p = message_chunk(c, size, pos, &len);

		if (write_all(fd, p, len) < 0) {
			close(fd);
			goto fail;
		}
	}
	if (close(fd) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "envelope: %s: %s\n", path, strerror(errno));
	return -1;
}

/* ---- the recipient certificate ---------------------------------------- */

static int
add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok = ext != NULL && X509_add_ext(cert, ext, -1);

	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* A throwaway self-signed RSA-2048 certificate for S/MIME encryption. */
static X509 *
make_cert(void)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	X509 *cert = X509_new();
	X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
	X509V3_CTX ctx;

	if (key == NULL || name == NULL ||
	    !X509_set_version(cert, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert), 7 * 86400) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"smimekit benchmark", -1, -1, 0) ||
	    !X509_set_issuer_name(cert, name) ||
	    !X509_set_pubkey(cert, key))
		goto fail;
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	if (add_ext(cert, &ctx, NID_basic_constraints, "CA:FALSE") < 0 ||
	    add_ext(cert, &ctx, NID_key_usage, "critical,keyEncipherment") < 0 ||
	    add_ext(cert, &ctx, NID_ext_key_usage, "emailProtection") < 0 ||
	    add_ext(cert, &ctx, NID_subject_alt_name, "email:bench@example.org") < 0 ||
	    !X509_sign(cert, key, EVP_sha256()))
		goto fail;
	EVP_PKEY_free(key);
	return cert;
fail:
	EVP_PKEY_free(key);
	X509_free(cert);
	return NULL;
}

static int
write_cert(X509 *cert, const char *path)
{
	BIO *b = BIO_new_file(path, "w");
	int ok = b != NULL && PEM_write_bio_X509(b, cert);

	return BIO_free(b) && ok ? 0 : -1;
}

static X509 *
read_cert(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return cert;
}

/* ---- what is timed ---------------------------------------------------- */

/* A run: 0 on success, -1 after a message on stderr. */
typedef int run_fn(void *arg);

struct envelope_job {
	const struct corpus *corpus;
	uint64_t size;
	STACK_OF(X509) *recipients;
	uint64_t out;	/* bytes of the last run's output */
};

static int
count_write(void *ctx, const void *data, size_t len)
{
	(void)data;
	*(uint64_t *)ctx += len;
	return 0;
}

static int
envelope_run(void *arg)
{
	struct envelope_job *job = arg;
	struct smk_envelope_opts opts = {
		.recipients = job->recipients,
		.cipher = SMK_CIPHER_AES256_CBC,
	};
	struct smk_envelope *env;
	struct smk_error err;
	int status = 0;

	job->out = 0;
	env = smk_envelope_new(&opts, count_write, &job->out, &err);
	if (env == NULL) {
		fprintf(stderr, "envelope: %s\n", err.msg);
		return -1;
	}
	for (uint64_t pos = 0; pos < job->size && status == 0; pos += CHUNK) {
		size_t len;
		const unsigned char *p = message_chunk(job->corpus, job->size, pos, &len);

		status = smk_envelope_write(env, p, len);
	}
	if (status == 0)
		status = smk_envelope_finish(env);
	if (status < 0) {
		fprintf(stderr, "envelope: %s\n", smk_envelope_error(env)->msg);
	} else if (smk_envelope_outcome(env) != SMK_ENVELOPE_ENCRYPTED) {
		fputs("envelope: the message was not encrypted\n", stderr);
		status = -1;
	}
	smk_envelope_free(env);
	return status;
}

/* The raw limit's sink: a BIO that counts what it is given. */
static BIO_METHOD *counter_method;

static int
counter_write_ex(BIO *b, const char *data, size_t len, size_t *written)
{
	(void)data;
	*(uint64_t *)BIO_get_data(b) += len;
	*written = len;
	return 1;
}

static long
counter_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH;
}

static int
counter_method_init(void)
{
	counter_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "byte counter");
	return counter_method != NULL &&
	       BIO_meth_set_write_ex(counter_method, counter_write_ex) &&
	       BIO_meth_set_ctrl(counter_method, counter_ctrl) ? 0 : -1;
}

static int
bio_write_all(BIO *b, const unsigned char *p, size_t len)
{
	while (len > 0) {
		size_t n;

		if (!BIO_write_ex(b, p, len, &n) || n == 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

struct raw_job {
	const struct corpus *corpus;
	uint64_t size;
	const EVP_CIPHER *aes;
	uint64_t out;
};

static int
raw_run(void *arg)
{
	struct raw_job *job = arg;
	unsigned char key[32], iv[16];
	BIO *chain = BIO_new(BIO_f_cipher());
	BIO *b64 = BIO_new(BIO_f_base64());
	BIO *sink = BIO_new(counter_method);
	int status = -1;

	job->out = 0;
	if (chain == NULL || b64 == NULL || sink == NULL ||
	    RAND_bytes(key, sizeof(key)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1 ||
	    !BIO_set_cipher(chain, job->aes, key, iv, 1))
		goto out;
	BIO_set_data(sink, &job->out);
	BIO_set_init(sink, 1);
	BIO_push(chain, BIO_push(b64, sink));
	b64 = sink = NULL;	/* owned by chain */

	for (uint64_t pos = 0; pos < job->size; pos += CHUNK) {
		size_t len;
		const unsigned char *p = message_chunk(job->corpus, job->size, pos, &len);

		if (bio_write_all(chain, p, len) < 0)
			goto out;
	}
	if (BIO_flush(chain) <= 0)
		goto out;
	status = 0;
out:
	if (status < 0) {
		fputs("envelope: raw AES-CBC + base64 chain failed\n", stderr);
		ERR_print_errors_fp(stderr);
	}
	OPENSSL_cleanse(key, sizeof(key));
	BIO_free_all(chain);
	BIO_free(b64);
	BIO_free(sink);
	return status;
}

/* A command run with stdin and stdout on /dev/null. */
struct proc_job {
	char *const *argv;
	long max_rss_kib;	/* highest ru_maxrss seen */
};

static int
proc_run(void *arg)
{
	struct proc_job *job = arg;
	struct rusage ru;
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		fprintf(stderr, "envelope: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(126);
		if (fd > STDERR_FILENO)
			close(fd);
		execvp(job->argv[0], job->argv);
		fprintf(stderr, "envelope: %s: %s\n", job->argv[0], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "envelope: wait4: %s\n", strerror(errno));
			return -1;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "envelope: %s %s failed (%s %d)\n", job->argv[0], job->argv[1],
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return -1;
	}
	if (ru.ru_maxrss > job->max_rss_kib)
		job->max_rss_kib = ru.ru_maxrss;
	return 0;
}

/* ---- timing ----------------------------------------------------------- */


/* Repeats run for at least min_time seconds; returns seconds per run, or -1. */
static double
time_round(run_fn *run, void *arg, double min_time)
{
	double start = bench_now(), elapsed;
	unsigned long n = 0;

	do {
		if (run(arg) < 0)
			return -1;
		n++;
		elapsed = bench_now() - start;
	} while (elapsed < min_time);
	return elapsed / (double)n;
}

/* Best seconds per run of a and of b, after one warm-up run each, over
 * ROUNDS rounds that alternate between them. */
static int
time_pair(run_fn *run_a, void *a, run_fn *run_b, void *b, double min_time,
	  double *best_a, double *best_b)
{
	*best_a = *best_b = DBL_MAX;
	if (run_a(a) < 0 || run_b(b) < 0)
		return -1;
	for (int r = 0; r < ROUNDS; r++) {
		double ta, tb;

		if ((ta = time_round(run_a, a, min_time)) < 0 ||
		    (tb = time_round(run_b, b, min_time)) < 0)
			return -1;
		if (ta < *best_a)
			*best_a = ta;
		if (tb < *best_b)
			*best_b = tb;
	}
	return 0;
}

/* ---- main ------------------------------------------------------------- */

struct result {
	uint64_t size;
	double envelope_s, raw_s;	/* seconds per message, in process */
	double smimekit_s, cms_s;	/* seconds per process */
	long smimekit_rss, cms_rss;	/* KiB */
};

static int
bench_size(const struct corpus *corpus, uint64_t size, STACK_OF(X509) *recipients,
	   const EVP_CIPHER *aes, const char *smimekit, const char *openssl,
	   const char *cert_path, const char *msg_path, double min_time, struct result *res)
{
	struct envelope_job env_job = { corpus, size, recipients, 0 };
	struct raw_job raw_job = { corpus, size, aes, 0 };
	/* Output on stdout (/dev/null), not "-o /dev/null": -o writes a
	 * temporary file beside its target, fsyncs it and renames it over the
	 * target, which as root would replace /dev/null itself. */
	char *smk_argv[] = {
		(char *)smimekit, "encrypt", "--to", (char *)cert_path, "-i", (char *)msg_path, NULL
	};
	char *cms_argv[] = {
		(char *)openssl, "cms", "-encrypt", "-stream", "-aes-256-cbc", "-binary",
		"-in", (char *)msg_path, "-out", "/dev/null", (char *)cert_path, NULL
	};
	struct proc_job smk_job = { smk_argv, 0 }, cms_job = { cms_argv, 0 };

	res->size = size;
	if (time_pair(envelope_run, &env_job, raw_run, &raw_job, min_time,
		      &res->envelope_s, &res->raw_s) < 0 ||
	    time_pair(proc_run, &smk_job, proc_run, &cms_job, min_time,
		      &res->smimekit_s, &res->cms_s) < 0)
		return -1;
	res->smimekit_rss = smk_job.max_rss_kib;
	res->cms_rss = cms_job.max_rss_kib;
	return 0;
}

static void
print_table(const struct result *res, size_t n)
{
	const struct result *small = &res[0], *large = &res[n - 1];

	puts("size          bytes | envelope | raw AES-CBC | env/raw | smimekit  | openssl cms | cms/smk | smimekit");
	puts("                    |   MB/s   |  +b64 MB/s  |         | process s |  process s  |         | peak RSS KiB");
	puts("--------------------+----------+-------------+---------+-----------+-------------+---------+-------------");
	for (size_t i = 0; i < n; i++) {
		const struct result *r = &res[i];
		double mb = (double)r->size / MB;

		printf("%-7s %11" PRIu64 " | %8.1f | %11.1f | %6.2fx | %9.5f | %11.5f | %6.2fx | %12ld\n",
		       sizes[i].label, r->size, mb / r->envelope_s, mb / r->raw_s,
		       r->raw_s / r->envelope_s, r->smimekit_s, r->cms_s,
		       r->cms_s / r->smimekit_s, r->smimekit_rss);
	}
	puts("");
	puts("env/raw: envelope MB/s over raw AES-CBC + base64 MB/s (target >= 0.80x)");
	puts("cms/smk: openssl cms time over smimekit time (target > 1.00x: smimekit faster)");
	printf("peak RSS %s / %s: smimekit %ld -> %ld KiB (%.2fx), openssl cms %ld -> %ld KiB (%.2fx)\n",
	       sizes[n - 1].label, sizes[0].label,
	       small->smimekit_rss, large->smimekit_rss,
	       (double)large->smimekit_rss / (double)small->smimekit_rss,
	       small->cms_rss, large->cms_rss,
	       (double)large->cms_rss / (double)small->cms_rss);
}

static void
usage(FILE *f)
{
	fputs("Usage: bench/envelope [--smimekit PATH] [--cert PEM] [--openssl PATH]\n"
	      "                      [--min-time SECONDS] [--quick]\n"
	      "\n"
	      "Benchmarks the S/MIME envelope on 10 kB, 1 MB and 100 MB messages: in\n"
	      "process against a raw AES-256-CBC + base64 BIO chain, and the smimekit\n"
	      "encrypt command against openssl cms -encrypt -stream.\n"
	      "\n"
	      "  --smimekit PATH     the smimekit command ($SMIMEKIT, else tools/smimekit)\n"
	      "  --cert PEM          recipient certificate, RSA-2048 ($SMK_BENCH_CERT,\n"
	      "                      else a throwaway one is made)\n"
	      "  --openssl PATH      the openssl command ($SMK_BENCH_OPENSSL, else openssl)\n"
	      "  --min-time SECONDS  least time per measuring round (default 0.5)\n"
	      "  --quick             10 kB and 1 MB only\n"
	      "  -h, --help          this text\n", f);
}

static const char *
env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : fallback;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "smimekit", required_argument, NULL, 's' },
		{ "cert", required_argument, NULL, 'c' },
		{ "openssl", required_argument, NULL, 'o' },
		{ "min-time", required_argument, NULL, 't' },
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *smimekit = env_or("SMIMEKIT", "tools/smimekit");
	const char *cert_path = env_or("SMK_BENCH_CERT", NULL);
	const char *openssl = env_or("SMK_BENCH_OPENSSL", "openssl");
	double min_time = DEFAULT_MIN_TIME;
	bool quick = false, generated = false;
	struct result results[N_SIZES];
	size_t n_results = 0;
	struct corpus *corpus = NULL;
	STACK_OF(X509) *recipients = NULL;
	EVP_CIPHER *aes = NULL;
	X509 *cert = NULL;
	int status = EXIT_FAILURE, c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		char *end;

		switch (c) {
		case 's':
			smimekit = optarg;
			break;
		case 'c':
			cert_path = optarg;
			break;
		case 'o':
			openssl = optarg;
			break;
		case 't':
			errno = 0;
			min_time = strtod(optarg, &end);
			if (errno != 0 || *end != '\0' || !(min_time > 0 && min_time < 3600)) {
				fprintf(stderr, "envelope: --min-time: '%s' is not a duration\n", optarg);
				return EXIT_FAILURE;
			}
			break;
		case 'q':
			quick = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_FAILURE;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return EXIT_FAILURE;
	}
	/* A path with a slash is run as given; check it now rather than 20 runs in. */
	if (strchr(smimekit, '/') != NULL && access(smimekit, X_OK) < 0) {
		fprintf(stderr, "envelope: %s: %s (use --smimekit or SMIMEKIT)\n",
			smimekit, strerror(errno));
		return EXIT_FAILURE;
	}

	if (tmp_dir_create() < 0)
		return EXIT_FAILURE;
	corpus = corpus_new();
	recipients = sk_X509_new_null();
	aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	if (corpus == NULL || recipients == NULL || aes == NULL || counter_method_init() < 0) {
		fputs("envelope: out of memory or no AES-256-CBC\n", stderr);
		goto out;
	}

	if (cert_path == NULL) {
		cert = make_cert();
		cert_path = tmp_path("recipient.pem");
		if (cert == NULL || cert_path == NULL || write_cert(cert, cert_path) < 0) {
			fputs("envelope: cannot make a recipient certificate\n", stderr);
			ERR_print_errors_fp(stderr);
			goto out;
		}
		generated = true;
	} else if ((cert = read_cert(cert_path)) == NULL) {
		fprintf(stderr, "envelope: %s: not a PEM certificate\n", cert_path);
		goto out;
	}
	if (!sk_X509_push(recipients, cert))
		goto out;
	cert = NULL;	/* owned by recipients */

	{
		EVP_PKEY *pkey = X509_get0_pubkey(sk_X509_value(recipients, 0));

		printf("smimekit envelope benchmark\n"
		       "  library:   %s\n"
		       "  smimekit:  %s\n"
		       "  openssl:   %s\n"
		       "  recipient: %s (%s-%d%s)\n"
		       "  method:    %d KiB writes in process; best of %d rounds of >= %.2f s;\n"
		       "             MB = 10^6 bytes\n\n",
		       OpenSSL_version(OPENSSL_VERSION), smimekit, openssl, cert_path,
		       pkey ? EVP_PKEY_get0_type_name(pkey) : "?", pkey ? EVP_PKEY_get_bits(pkey) : 0,
		       generated ? ", generated" : "", CHUNK / 1024, ROUNDS, min_time);
		fflush(stdout);
	}

	for (size_t i = 0; i < N_SIZES; i++) {
		uint64_t size = message_size(sizes[i].nominal);
		char name[32];
		const char *msg_path;

		if (quick && !sizes[i].quick)
			break;
		fprintf(stderr, "envelope: %s ...\n", sizes[i].label);
		snprintf(name, sizeof(name), "message-%" PRIu64 ".eml", sizes[i].nominal);
		msg_path = tmp_path(name);
		if (msg_path == NULL || write_message_file(corpus, size, msg_path) < 0)
			goto out;
		if (bench_size(corpus, size, recipients, aes, smimekit, openssl, cert_path,
			       msg_path, min_time, &results[n_results]) < 0)
			goto out;
		n_results++;
		unlink(msg_path);	/* no need to keep 100 MB around */
	}
	print_table(results, n_results);
	status = EXIT_SUCCESS;
out:
	tmp_remove_all();
	X509_free(cert);
	sk_X509_pop_free(recipients, X509_free);
	EVP_CIPHER_free(aes);
	BIO_meth_free(counter_method);
	free(corpus);
	return status;
}
