/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A daemon's configuration: one INI file (GKeyFile) plus the drop-ins FILE.d/NAME.conf, read in
 * name order, later files winning key by key. Every key is declared in a schema with its type,
 * default and documentation; an unknown group or key, or a bad value, stops start-up with the
 * file and the key named. Defaults are compiled in, so a missing main file is fine.
 */
typedef enum {
        VTC_CONFIG_TYPE_STRING,
        VTC_CONFIG_TYPE_PATH,
        VTC_CONFIG_TYPE_INT,
        VTC_CONFIG_TYPE_BOOL,
        VTC_CONFIG_TYPE_ENUM, /* one of the '|'-separated words in `choices` */
} VtcConfigType;

typedef struct {
        const gchar *group;
        const gchar *key;
        VtcConfigType type;
        const gchar *default_value; /* as it would be written in the file; NULL: unset */
        gint64 min;                 /* INT only */
        gint64 max;                 /* INT only */
        const gchar *choices;       /* ENUM only */
        const gchar *doc;
} VtcConfigKey;

typedef struct _VtcConfig VtcConfig;

/* @schema ends with an entry whose group is NULL. @path need not exist. */
VtcConfig *vtc_config_load(const VtcConfigKey *schema, const gchar *path, GError **error);
void vtc_config_free(VtcConfig *self);

const gchar *vtc_config_get_string(VtcConfig *self, const gchar *group, const gchar *key);
gint64 vtc_config_get_int(VtcConfig *self, const gchar *group, const gchar *key);
gboolean vtc_config_get_bool(VtcConfig *self, const gchar *group, const gchar *key);
/* The files that were read, in order (for logs and --print-config). */
GPtrArray *vtc_config_get_files(VtcConfig *self);

/* The schema as a commented INI file with every default: for --print-config and doc/. */
gchar *vtc_config_schema_to_ini(const VtcConfigKey *schema);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcConfig, vtc_config_free)

G_END_DECLS
