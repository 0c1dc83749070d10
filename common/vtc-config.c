/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-config.h"

#include "vtc-error.h"

struct _VtcConfig {
        const VtcConfigKey *schema;
        GHashTable *values; /* "group.key" -> value string */
        GPtrArray *files;
};

void
vtc_config_free(VtcConfig *self)
{
        if (self == NULL)
                return;
        g_hash_table_unref(self->values);
        g_ptr_array_unref(self->files);
        g_free(self);
}

static const VtcConfigKey *
vtc_config_find(const VtcConfigKey *schema, const gchar *group, const gchar *key)
{
        for (const VtcConfigKey *k = schema; k->group != NULL; k++) {
                if (g_strcmp0(k->group, group) == 0 && (key == NULL || g_strcmp0(k->key, key) == 0))
                        return k;
        }
        return NULL;
}

static gboolean
vtc_config_check_value(const VtcConfigKey *k, const gchar *value, GError **error)
{
        switch (k->type) {
        case VTC_CONFIG_TYPE_INT: {
                gint64 v = 0;
                g_autoptr(GError) error_local = NULL;
                if (!g_ascii_string_to_signed(value, 10, k->min, k->max, &v, &error_local)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "must be an integer from %" G_GINT64_FORMAT
                                    " to %" G_GINT64_FORMAT,
                                    k->min,
                                    k->max);
                        return FALSE;
                }
                return TRUE;
        }
        case VTC_CONFIG_TYPE_BOOL:
                if (g_strcmp0(value, "true") != 0 && g_strcmp0(value, "false") != 0) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_ARGUMENT,
                                            "must be true or false");
                        return FALSE;
                }
                return TRUE;
        case VTC_CONFIG_TYPE_ENUM: {
                g_auto(GStrv) words = g_strsplit(k->choices, "|", -1);
                if (!g_strv_contains((const gchar *const *)words, value)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "must be one of %s",
                                    k->choices);
                        return FALSE;
                }
                return TRUE;
        }
        case VTC_CONFIG_TYPE_PATH:
                if (value[0] != '\0' && !g_path_is_absolute(value)) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_ARGUMENT,
                                            "must be an absolute path");
                        return FALSE;
                }
                return TRUE;
        case VTC_CONFIG_TYPE_STRING:
        default:
                return TRUE;
        }
}

static gboolean
vtc_config_load_file(VtcConfig *self, const gchar *path, GError **error)
{
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) error_local = NULL;
        g_auto(GStrv) groups = NULL;

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &error_local)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "%s: %s",
                            path,
                            error_local->message);
                return FALSE;
        }
        groups = g_key_file_get_groups(kf, NULL);
        for (guint i = 0; groups[i] != NULL; i++) {
                g_auto(GStrv) keys = NULL;

                if (vtc_config_find(self->schema, groups[i], NULL) == NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "%s: unknown section [%s]",
                                    path,
                                    groups[i]);
                        return FALSE;
                }
                keys = g_key_file_get_keys(kf, groups[i], NULL, NULL);
                for (guint j = 0; keys != NULL && keys[j] != NULL; j++) {
                        const VtcConfigKey *k = vtc_config_find(self->schema, groups[i], keys[j]);
                        g_autofree gchar *value = NULL;
                        g_autoptr(GError) error_value = NULL;

                        if (k == NULL) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_ARGUMENT,
                                            "%s: unknown key '%s' in [%s]",
                                            path,
                                            keys[j],
                                            groups[i]);
                                return FALSE;
                        }
                        value = g_key_file_get_string(kf, groups[i], keys[j], &error_value);
                        if (value == NULL) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_ARGUMENT,
                                            "%s: [%s] %s: %s",
                                            path,
                                            groups[i],
                                            keys[j],
                                            error_value->message);
                                return FALSE;
                        }
                        g_strstrip(value);
                        if (!vtc_config_check_value(k, value, &error_value)) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_ARGUMENT,
                                            "%s: [%s] %s = '%s' %s",
                                            path,
                                            groups[i],
                                            keys[j],
                                            value,
                                            error_value->message);
                                return FALSE;
                        }
                        g_hash_table_insert(self->values,
                                            g_strdup_printf("%s.%s", groups[i], keys[j]),
                                            g_steal_pointer(&value));
                }
        }
        g_ptr_array_add(self->files, g_strdup(path));
        return TRUE;
}

static gint
vtc_config_strcmp(gconstpointer a, gconstpointer b)
{
        return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

VtcConfig *
vtc_config_load(const VtcConfigKey *schema, const gchar *path, GError **error)
{
        g_autoptr(VtcConfig) self = g_new0(VtcConfig, 1);
        g_autofree gchar *dropin_dir = NULL;
        g_autoptr(GDir) dir = NULL;
        g_autoptr(GPtrArray) dropins = g_ptr_array_new_with_free_func(g_free);
        const gchar *name;

        self->schema = schema;
        self->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        self->files = g_ptr_array_new_with_free_func(g_free);
        for (const VtcConfigKey *k = schema; k->group != NULL; k++) {
                if (k->default_value != NULL) {
                        g_hash_table_insert(self->values,
                                            g_strdup_printf("%s.%s", k->group, k->key),
                                            g_strdup(k->default_value));
                }
        }
        if (path == NULL)
                return g_steal_pointer(&self);
        if (g_file_test(path, G_FILE_TEST_EXISTS) && !vtc_config_load_file(self, path, error))
                return NULL;
        dropin_dir = g_strdup_printf("%s.d", path);
        dir = g_dir_open(dropin_dir, 0, NULL);
        while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
                if (g_str_has_suffix(name, ".conf"))
                        g_ptr_array_add(dropins, g_build_filename(dropin_dir, name, NULL));
        }
        g_ptr_array_sort(dropins, vtc_config_strcmp);
        for (guint i = 0; i < dropins->len; i++) {
                if (!vtc_config_load_file(self, g_ptr_array_index(dropins, i), error))
                        return NULL;
        }
        return g_steal_pointer(&self);
}

static const gchar *
vtc_config_lookup(VtcConfig *self, const gchar *group, const gchar *key)
{
        g_autofree gchar *id = g_strdup_printf("%s.%s", group, key);

        /* asking for a key the schema lacks is a programming error, not a user's */
        g_return_val_if_fail(vtc_config_find(self->schema, group, key) != NULL, NULL);
        return g_hash_table_lookup(self->values, id);
}

const gchar *
vtc_config_get_string(VtcConfig *self, const gchar *group, const gchar *key)
{
        return vtc_config_lookup(self, group, key);
}

gint64
vtc_config_get_int(VtcConfig *self, const gchar *group, const gchar *key)
{
        const gchar *v = vtc_config_lookup(self, group, key);

        return v != NULL ? g_ascii_strtoll(v, NULL, 10) : 0;
}

gboolean
vtc_config_get_bool(VtcConfig *self, const gchar *group, const gchar *key)
{
        return g_strcmp0(vtc_config_lookup(self, group, key), "true") == 0;
}

GPtrArray *
vtc_config_get_files(VtcConfig *self)
{
        return self->files;
}

gchar *
vtc_config_schema_to_ini(const VtcConfigKey *schema)
{
        GString *out = g_string_new(NULL);
        const gchar *group = NULL;

        for (const VtcConfigKey *k = schema; k->group != NULL; k++) {
                if (g_strcmp0(group, k->group) != 0) {
                        group = k->group;
                        g_string_append_printf(out, "%s[%s]\n", out->len > 0 ? "\n" : "", group);
                }
                g_string_append_printf(out, "# %s\n", k->doc);
                if (k->type == VTC_CONFIG_TYPE_ENUM)
                        g_string_append_printf(out, "# one of: %s\n", k->choices);
                if (k->type == VTC_CONFIG_TYPE_INT)
                        g_string_append_printf(out,
                                               "# %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT "\n",
                                               k->min,
                                               k->max);
                if (k->default_value != NULL)
                        g_string_append_printf(out, "#%s = %s\n", k->key, k->default_value);
                else
                        g_string_append_printf(out, "#%s =\n", k->key);
        }
        return g_string_free(out, FALSE);
}
