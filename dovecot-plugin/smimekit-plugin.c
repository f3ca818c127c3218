/* smimekit-plugin.c - Dovecot storage plugin: every message stored at
 * delivery becomes an S/MIME message encrypted to the mailbox owner
 *
 * How it hooks in (Dovecot 2.3):
 *  - save_begin: the message is handed on as an istream that produces the
 *    S/MIME message while reading the original, so everything Dovecot
 *    derives from the stored message (maildir S= size, index, cache) is
 *    derived from the ciphertext.
 *  - copy: LMTP saves recipient 2..n by copying recipient 1's stored
 *    message (a hard link on maildir).  Each recipient must get their own
 *    ciphertext, so a copy from another user's mail goes through
 *    save_begin (mail_storage_copy) instead of a link; copies between a
 *    user's own folders stay links of the stored ciphertext.
 *  - the delivery hook (LMTP, dovecot-lda): tells mail_deliver not to keep
 *    recipient 1's message as the source for the others, so they are
 *    saved from the original message, each encrypted to its owner.
 */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "istream.h"
#include "module-context.h"
#include "mail-user.h"
#include "mail-storage-private.h"
#include "mail-storage-hooks.h"
#include "mail-copy.h"
#include "mail-deliver.h"

#include <dlfcn.h>

#include "smk-detect.h"
#include "smimekit-istream.h"
#include "smimekit-plugin.h"
#include "smimekit-recipients.h"
#include "smimekit-settings.h"

/* How much of a message is looked at to tell if it is already encrypted
 * before any lookup is made. */
#define PEEK_MAX (64 * 1024)

#define SMIMEKIT_USER_CONTEXT(obj) MODULE_CONTEXT(obj, smimekit_user_module)
#define SMIMEKIT_CONTEXT(obj) MODULE_CONTEXT_REQUIRE(obj, smimekit_storage_module)

struct smimekit_user {
	union mail_user_module_context module_ctx;
	struct smimekit_settings set;
	bool error_logged;
};

struct smimekit_mailbox {
	union mailbox_module_context module_ctx;
};

static MODULE_CONTEXT_DEFINE_INIT(smimekit_user_module, &mail_user_module_register);
static MODULE_CONTEXT_DEFINE_INIT(smimekit_storage_module, &mail_storage_module_register);

SMIMEKIT_EXPORT const char *smimekit_plugin_version = DOVECOT_ABI_VERSION;

/* mail_deliver_hook_set() exists only in processes that deliver (lmtp,
 * dovecot-lda); looked up at run time so the plugin loads everywhere. */
typedef deliver_mail_func_t *hook_set_fn(deliver_mail_func_t *hook);
static hook_set_fn *deliver_hook_set;
static deliver_mail_func_t *next_deliver_mail;

/* ---- which saves are encrypted ------------------------------------------- */

static struct smimekit_user *
active_user(struct mail_user *user)
{
	struct smimekit_user *suser = SMIMEKIT_USER_CONTEXT(user);

	if (suser == NULL || suser->set.disabled)
		return NULL;
	/* Delivery: LMTP, dovecot-lda, and doveadm (save, import);
	 * smimekit_encrypt = all adds IMAP APPEND and everything else. */
	if (!suser->set.encrypt_all && strcmp(user->service, "lmtp") != 0 &&
	    strcmp(user->service, "lda") != 0 && strcmp(user->service, "doveadm") != 0)
		return NULL;
	return suser;
}

/* Is the message already encrypted?  Looked at only when the input can
 * be rewound (delivery always can); FALSE when unsure. */
static bool
already_encrypted(struct istream *input)
{
	uoff_t start = input->v_offset;
	const unsigned char *data;
	size_t size, want = 4096;
	enum smk_detect_verdict v = SMK_DETECT_PLAIN;
	int ret;

	if (!input->seekable)
		return FALSE;
	for (;;) {
		ret = i_stream_read_bytes(input, &data, &size, want);
		if (ret < 0 && input->stream_errno != 0)
			break;
		v = smk_detect_message((const char *)data, size, ret < 0);
		if (v != SMK_DETECT_NEED_BODY || ret <= 0 || size >= PEEK_MAX)
			break;
		want = size * 2;
	}
	i_stream_seek(input, start);
	return v == SMK_DETECT_ENCRYPTED;
}

/* ---- save ------------------------------------------------------------------ */

static int
fail_save(struct mailbox *box, enum mail_error error, const char *client_msg)
{
	mail_storage_set_error(box->storage, error, client_msg);
	return -1;
}

/* No usable certificate: store in the clear, or fail, as configured. */
static int
no_certificate(struct mail_save_context *ctx, struct istream *input,
	       const struct smimekit_settings *set, const char *why)
{
	struct mailbox *box = ctx->transaction->box;
	struct smimekit_mailbox *sbox = SMIMEKIT_CONTEXT(box);
	struct event *event = box->storage->user->event;

	switch (set->missing_cert) {
	case SMIMEKIT_MISSING_STORE:
		e_info(event, "smimekit: stored in the clear: %s", why);
		return sbox->module_ctx.super.save_begin(ctx, input);
	case SMIMEKIT_MISSING_TEMPFAIL:
		e_warning(event, "smimekit: save deferred (smimekit_missing_cert = tempfail): %s",
			  why);
		return fail_save(box, MAIL_ERROR_TEMP,
				 "Recipient has no usable encryption certificate yet, try again later");
	case SMIMEKIT_MISSING_REJECT:
		e_warning(event, "smimekit: save refused (smimekit_missing_cert = reject): %s",
			  why);
		/* Dovecot 2.3 turns only this error into a permanent
		 * failure (LMTP 552 5.2.2, dovecot-lda a rejection). */
		return fail_save(box, MAIL_ERROR_NOQUOTA,
				 "Recipient has no usable encryption certificate");
	}
	i_unreached();
}

static int
smimekit_save_begin(struct mail_save_context *ctx, struct istream *input)
{
	struct mailbox *box = ctx->transaction->box;
	struct smimekit_mailbox *sbox = SMIMEKIT_CONTEXT(box);
	struct mail_user *user = box->storage->user;
	struct smimekit_user *suser = active_user(user);
	struct smimekit_resolution res;
	struct smk_envelope_opts opts;
	struct istream *encrypted;
	const char *error;
	int ret;

	/* Not ours to encrypt, or a copy of the user's own stored mail. */
	if (suser == NULL ||
	    (ctx->copy_src_mail != NULL && ctx->copy_src_mail->box->storage->user == user))
		return sbox->module_ctx.super.save_begin(ctx, input);

	if (suser->set.error != NULL) {
		if (!suser->error_logged) {
			e_error(user->event, "smimekit: configuration error: %s", suser->set.error);
			suser->error_logged = TRUE;
		}
		return fail_save(box, MAIL_ERROR_TEMP,
				 "Encryption is misconfigured, try again later");
	}
	if (already_encrypted(input)) {
		e_info(user->event, "smimekit: already encrypted, stored unchanged");
		return sbox->module_ctx.super.save_begin(ctx, input);
	}

	smimekit_resolve(user, &suser->set, &res);
	switch (res.result) {
	case SMIMEKIT_RESOLVED:
		break;
	case SMIMEKIT_NO_CERT:
		return no_certificate(ctx, input, &suser->set, res.why);
	case SMIMEKIT_LOOKUP_FAILED:
		if (suser->set.lookup_failure == SMIMEKIT_LOOKUP_STORE) {
			e_warning(user->event, "smimekit: stored in the clear "
				  "(smimekit_lookup_failure = store): %s", res.why);
			return sbox->module_ctx.super.save_begin(ctx, input);
		}
		e_warning(user->event, "smimekit: save deferred: %s", res.why);
		return fail_save(box, MAIL_ERROR_TEMP,
				 "Certificate directory unavailable, try again later");
	case SMIMEKIT_SETUP_FAILED:
		e_error(user->event, "smimekit: %s", res.why);
		return fail_save(box, MAIL_ERROR_TEMP,
				 "Encryption is misconfigured, try again later");
	}

	i_zero(&opts);
	opts.recipients = res.recipients;
	opts.cipher = suser->set.cipher;
	opts.rsa_padding = suser->set.rsa_padding;
	opts.protect_headers = suser->set.protect_headers;
	opts.eol = SMK_EOL_AUTO;
	encrypted = smimekit_istream_create(input, &opts, user->event,
		t_strdup_printf("serial %s (%s%s%s)", res.serials, smk_cipher_name(opts.cipher),
				opts.rsa_padding == SMK_RSA_OAEP ? ", RSA-OAEP" : "",
				opts.protect_headers ? ", header protection" : ""),
		&error);
	smimekit_resolution_free(&res);
	if (encrypted == NULL) {
		e_error(user->event, "smimekit: %s", error);
		return fail_save(box, MAIL_ERROR_TEMP, "Encryption failed, try again later");
	}
	i_stream_set_name(encrypted, t_strdup_printf("smimekit(%s)", i_stream_get_name(input)));
	ret = sbox->module_ctx.super.save_begin(ctx, encrypted);
	i_stream_unref(&encrypted);
	return ret;
}

/* ---- copy ------------------------------------------------------------------ */

static int
smimekit_copy(struct mail_save_context *ctx, struct mail *mail)
{
	struct mailbox *box = ctx->transaction->box;
	struct smimekit_mailbox *sbox = SMIMEKIT_CONTEXT(box);

	/* Another user's message (recipient 1 of the same LMTP transaction,
	 * or a raw delivery source) is never linked: it goes through
	 * save_begin and is encrypted for this user. */
	if (active_user(box->storage->user) != NULL &&
	    mail->box->storage->user != box->storage->user)
		return mail_storage_copy(ctx, mail);
	return sbox->module_ctx.super.copy(ctx, mail);
}

/* ---- status, for doveadm ------------------------------------------------------ */

SMIMEKIT_EXPORT bool
smimekit_user_status(struct mail_user *user, struct smimekit_user_status *st)
{
	struct smimekit_user *suser = SMIMEKIT_USER_CONTEXT(user);
	const struct smimekit_settings *set;
	struct smimekit_resolution res;
	string_t *src = t_str_new(128);

	i_zero(st);
	if (suser == NULL)
		return FALSE;
	set = &suser->set;
	st->address = set->address;
	if (set->have_directory)
		str_printfa(src, "directory %s (base %s)",
			    t_strarray_join((const char *const *)set->ldap.uris, " "), set->ldap.base);
	if (set->cert_path != NULL)
		str_printfa(src, "%sfile %s", str_len(src) > 0 ? ", then " : "", set->cert_path);
	st->sources = str_c(src);
	if (set->disabled) {
		st->state = SMIMEKIT_STATE_DISABLED;
		st->action = "stored as it is (smimekit_disabled = yes)";
		return TRUE;
	}
	if (set->error != NULL) {
		st->state = SMIMEKIT_STATE_CONFIG_ERROR;
		st->detail = set->error;
		st->action = "deferred (temporary failure) until the configuration is fixed";
		return TRUE;
	}
	smimekit_resolve(user, set, &res);
	st->detail = res.why;
	switch (res.result) {
	case SMIMEKIT_RESOLVED:
		st->state = SMIMEKIT_STATE_ENCRYPT;
		st->serials = res.serials;
		st->action = t_strdup_printf("encrypted to serial %s (%s%s%s)", res.serials,
					     smk_cipher_name(set->cipher),
					     set->rsa_padding == SMK_RSA_OAEP ? ", RSA-OAEP" : "",
					     set->protect_headers ? ", header protection" : "");
		break;
	case SMIMEKIT_NO_CERT:
		st->state = SMIMEKIT_STATE_NO_CERT;
		st->action = set->missing_cert == SMIMEKIT_MISSING_STORE ?
			"stored in the clear (smimekit_missing_cert = store)" :
			set->missing_cert == SMIMEKIT_MISSING_TEMPFAIL ?
			"deferred (smimekit_missing_cert = tempfail)" :
			"refused (smimekit_missing_cert = reject)";
		break;
	case SMIMEKIT_LOOKUP_FAILED:
		st->state = SMIMEKIT_STATE_LOOKUP_FAILED;
		st->action = set->lookup_failure == SMIMEKIT_LOOKUP_STORE ?
			"stored in the clear (smimekit_lookup_failure = store)" :
			"deferred (smimekit_lookup_failure = tempfail)";
		break;
	case SMIMEKIT_SETUP_FAILED:
		st->state = SMIMEKIT_STATE_SETUP_FAILED;
		st->action = "deferred (temporary failure) until the configuration is fixed";
		break;
	}
	smimekit_resolution_free(&res);
	return TRUE;
}

/* ---- hooks ------------------------------------------------------------------ */

static int
smimekit_deliver_mail(struct mail_deliver_context *ctx, struct mail_storage **storage_r)
{
	struct smimekit_user *suser = SMIMEKIT_USER_CONTEXT(ctx->rcpt_user);

	/* Recipient 1's stored message is ciphertext for recipient 1: the
	 * others must be saved from the original. */
	if (suser != NULL && !suser->set.disabled)
		ctx->save_dest_mail = FALSE;
	if (next_deliver_mail != NULL)
		return next_deliver_mail(ctx, storage_r);
	return 0;	/* not handled: mail_deliver saves to the default mailbox */
}

static void
smimekit_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct smimekit_mailbox *sbox;

	if (SMIMEKIT_USER_CONTEXT(box->storage->user) == NULL)
		return;
	sbox = p_new(box->pool, struct smimekit_mailbox, 1);
	sbox->module_ctx.super = *v;
	box->vlast = &sbox->module_ctx.super;
	v->save_begin = smimekit_save_begin;
	v->copy = smimekit_copy;
	MODULE_CONTEXT_SET(box, smimekit_storage_module, sbox);
}

static void
smimekit_user_deinit(struct mail_user *user)
{
	struct smimekit_user *suser = SMIMEKIT_USER_CONTEXT(user);

	smimekit_settings_free(&suser->set);
	suser->module_ctx.super.deinit(user);
}

static void
smimekit_user_created(struct mail_user *user)
{
	struct mail_user_vfuncs *v = user->vlast;
	struct smimekit_user *suser;

	suser = p_new(user->pool, struct smimekit_user, 1);
	suser->module_ctx.super = *v;
	user->vlast = &suser->module_ctx.super;
	v->deinit = smimekit_user_deinit;
	smimekit_settings_read(user, &suser->set);
	if (suser->set.error != NULL && !suser->set.disabled) {
		e_error(user->event, "smimekit: configuration error: %s", suser->set.error);
		suser->error_logged = TRUE;
	}
	MODULE_CONTEXT_SET(user, smimekit_user_module, suser);
}

static struct mail_storage_hooks smimekit_mail_storage_hooks = {
	.mail_user_created = smimekit_user_created,
	.mailbox_allocated = smimekit_mailbox_allocated,
};

SMIMEKIT_EXPORT void
smimekit_plugin_init(struct module *module)
{
	mail_storage_hooks_add(module, &smimekit_mail_storage_hooks);
	deliver_hook_set = (hook_set_fn *)dlsym(RTLD_DEFAULT, "mail_deliver_hook_set");
	if (deliver_hook_set != NULL)
		next_deliver_mail = deliver_hook_set(smimekit_deliver_mail);
}

SMIMEKIT_EXPORT void
smimekit_plugin_deinit(void)
{
	if (deliver_hook_set != NULL)
		(void)deliver_hook_set(next_deliver_mail);
	mail_storage_hooks_remove(&smimekit_mail_storage_hooks);
	smimekit_recipients_deinit();
}
