/* doveadm-smimekit.c - doveadm smimekit status|encrypt
 *
 * lib10_doveadm_smimekit_plugin.so, in Dovecot's doveadm module
 * directory.  It needs the smimekit mail plugin loaded for doveadm
 * (mail_plugins; doveadm loads this module again after them), whose save
 * hook does the encrypting: `encrypt` saves a new copy of each plaintext
 * message through it, with a GUID derived from the original's, and then
 * expunges the original.  A run interrupted between the two leaves both;
 * the next run sees the copy's GUID and only expunges the original.
 * Already encrypted messages are skipped, so a second run changes
 * nothing.
 */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "istream.h"
#include "mail-namespace.h"
#include "mail-search-build.h"
#include "mail-storage.h"
#include "mailbox-list-iter.h"
#include "hash.h"
#include "hex-binary.h"
#include "file-lock.h"
#include "mail-user.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"

#include <openssl/evp.h>

#include "smk-detect.h"
#include "smimekit-plugin.h"

#define PEEK_MAX (64 * 1024)
#define PROGRESS_EVERY 100
#define LOCK_FNAME ".smimekit-encrypt.lock"

SMIMEKIT_EXPORT const char *doveadm_smimekit_plugin_version = DOVECOT_ABI_VERSION;

SMIMEKIT_EXPORT void doveadm_smimekit_plugin_init(struct module *module);
SMIMEKIT_EXPORT void doveadm_smimekit_plugin_deinit(void);

HASH_TABLE_DEFINE_TYPE(guid_set, const char *, const char *);

struct encrypt_cmd_context {
	struct doveadm_mail_cmd_context ctx;
	ARRAY_TYPE(const_string) mailboxes;	/* -m; none: every mailbox */
};

static const char *
state_name(enum smimekit_user_state state)
{
	switch (state) {
	case SMIMEKIT_STATE_DISABLED: return "disabled";
	case SMIMEKIT_STATE_CONFIG_ERROR: return "configuration error";
	case SMIMEKIT_STATE_ENCRYPT: return "encrypt";
	case SMIMEKIT_STATE_NO_CERT: return "no certificate";
	case SMIMEKIT_STATE_LOOKUP_FAILED: return "lookup failed";
	case SMIMEKIT_STATE_SETUP_FAILED: return "setup failed";
	}
	return "unknown";
}

/* ---- status ------------------------------------------------------------------ */

static int
cmd_status_run(struct doveadm_mail_cmd_context *ctx, struct mail_user *user)
{
	struct smimekit_user_status st;

	if (!smimekit_user_status(user, &st)) {
		i_error("smimekit is not in mail_plugins for %s", user->username);
		doveadm_mail_failed_error(ctx, MAIL_ERROR_NOTPOSSIBLE);
		return -1;
	}
	doveadm_print(st.address != NULL ? st.address : "");
	doveadm_print(state_name(st.state));
	doveadm_print(st.action != NULL ? st.action : "");
	doveadm_print(st.detail != NULL ? st.detail : "");
	doveadm_print(st.sources != NULL ? st.sources : "");
	if (st.state == SMIMEKIT_STATE_CONFIG_ERROR || st.state == SMIMEKIT_STATE_SETUP_FAILED ||
	    st.state == SMIMEKIT_STATE_LOOKUP_FAILED)
		doveadm_mail_failed_error(ctx, MAIL_ERROR_TEMP);
	return 0;
}

static void
cmd_status_init(struct doveadm_mail_cmd_context *ctx ATTR_UNUSED, const char *const args[])
{
	if (args[0] != NULL)
		doveadm_mail_help_name("smimekit status");
	doveadm_print_header_simple("address");
	doveadm_print_header_simple("state");
	doveadm_print_header_simple("action");
	doveadm_print_header_simple("detail");
	doveadm_print_header_simple("sources");
}

static struct doveadm_mail_cmd_context *
cmd_status_alloc(void)
{
	struct doveadm_mail_cmd_context *ctx = doveadm_mail_cmd_alloc(struct doveadm_mail_cmd_context);

	ctx->v.init = cmd_status_init;
	ctx->v.run = cmd_status_run;
	doveadm_print_init(DOVEADM_PRINT_TYPE_PAGER);
	return ctx;
}

/* ---- encrypt ------------------------------------------------------------------ */

/* Is the stored message already encrypted (or did it fail to read)? */
static int
is_encrypted(struct mail *mail, bool *encrypted_r)
{
	struct istream *input;
	const unsigned char *data;
	size_t size, want = 4096;
	enum smk_detect_verdict v;
	int ret;

	if (mail_get_stream(mail, NULL, NULL, &input) < 0)
		return -1;
	for (;;) {
		ret = i_stream_read_bytes(input, &data, &size, want);
		if (ret < 0 && input->stream_errno != 0)
			return -1;
		v = smk_detect_message((const char *)data, size, ret < 0);
		if (v != SMK_DETECT_NEED_BODY || ret < 0 || size >= PEEK_MAX)
			break;
		want = size * 2;
	}
	*encrypted_r = v == SMK_DETECT_ENCRYPTED;
	return 0;
}

/* The GUID the encrypted copy of a message gets: derived from the
 * original's, so that a run interrupted between saving the copy and
 * expunging the original is finished, not repeated, by the next run. */
static const char *
copy_guid(const char *guid)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	const char *in = t_strconcat("smimekit encrypt ", guid, NULL);

	if (EVP_Digest(in, strlen(in), md, &len, EVP_sha256(), NULL) != 1)
		i_fatal("smimekit encrypt: SHA-256 failed");
	return binary_to_hex(md, 16);
}

struct message {
	uint32_t uid;
	const char *guid;
};
ARRAY_DEFINE_TYPE(message, struct message);

/* Saves a new copy of the message through the plugin's save hook (so
 * encrypted), with its flags, keywords and dates and the derived GUID.
 * Returns 0 or -1. */
static int
save_encrypted(struct mailbox *box, struct mail *mail, const char *guid)
{
	struct mailbox_transaction_context *t;
	struct mail_save_context *save_ctx;
	struct mail_keywords *kw;
	struct istream *input;
	time_t received, saved;
	int ret = 0;

	if (mail_get_received_date(mail, &received) < 0 || mail_get_save_date(mail, &saved) < 0 ||
	    mail_get_stream(mail, NULL, NULL, &input) < 0)
		return -1;
	i_stream_seek(input, 0);
	t = mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_EXTERNAL, "smimekit encrypt");
	save_ctx = mailbox_save_alloc(t);
	kw = mailbox_keywords_create_valid(box, mail_get_keywords(mail));
	mailbox_save_set_flags(save_ctx, mail_get_flags(mail), kw);
	mailbox_save_set_received_date(save_ctx, received, 0);
	mailbox_save_set_save_date(save_ctx, saved);
	mailbox_save_set_guid(save_ctx, guid);
	if (mailbox_save_begin(&save_ctx, input) < 0) {
		ret = -1;
	} else {
		do {
			if (mailbox_save_continue(save_ctx) < 0)
				break;
		} while (i_stream_read(input) > 0);
		if (input->stream_errno != 0) {
			i_error("smimekit encrypt: %s UID %u: read failed: %s",
				mailbox_get_vname(box), mail->uid, i_stream_get_error(input));
			mailbox_save_cancel(&save_ctx);
			ret = -1;
		} else if (mailbox_save_finish(&save_ctx) < 0) {
			ret = -1;
		}
	}
	mailbox_keywords_unref(&kw);
	if (ret == 0)
		ret = mailbox_transaction_commit(&t);
	else
		mailbox_transaction_rollback(&t);
	return ret;
}

enum encrypt_result {
	ENCRYPT_FAILED = -1,
	ENCRYPT_SKIPPED,	/* already encrypted (or gone): left as it is */
	ENCRYPT_DONE,		/* re-saved encrypted, the original expunged */
	ENCRYPT_MOVED,		/* already encrypted, re-saved unchanged (order) */
};

/* One message.  A re-saved message gets a new UID, after every other: to
 * keep the messages' order by UID, once one message has been re-saved
 * (*moving), the already encrypted ones after it are re-saved too, as
 * they are (the save hook passes encrypted mail through unchanged). */
static enum encrypt_result
encrypt_one(struct mailbox *box, const struct message *msg, HASH_TABLE_TYPE(guid_set) guids,
	    bool *moving)
{
	struct mailbox_transaction_context *t;
	struct mail *mail;
	const char *guid;
	bool encrypted = FALSE;
	enum encrypt_result ret = ENCRYPT_SKIPPED;

	t = mailbox_transaction_begin(box, 0, "smimekit encrypt");
	mail = mail_alloc(t, MAIL_FETCH_STREAM_HEADER | MAIL_FETCH_STREAM_BODY, NULL);
	if (!mail_set_uid(mail, msg->uid))
		goto out;	/* expunged meanwhile */
	if (is_encrypted(mail, &encrypted) < 0) {
		ret = ENCRYPT_FAILED;
		goto out;
	}
	if (encrypted && !*moving)
		goto out;
	guid = copy_guid(msg->guid);
	/* Its new copy may be there from an interrupted run. */
	if (hash_table_lookup(guids, guid) == NULL && save_encrypted(box, mail, guid) < 0) {
		ret = ENCRYPT_FAILED;
		goto out;
	}
	mail_expunge(mail);
	ret = encrypted ? ENCRYPT_MOVED : ENCRYPT_DONE;
	*moving = TRUE;
out:
	mail_free(&mail);
	if (ret > ENCRYPT_SKIPPED && mailbox_transaction_commit(&t) < 0)
		ret = ENCRYPT_FAILED;
	if (t != NULL)
		mailbox_transaction_rollback(&t);
	if (ret == ENCRYPT_FAILED)
		i_error("smimekit encrypt: %s UID %u: %s", mailbox_get_vname(box), msg->uid,
			mailbox_get_last_internal_error(box, NULL));
	return ret;
}

/* Every message's UID (in order) and GUID. */
static int
all_messages(struct mailbox *box, pool_t pool, ARRAY_TYPE(message) *msgs,
	     HASH_TABLE_TYPE(guid_set) guids)
{
	struct mailbox_transaction_context *t;
	struct mail_search_args *args;
	struct mail_search_context *search;
	struct mail *mail;
	int ret = 0;

	if (mailbox_sync(box, MAILBOX_SYNC_FLAG_FULL_READ) < 0)
		return -1;
	t = mailbox_transaction_begin(box, 0, "smimekit encrypt list");
	args = mail_search_build_init();
	mail_search_build_add_all(args);
	search = mailbox_search_init(t, args, NULL, MAIL_FETCH_GUID, NULL);
	mail_search_args_unref(&args);
	while (mailbox_search_next(search, &mail)) {
		struct message *m = array_append_space(msgs);
		const char *guid;

		if (mail_get_special(mail, MAIL_FETCH_GUID, &guid) < 0) {
			ret = -1;
			break;
		}
		m->uid = mail->uid;
		m->guid = p_strdup(pool, guid);
		hash_table_update(guids, m->guid, m->guid);
	}
	if (mailbox_search_deinit(&search) < 0)
		ret = -1;
	(void)mailbox_transaction_commit(&t);
	return ret;
}

static int
encrypt_mailbox(struct encrypt_cmd_context *ctx, struct mail_user *user, const char *vname)
{
	struct mail_namespace *ns = mail_namespace_find(user->namespaces, vname);
	ARRAY_TYPE(message) msgs;
	HASH_TABLE_TYPE(guid_set) guids;
	pool_t pool = pool_alloconly_create("smimekit encrypt", 4096);
	struct mailbox *box;
	unsigned int done = 0, skipped = 0, moved = 0, failed = 0, n, looked_at = 0;
	const struct message *msg;
	bool moving = FALSE;
	int ret = 0;

	box = mailbox_alloc(ns->list, vname, MAILBOX_FLAG_IGNORE_ACLS);
	p_array_init(&msgs, pool, 256);
	hash_table_create(&guids, pool, 256, str_hash, strcmp);
	if (mailbox_open(box) < 0 || all_messages(box, pool, &msgs, guids) < 0) {
		i_error("smimekit encrypt: %s: %s", vname, mailbox_get_last_internal_error(box, NULL));
		doveadm_mail_failed_mailbox(&ctx->ctx, box);
		mailbox_free(&box);
		hash_table_destroy(&guids);
		pool_unref(&pool);
		return -1;
	}
	n = array_count(&msgs);
	array_foreach(&msgs, msg) {
		switch (encrypt_one(box, msg, guids, &moving)) {
		case ENCRYPT_FAILED: failed++; break;
		case ENCRYPT_SKIPPED: skipped++; break;
		case ENCRYPT_DONE: done++; break;
		case ENCRYPT_MOVED: moved++; break;
		}
		if (++looked_at % PROGRESS_EVERY == 0) {
			/* carry out the expunges so far, and say where we are */
			(void)mailbox_sync(box, 0);
			i_info("smimekit encrypt: %s: %u/%u messages looked at", vname,
			       looked_at, n);
		}
	}
	if (mailbox_sync(box, 0) < 0)
		failed++;
	if (failed > 0) {
		doveadm_mail_failed_mailbox(&ctx->ctx, box);
		ret = -1;
	}
	doveadm_print(vname);
	doveadm_print(dec2str(done));
	doveadm_print(dec2str(skipped));
	doveadm_print(dec2str(moved));
	doveadm_print(dec2str(failed));
	mailbox_free(&box);
	hash_table_destroy(&guids);
	pool_unref(&pool);
	return ret;
}

static int
cmd_encrypt_run(struct doveadm_mail_cmd_context *_ctx, struct mail_user *user)
{
	struct encrypt_cmd_context *ctx = container_of(_ctx, struct encrypt_cmd_context, ctx);
	struct smimekit_user_status st;
	struct mailbox_list_iterate_context *iter;
	const struct mailbox_info *info;
	ARRAY_TYPE(const_string) boxes;
	const char *const *vname, *error;
	struct file_lock *lock;
	int ret = 0, lret;

	if (!smimekit_user_status(user, &st)) {
		i_error("smimekit is not in mail_plugins for %s", user->username);
		doveadm_mail_failed_error(_ctx, MAIL_ERROR_NOTPOSSIBLE);
		return -1;
	}
	if (st.state != SMIMEKIT_STATE_ENCRYPT) {
		/* Without a certificate a "re-save" would change nothing. */
		i_error("smimekit encrypt: %s: nothing to encrypt to (%s): %s", user->username,
			state_name(st.state), st.detail != NULL ? st.detail : "");
		doveadm_mail_failed_error(_ctx, st.state == SMIMEKIT_STATE_LOOKUP_FAILED ?
					  MAIL_ERROR_TEMP : MAIL_ERROR_NOTPOSSIBLE);
		return -1;
	}

	/* Two runs for one user at once would each re-save the other's
	 * messages: one at a time (a lock in the user's home directory). */
	lret = mail_user_lock_file_create(user, LOCK_FNAME, 0, &lock, &error);
	if (lret <= 0) {
		if (lret == 0) {
			i_error("smimekit encrypt: %s: another smimekit encrypt is running "
				"for this user", user->username);
		} else {
			i_error("smimekit encrypt: %s: cannot lock: %s", user->username, error);
		}
		doveadm_mail_failed_error(_ctx, MAIL_ERROR_TEMP);
		return -1;
	}

	t_array_init(&boxes, 16);
	if (array_count(&ctx->mailboxes) > 0) {
		array_append_array(&boxes, &ctx->mailboxes);
	} else {
		iter = mailbox_list_iter_init_namespaces(user->namespaces,
			(const char *const[]){ "*", NULL }, MAIL_NAMESPACE_TYPE_PRIVATE,
			MAILBOX_LIST_ITER_NO_AUTO_BOXES | MAILBOX_LIST_ITER_RETURN_NO_FLAGS);
		while ((info = mailbox_list_iter_next(iter)) != NULL) {
			if ((info->flags & (MAILBOX_NOSELECT | MAILBOX_NONEXISTENT)) == 0) {
				const char *name = t_strdup(info->vname);

				array_push_back(&boxes, &name);
			}
		}
		if (mailbox_list_iter_deinit(&iter) < 0) {
			doveadm_mail_failed_error(_ctx, MAIL_ERROR_TEMP);
			ret = -1;
		}
	}
	array_foreach(&boxes, vname) {
		if (encrypt_mailbox(ctx, user, *vname) < 0)
			ret = -1;
	}
	file_lock_free(&lock);
	return ret;
}

static void
cmd_encrypt_init(struct doveadm_mail_cmd_context *ctx ATTR_UNUSED,
		 const char *const args[])
{
	if (args[0] != NULL)
		doveadm_mail_help_name("smimekit encrypt");
	doveadm_print_header_simple("mailbox");
	doveadm_print_header_simple("encrypted");
	doveadm_print_header_simple("skipped");
	doveadm_print_header_simple("moved");
	doveadm_print_header_simple("failed");
}

static bool
cmd_encrypt_parse_arg(struct doveadm_mail_cmd_context *_ctx, int c)
{
	struct encrypt_cmd_context *ctx = container_of(_ctx, struct encrypt_cmd_context, ctx);
	const char *name;

	if (c != 'm')
		return FALSE;
	name = p_strdup(_ctx->pool, optarg);
	array_push_back(&ctx->mailboxes, &name);
	return TRUE;
}

static struct doveadm_mail_cmd_context *
cmd_encrypt_alloc(void)
{
	struct encrypt_cmd_context *ctx = doveadm_mail_cmd_alloc(struct encrypt_cmd_context);

	ctx->ctx.getopt_args = "m:";
	ctx->ctx.v.parse_arg = cmd_encrypt_parse_arg;
	ctx->ctx.v.init = cmd_encrypt_init;
	ctx->ctx.v.run = cmd_encrypt_run;
	p_array_init(&ctx->mailboxes, ctx->ctx.pool, 4);
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	return &ctx->ctx;
}

static struct doveadm_cmd_ver2 doveadm_cmd_smimekit_status = {
	.name = "smimekit status",
	.mail_cmd = cmd_status_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAMS_END
};

static struct doveadm_cmd_ver2 doveadm_cmd_smimekit_encrypt = {
	.name = "smimekit encrypt",
	.mail_cmd = cmd_encrypt_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[-m mailbox ...]",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('m', "mailbox", CMD_PARAM_ARRAY, 0)
DOVEADM_CMD_PARAMS_END
};

void
doveadm_smimekit_plugin_init(struct module *module ATTR_UNUSED)
{
	doveadm_cmd_register_ver2(&doveadm_cmd_smimekit_status);
	doveadm_cmd_register_ver2(&doveadm_cmd_smimekit_encrypt);
}

void
doveadm_smimekit_plugin_deinit(void)
{
}
