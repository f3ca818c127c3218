/* ldap-lookup.c - lookups per second of the certificate directory client
 *
 * Against a running LDAP server holding entries uid=userN,ou=people,BASE
 * (N = 1..USERS) with mail userN@example.org and one end-entity
 * certificate in userCertificate;binary each, all in one run, it measures:
 *
 *   1. bare libldap, the baseline: one LDAP* (ldap_initialize, protocol 3,
 *      anonymous simple bind), a synchronous loop of ldap_search_ext_s
 *      with exactly what smimekit sends (filter (mail=ADDRESS) escaped
 *      with ldap_bv2escaped_filter_value, attributes userCertificate;binary
 *      and userSMIMECertificate, the same timeout and size limit), the
 *      entry's DN and values read (ldap_get_dn, ldap_get_values_len), then
 *      ldap_msgfree;
 *   2. smimekit uncached: smk_ldap_lookup on one handle (one reused
 *      connection), which also parses and checks the certificates;
 *   3. smimekit through the cache: smk_ldap_cache_lookup with room for
 *      every address, warmed with all of them first, so every timed lookup
 *      is a hit;
 *   4. ldapsearch per lookup: fork/exec `ldapsearch -x -LLL -H URI -b BASE
 *      FILTER userCertificate;binary userSMIMECertificate`, stdout to
 *      /dev/null, the cost of shelling out.
 *
 * Every lookup asks for a pseudo-random userN@example.org; the sequence is
 * the same for every method (each round starts it again).  Every result
 * is checked (one entry, the expected DN, exactly one certificate; for
 * ldapsearch the exit status, and the output of one checked run first):
 * a broken run fails loudly instead of looking fast.  Methods 1-3 are the
 * best of 3 rounds of at least --min-time seconds each, alternating round
 * by round; ldapsearch runs for --ldapsearch-time seconds and at least 50
 * times.  Clock: CLOCK_MONOTONIC.
 *
 * Usage: bench/ldap-lookup --uri URI --base BASE [--users N]
 *                          [--min-time SECONDS] [--ldapsearch PATH]
 *                          [--ldapsearch-time SECONDS]
 *
 * bench/ldap-lookup.sh BUILDDIR makes a throwaway slapd with 10,000 such
 * entries and runs this against it.  LDAPNOINIT=1 is set for the whole
 * process (and ldapsearch): no ldap.conf or ~/.ldaprc alters what is
 * measured.  A benchmark, not a test: `make check` does not run it.
 */
#include "config.h"

#include "bench-util.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/crypto.h>

#include "smk-ldap-cache.h"
#include "smk-ldap.h"

#define ROUNDS 3
#define DEFAULT_MIN_TIME 0.5		/* seconds per round, in process */
#define DEFAULT_LDAPSEARCH_TIME 3.0	/* seconds of ldapsearch processes */
#define LDAPSEARCH_MIN_RUNS 50
#define DEFAULT_USERS 10000
#define SEQ_LEN 32768			/* addresses in the sequence (it wraps) */
#define BATCH 16			/* lookups between two clock readings */
#define ADDR_MAX 64

#define ATTR_CERT "userCertificate;binary"
#define ATTR_SMIME "userSMIMECertificate"

#define PROG "ldap-lookup"

/* ---- the address sequence --------------------------------------------- */

struct target {
	char address[ADDR_MAX];
	char *dn;		/* the entry it must find */
};

static struct target *seq;	/* SEQ_LEN of them */


static int
seq_new(unsigned users, const char *base)
{
	uint32_t seed = 0x1dab1e5;

	seq = calloc(SEQ_LEN, sizeof(*seq));
	if (seq == NULL)
		return -1;
	for (size_t i = 0; i < SEQ_LEN; i++) {
		unsigned n = 1 + bench_xorshift32(&seed) % users;

		snprintf(seq[i].address, sizeof(seq[i].address), "user%u@example.org", n);
		if (asprintf(&seq[i].dn, "uid=user%u,ou=people,%s", n, base) < 0) {
			seq[i].dn = NULL;
			return -1;
		}
	}
	return 0;
}

static void
seq_free(void)
{
	if (seq == NULL)
		return;
	for (size_t i = 0; i < SEQ_LEN; i++)
		free(seq[i].dn);
	free(seq);
	seq = NULL;
}

/* ---- timing ----------------------------------------------------------- */


/* One lookup of target t: 0, or -1 after a message on stderr. */
typedef int lookup_fn(void *arg, const struct target *t);

/* Lookups from the start of the sequence for at least min_time seconds
 * (and at least min_runs); returns lookups per second, or -1. */
static double
time_round(lookup_fn *fn, void *arg, double min_time, unsigned long min_runs, int batch)
{
	double start = bench_now(), elapsed;
	unsigned long n = 0;

	do {
		for (int b = 0; b < batch; b++) {
			if (fn(arg, &seq[n % SEQ_LEN]) < 0)
				return -1;
			n++;
		}
		elapsed = bench_now() - start;
	} while (elapsed < min_time || n < min_runs);
	return (double)n / elapsed;
}

/* ---- 1. bare libldap -------------------------------------------------- */

struct bare {
	LDAP *ld;
	const char *base;
	int scope;
	struct timeval timeout;
	int size_limit;
};

static int
bare_open(struct bare *b, const char *uri)
{
	int version = LDAP_VERSION3, rc;
	struct berval cred = { 0, (char *)"" };

	rc = ldap_initialize(&b->ld, uri);
	if (rc != LDAP_SUCCESS) {
		fprintf(stderr, PROG ": bare libldap: ldap_initialize %s: %s\n", uri,
			ldap_err2string(rc));
		return -1;
	}
	if (ldap_set_option(b->ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS) {
		fputs(PROG ": bare libldap: cannot set protocol version 3\n", stderr);
		return -1;
	}
	rc = ldap_sasl_bind_s(b->ld, NULL, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		fprintf(stderr, PROG ": bare libldap: anonymous bind to %s: %s\n", uri,
			ldap_err2string(rc));
		return -1;
	}
	return 0;
}

static int
bare_lookup(void *arg, const struct target *t)
{
	static char *attrs[] = { ATTR_CERT, ATTR_SMIME, NULL };
	struct bare *b = arg;
	struct berval in = { strlen(t->address), (char *)t->address }, esc = { 0, NULL };
	struct berval **certs = NULL, **smime = NULL;
	LDAPMessage *res = NULL, *entry;
	char filter[ADDR_MAX * 3 + 16], *dn = NULL;
	int rc, status = -1;

	if (ldap_bv2escaped_filter_value(&in, &esc) != 0) {
		fputs(PROG ": bare libldap: cannot escape the address\n", stderr);
		return -1;
	}
	snprintf(filter, sizeof(filter), "(mail=%s)", esc.bv_val);
	ber_memfree(esc.bv_val);

	rc = ldap_search_ext_s(b->ld, b->base, b->scope, filter, attrs, 0, NULL, NULL,
			       &b->timeout, b->size_limit, &res);
	if (rc != LDAP_SUCCESS) {
		fprintf(stderr, PROG ": bare libldap: search %s: %s\n", filter, ldap_err2string(rc));
		goto out;
	}
	if (ldap_count_entries(b->ld, res) != 1 || (entry = ldap_first_entry(b->ld, res)) == NULL) {
		fprintf(stderr, PROG ": bare libldap: %s: %d entries, not 1\n", filter,
			ldap_count_entries(b->ld, res));
		goto out;
	}
	dn = ldap_get_dn(b->ld, entry);
	certs = ldap_get_values_len(b->ld, entry, ATTR_CERT);
	smime = ldap_get_values_len(b->ld, entry, ATTR_SMIME);
	if (dn == NULL || strcmp(dn, t->dn) != 0) {
		fprintf(stderr, PROG ": bare libldap: %s found %s, not %s\n", filter,
			dn ? dn : "(no DN)", t->dn);
		goto out;
	}
	if (ldap_count_values_len(certs) + ldap_count_values_len(smime) != 1 ||
	    certs == NULL || certs[0]->bv_len == 0) {
		fprintf(stderr, PROG ": bare libldap: %s: %d + %d certificate values, not 1 + 0\n",
			dn, ldap_count_values_len(certs), ldap_count_values_len(smime));
		goto out;
	}
	status = 0;
out:
	ldap_value_free_len(certs);
	ldap_value_free_len(smime);
	ldap_memfree(dn);
	ldap_msgfree(res);
	return status;
}

/* ---- 2. and 3. smimekit ----------------------------------------------- */

struct smk {
	struct smk_ldap *l;
	struct smk_ldap_cache *cache;	/* NULL: uncached */
};

static void
log_stderr(void *ctx, enum smk_log_level level, const char *msg)
{
	(void)ctx;
	fprintf(stderr, PROG ": log: %s: %s\n", level >= SMK_LOG_WARNING ? "warning" : "info", msg);
}

static int
check_found(const char *what, const struct target *t, enum smk_ldap_status st,
	    const struct smk_ldap_certs *c, const struct smk_error *err)
{
	if (st != SMK_LDAP_OK) {
		fprintf(stderr, PROG ": %s: %s: %s: %s\n", what, t->address, smk_ldap_status_str(st),
			err->msg);
		return -1;
	}
	if (c == NULL || c->ncerts != 1 || c->skipped != 0 || strcmp(c->dn, t->dn) != 0) {
		fprintf(stderr, PROG ": %s: %s found %s with %zu certificates (%zu skipped), "
			"not %s with 1\n", what, t->address, c ? c->dn : "nothing",
			c ? c->ncerts : 0, c ? c->skipped : 0, t->dn);
		return -1;
	}
	return 0;
}

static int
smk_lookup(void *arg, const struct target *t)
{
	struct smk *s = arg;
	struct smk_ldap_certs *c = NULL;
	struct smk_error err = { 0 };
	enum smk_ldap_status st;
	int status;

	if (s->cache != NULL)
		st = smk_ldap_cache_lookup(s->cache, s->l, t->address, &c, &err);
	else
		st = smk_ldap_lookup(s->l, t->address, &c, &err);
	status = check_found(s->cache ? "smimekit cached" : "smimekit", t, st, c, &err);
	smk_ldap_certs_unref(c);
	return status;
}

/* Every address into the cache, each checked. */
static int
cache_warm(struct smk *s, unsigned users, const char *base)
{
	struct smk_ldap_cache_stats stats;
	struct target t;

	for (unsigned n = 1; n <= users; n++) {
		int rc;

		snprintf(t.address, sizeof(t.address), "user%u@example.org", n);
		if (asprintf(&t.dn, "uid=user%u,ou=people,%s", n, base) < 0)
			return -1;
		rc = smk_lookup(s, &t);
		free(t.dn);
		if (rc < 0)
			return -1;
	}
	smk_ldap_cache_stats(s->cache, &stats);
	if (stats.entries != users || stats.evicted != 0) {
		fprintf(stderr, PROG ": the warmed cache holds %zu addresses (%" PRIu64
			" evicted), not %u\n", stats.entries, stats.evicted, users);
		return -1;
	}
	return 0;
}

/* ---- 4. ldapsearch per lookup ----------------------------------------- */

struct proc {
	const char *ldapsearch, *uri, *base;
	bool capture;		/* stdout to out (the checked run), else /dev/null */
	char out[65536];
	size_t out_len;
};

static int
proc_lookup(void *arg, const struct target *t)
{
	struct proc *p = arg;
	struct berval in = { strlen(t->address), (char *)t->address }, esc = { 0, NULL };
	char filter[ADDR_MAX * 3 + 16];
	char *argv[] = {
		(char *)p->ldapsearch, "-x", "-LLL", "-H", (char *)p->uri, "-b", (char *)p->base,
		filter, ATTR_CERT, ATTR_SMIME, NULL
	};
	int fds[2] = { -1, -1 }, status;
	pid_t pid;

	if (ldap_bv2escaped_filter_value(&in, &esc) != 0)
		return -1;
	snprintf(filter, sizeof(filter), "(mail=%s)", esc.bv_val);
	ber_memfree(esc.bv_val);
	if (p->capture && pipe(fds) < 0) {
		fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int in_fd = open("/dev/null", O_RDWR);
		int out_fd = p->capture ? fds[1] : in_fd;

		if (in_fd < 0 || dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
			_exit(126);
		execvp(argv[0], argv);
		fprintf(stderr, PROG ": %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (p->capture) {
		ssize_t r;

		close(fds[1]);
		p->out_len = 0;
		while ((r = read(fds[0], p->out + p->out_len, sizeof(p->out) - 1 - p->out_len)) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 || p->out_len + (size_t)r >= sizeof(p->out) - 1)
				break;
			p->out_len += (size_t)r;
		}
		p->out[p->out_len] = '\0';
		close(fds[0]);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, PROG ": waitpid: %s\n", strerror(errno));
			return -1;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, PROG ": %s %s failed (%s %d)\n", p->ldapsearch, filter,
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return -1;
	}
	return 0;
}

/* Occurrences of the line start prefix in text. */
static unsigned
count_lines(const char *text, const char *prefix)
{
	size_t len = strlen(prefix);
	unsigned n = 0;

	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, prefix, len) == 0)
			n++;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return n;
}

/* One ldapsearch with its output read: the entry and one certificate. */
static int
proc_check(struct proc *p)
{
	char want_dn[512];

	p->capture = true;
	if (proc_lookup(p, &seq[0]) < 0)
		return -1;
	p->capture = false;
	snprintf(want_dn, sizeof(want_dn), "dn: %s\n", seq[0].dn);
	if (strncmp(p->out, want_dn, strlen(want_dn)) != 0 || count_lines(p->out, "dn:") != 1 ||
	    count_lines(p->out, ATTR_CERT ":: ") != 1 || count_lines(p->out, ATTR_SMIME) != 0) {
		fprintf(stderr, PROG ": ldapsearch for %s: not one entry %s with one certificate:\n%.400s\n",
			seq[0].address, seq[0].dn, p->out);
		return -1;
	}
	return 0;
}

/* ---- main ------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fputs("Usage: bench/ldap-lookup --uri URI --base BASE [--users N] [--min-time SECONDS]\n"
	      "                         [--ldapsearch PATH] [--ldapsearch-time SECONDS]\n"
	      "\n"
	      "Lookups per second of a mail address's certificate in LDAP: bare libldap,\n"
	      "smimekit's smk_ldap_lookup, its cache, and an ldapsearch process per lookup.\n"
	      "The server must hold uid=userN,ou=people,BASE, N = 1..USERS, with mail\n"
	      "userN@example.org and one userCertificate;binary (bench/ldap-lookup.sh\n"
	      "makes such a server).\n"
	      "\n"
	      "  --uri URI                the server (anonymous bind)\n"
	      "  --base BASE              the search base\n"
	      "  --users N                entries userN (default 10000)\n"
	      "  --min-time SECONDS       least time per measuring round (default 0.5)\n"
	      "  --ldapsearch PATH        the ldapsearch command (default ldapsearch)\n"
	      "  --ldapsearch-time SECS   time for the ldapsearch processes (default 3)\n"
	      "  -h, --help               this text\n", f);
}

static bool
parse_seconds(const char *opt, const char *arg, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(arg, &end);
	if (errno != 0 || *end != '\0' || !(*out > 0 && *out < 3600)) {
		fprintf(stderr, PROG ": --%s: '%s' is not a duration\n", opt, arg);
		return false;
	}
	return true;
}

static const char *
libldap_version(char *buf, size_t len)
{
	LDAPAPIInfo info = { .ldapai_info_version = LDAP_API_INFO_VERSION };

	if (ldap_get_option(NULL, LDAP_OPT_API_INFO, &info) != LDAP_OPT_SUCCESS) {
		snprintf(buf, len, "?");
		return buf;
	}
	snprintf(buf, len, "%s %d.%d.%d", info.ldapai_vendor_name,
		 info.ldapai_vendor_version / 10000, info.ldapai_vendor_version / 100 % 100,
		 info.ldapai_vendor_version % 100);
	ldap_memfree(info.ldapai_vendor_name);
	if (info.ldapai_extensions != NULL) {
		for (char **e = info.ldapai_extensions; *e != NULL; e++)
			ldap_memfree(*e);
		ldap_memfree(info.ldapai_extensions);
	}
	return buf;
}

enum { M_BARE, M_SMK, M_CACHE, M_PROC, N_METHODS };

static const char *const method_names[N_METHODS] = {
	"1. bare libldap (ldap_search_ext_s)",
	"2. smimekit uncached (smk_ldap_lookup)",
	"3. smimekit cached (cache hits)",
	"4. ldapsearch process per lookup",
};

static void
print_table(const double rate[N_METHODS], double min_time, double ldapsearch_time)
{
	double smk_ratio = rate[M_SMK] / rate[M_BARE];

	puts("method                                 |   lookups/s | us/lookup | ratio to bare libldap");
	puts("---------------------------------------+-------------+-----------+----------------------");
	for (int m = 0; m < N_METHODS; m++)
		printf("%-38s | %11.0f | %9.2f | %7.3fx\n", method_names[m], rate[m],
		       1e6 / rate[m], rate[m] / rate[M_BARE]);
	puts("");
	printf("targets: 2. smimekit uncached >= 0.80x of bare libldap: %.3fx, %s\n", smk_ratio,
	       smk_ratio >= 0.8 ? "met" : "NOT MET");
	printf("         3. smimekit cached >= 100,000 lookups/s: %.0f, %s\n", rate[M_CACHE],
	       rate[M_CACHE] >= 100000 ? "met" : "NOT MET");
	printf("method:  1-3 best of %d rounds of >= %.2f s each, alternating round by round,\n"
	       "         after a warm-up; 4 one round of >= %.2f s and >= %d processes;\n"
	       "         every result checked (one entry, its DN, one certificate)\n",
	       ROUNDS, min_time, ldapsearch_time, LDAPSEARCH_MIN_RUNS);
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "uri", required_argument, NULL, 'u' },
		{ "base", required_argument, NULL, 'b' },
		{ "users", required_argument, NULL, 'n' },
		{ "min-time", required_argument, NULL, 't' },
		{ "ldapsearch", required_argument, NULL, 'l' },
		{ "ldapsearch-time", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *uri = NULL, *base = NULL, *ldapsearch = "ldapsearch";
	double min_time = DEFAULT_MIN_TIME, ldapsearch_time = DEFAULT_LDAPSEARCH_TIME;
	unsigned users = DEFAULT_USERS;
	struct smk_ldap_settings settings;
	struct smk_error err = { 0 };
	struct bare bare = { 0 };
	struct smk smk = { 0 }, cached = { 0 };
	struct proc *proc = NULL;
	double rate[N_METHODS] = { 0 };
	char version[128];
	int status = EXIT_FAILURE, c;

	smk_ldap_settings_init(&settings);
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		char *end;
		unsigned long v;

		switch (c) {
		case 'u':
			uri = optarg;
			break;
		case 'b':
			base = optarg;
			break;
		case 'n':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v == 0 || v > 10000000) {
				fprintf(stderr, PROG ": --users: '%s' is not a count\n", optarg);
				return EXIT_FAILURE;
			}
			users = (unsigned)v;
			break;
		case 't':
			if (!parse_seconds("min-time", optarg, &min_time))
				return EXIT_FAILURE;
			break;
		case 'l':
			ldapsearch = optarg;
			break;
		case 'T':
			if (!parse_seconds("ldapsearch-time", optarg, &ldapsearch_time))
				return EXIT_FAILURE;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_FAILURE;
		}
	}
	if (optind < argc || uri == NULL || base == NULL) {
		usage(stderr);
		return EXIT_FAILURE;
	}
	/* Before any libldap call: no ldap.conf, ~/.ldaprc or LDAP* variables. */
	setenv("LDAPNOINIT", "1", 1);

	if (seq_new(users, base) < 0 || (proc = calloc(1, sizeof(*proc))) == NULL) {
		fputs(PROG ": out of memory\n", stderr);
		goto out;
	}

	/* The settings smimekit uses; the bare baseline copies what it sends. */
	if (smk_ldap_settings_set(&settings, "uri", uri, &err) < 0 ||
	    smk_ldap_settings_set(&settings, "base", base, &err) < 0 ||
	    (smk.l = smk_ldap_new(&settings, &err)) == NULL) {
		fprintf(stderr, PROG ": %s\n", err.msg);
		goto out;
	}
	smk_ldap_set_log(smk.l, log_stderr, NULL);
	if (smk_ldap_connect(smk.l, &err) != SMK_LDAP_OK) {
		fprintf(stderr, PROG ": smimekit: %s\n", err.msg);
		goto out;
	}
	cached.l = smk.l;	/* the same handle and connection */
	cached.cache = smk_ldap_cache_new(users, settings.cache_ttl, settings.negative_cache_ttl);
	if (cached.cache == NULL) {
		fputs(PROG ": out of memory\n", stderr);
		goto out;
	}
	bare.base = settings.base;
	bare.scope = settings.scope;
	bare.timeout.tv_sec = (time_t)settings.timeout;
	bare.size_limit = (int)settings.size_limit;
	if (bare_open(&bare, uri) < 0)
		goto out;
	proc->ldapsearch = ldapsearch;
	proc->uri = uri;
	proc->base = base;

	printf("smimekit directory lookup benchmark\n"
	       "  libraries: %s, %s\n"
	       "  server:    %s, base %s, %u entries userN (mail userN@example.org)\n"
	       "  lookups:   a pseudo-random sequence of those addresses, the same for every\n"
	       "             method; filter (mail=ADDRESS), attributes " ATTR_CERT " and\n"
	       "             " ATTR_SMIME ", timeout %u s, size limit %u, one connection\n"
	       "  ldapsearch: %s\n\n",
	       libldap_version(version, sizeof(version)), OpenSSL_version(OPENSSL_VERSION),
	       uri, base, users, settings.timeout, settings.size_limit, ldapsearch);
	fflush(stdout);

	fprintf(stderr, PROG ": checking and warming up ...\n");
	if (proc_check(proc) < 0 ||
	    time_round(bare_lookup, &bare, 0.2, 0, BATCH) < 0 ||
	    time_round(smk_lookup, &smk, 0.2, 0, BATCH) < 0 ||
	    cache_warm(&cached, users, base) < 0)
		goto out;

	for (int r = 0; r < ROUNDS; r++) {
		double got[3];

		fprintf(stderr, PROG ": round %d of %d ...\n", r + 1, ROUNDS);
		if ((got[M_BARE] = time_round(bare_lookup, &bare, min_time, 0, BATCH)) < 0 ||
		    (got[M_SMK] = time_round(smk_lookup, &smk, min_time, 0, BATCH)) < 0 ||
		    (got[M_CACHE] = time_round(smk_lookup, &cached, min_time, 0, BATCH)) < 0)
			goto out;
		for (int m = M_BARE; m <= M_CACHE; m++) {
			if (got[m] > rate[m])
				rate[m] = got[m];
		}
	}
	{
		struct smk_ldap_cache_stats stats;

		smk_ldap_cache_stats(cached.cache, &stats);
		if (stats.misses != users || stats.expired != 0 || stats.evicted != 0) {
			fprintf(stderr, PROG ": cache: %" PRIu64 " misses, %" PRIu64 " expired, %"
				PRIu64 " evicted: not all hits after warming %u addresses\n",
				stats.misses, stats.expired, stats.evicted, users);
			goto out;
		}
	}
	fprintf(stderr, PROG ": ldapsearch processes ...\n");
	if ((rate[M_PROC] = time_round(proc_lookup, proc, ldapsearch_time, LDAPSEARCH_MIN_RUNS, 1)) < 0)
		goto out;

	print_table(rate, min_time, ldapsearch_time);
	status = EXIT_SUCCESS;
out:
	if (bare.ld != NULL)
		ldap_unbind_ext_s(bare.ld, NULL, NULL);
	smk_ldap_cache_free(cached.cache);
	smk_ldap_free(smk.l);
	smk_ldap_settings_free(&settings);
	free(proc);
	seq_free();
	if (status != EXIT_SUCCESS)
		fputs(PROG ": FAILED\n", stderr);
	return status;
}
