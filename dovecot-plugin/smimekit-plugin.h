#ifndef SMIMEKIT_PLUGIN_H
#define SMIMEKIT_PLUGIN_H

/* smimekit-plugin.h - what Dovecot looks up in lib90_smimekit_plugin.so */

#define SMIMEKIT_EXPORT __attribute__((visibility("default")))

struct module;

extern SMIMEKIT_EXPORT const char *smimekit_plugin_version;
SMIMEKIT_EXPORT void smimekit_plugin_init(struct module *module);
SMIMEKIT_EXPORT void smimekit_plugin_deinit(void);

#endif
