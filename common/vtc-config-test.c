/* SPDX-License-Identifier: Apache-2.0 */
#include <glib/gstdio.h>

#include "vtc-config.h"
#include "vtc-error.h"
#include "vtc-test-common.h"

static const VtcConfigKey schema[] = {
    {"server", "port", VTC_CONFIG_TYPE_INT, "8890", 1, 65535, NULL, "TCP port"},
    {"server", "host", VTC_CONFIG_TYPE_STRING, "127.0.0.1", 0, 0, NULL, "address"},
    {"db", "path", VTC_CONFIG_TYPE_PATH, "/var/lib/vtc/x.db", 0, 0, NULL, "database"},
    {"db", "wal", VTC_CONFIG_TYPE_BOOL, "true", 0, 0, NULL, "WAL mode"},
    {"policy", "mode", VTC_CONFIG_TYPE_ENUM, "fail_closed", 0, 0, "fail_closed|fail_open", "m"},
    {"policy", "note", VTC_CONFIG_TYPE_STRING, NULL, 0, 0, NULL, "unset by default"},
    {NULL}};

static void
write_file(const gchar *path, const gchar *text)
{
        g_autoptr(GError) error = NULL;
        g_assert_true(g_file_set_contents(path, text, -1, &error));
}

static void
vtc_config_load_test(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *path = g_build_filename(dir, "x.conf", NULL);
        g_autofree gchar *dropins = g_build_filename(dir, "x.conf.d", NULL);
        g_autofree gchar *d1 = g_build_filename(dropins, "10-a.conf", NULL);
        g_autofree gchar *d2 = g_build_filename(dropins, "20-b.conf", NULL);
        g_autofree gchar *ignored = g_build_filename(dropins, "30-c.conf.bak", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcConfig) cfg = NULL;

        /* no file at all: the defaults */
        cfg = vtc_config_load(schema, path, &error);
        g_assert_no_error(error);
        g_assert_cmpint(vtc_config_get_int(cfg, "server", "port"), ==, 8890);
        g_assert_true(vtc_config_get_bool(cfg, "db", "wal"));
        g_assert_null(vtc_config_get_string(cfg, "policy", "note"));
        g_clear_pointer(&cfg, vtc_config_free);

        write_file(path, "[server]\nport = 9000\nhost=0.0.0.0\n");
        g_assert_cmpint(g_mkdir(dropins, 0755), ==, 0);
        write_file(d2, "[server]\nport = 9002\n");
        write_file(d1, "[server]\nport = 9001\n[policy]\nmode=fail_open\n");
        write_file(ignored, "[nonsense]\n");
        cfg = vtc_config_load(schema, path, &error);
        g_assert_no_error(error);
        /* drop-ins in name order, the last one wins */
        g_assert_cmpint(vtc_config_get_int(cfg, "server", "port"), ==, 9002);
        g_assert_cmpstr(vtc_config_get_string(cfg, "server", "host"), ==, "0.0.0.0");
        g_assert_cmpstr(vtc_config_get_string(cfg, "policy", "mode"), ==, "fail_open");
        g_assert_cmpuint(vtc_config_get_files(cfg)->len, ==, 3);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

static void
vtc_config_errors_test(void)
{
        const struct {
                const gchar *text;
                const gchar *needle;
        } cases[] = {
            {"[server]\nport = 0\n", "port"},
            {"[server]\nport = 80x\n", "port"},
            {"[server]\nprot = 80\n", "unknown key 'prot'"},
            {"[srv]\nport = 80\n", "unknown section [srv]"},
            {"[db]\nwal = yes\n", "true or false"},
            {"[db]\npath = relative/x.db\n", "absolute"},
            {"[policy]\nmode = sometimes\n", "fail_closed|fail_open"},
            {"not an ini file", "x.conf"},
        };

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree gchar *dir = vtc_test_tmpdir_new();
                g_autofree gchar *path = g_build_filename(dir, "x.conf", NULL);
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcConfig) cfg = NULL;

                write_file(path, cases[i].text);
                cfg = vtc_config_load(schema, path, &error);
                g_assert_null(cfg);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
                g_assert_nonnull(strstr(error->message, cases[i].needle));
                /* the file is always named */
                g_assert_nonnull(strstr(error->message, "x.conf"));
                vtc_test_tmpdir_free(g_steal_pointer(&dir));
        }
}

static void
vtc_config_ini_test(void)
{
        g_autofree gchar *ini = vtc_config_schema_to_ini(schema);
        g_autoptr(GKeyFile) kf = g_key_file_new();

        g_assert_nonnull(strstr(ini, "[server]\n# TCP port\n# 1 to 65535\n#port = 8890\n"));
        g_assert_nonnull(strstr(ini, "# one of: fail_closed|fail_open"));
        g_assert_true(g_key_file_load_from_data(kf, ini, -1, G_KEY_FILE_NONE, NULL));
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/config/load", vtc_config_load_test);
        g_test_add_func("/config/errors", vtc_config_errors_test);
        g_test_add_func("/config/ini", vtc_config_ini_test);
        return g_test_run();
}
