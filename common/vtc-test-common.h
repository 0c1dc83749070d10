/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Helpers shared by the unit tests; never linked into a program. */

#include <stdlib.h>

#include <glib.h>

/*
 * The shared real-world corpus lives outside the repository. Without it a test skips (exit 77),
 * unless VTC_TEST_REQUIRE_ALL is set (as in CI), where a missing part is a failure.
 */
static inline gchar *
vtc_test_data_path(const gchar *relpath)
{
        const gchar *root = g_getenv("VTC_TESTDATA");
        g_autofree gchar *path = NULL;

        if (root == NULL)
                root = "../shared/testdata";
        path = g_build_filename(root, relpath, NULL);
        if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
                if (g_getenv("VTC_TEST_REQUIRE_ALL") != NULL)
                        g_error("test data %s is missing and VTC_TEST_REQUIRE_ALL is set", path);
                g_printerr("test data %s is missing: skipping\n", path);
                exit(77);
        }
        return g_steal_pointer(&path);
}

/* Same rule for a program the test needs (swtpm, tpm2_checkquote, evmctl). */
static inline void
vtc_test_require_program(const gchar *name)
{
        g_autofree gchar *path = g_find_program_in_path(name);

        if (path != NULL)
                return;
        if (g_getenv("VTC_TEST_REQUIRE_ALL") != NULL)
                g_error("%s is not installed and VTC_TEST_REQUIRE_ALL is set", name);
        g_printerr("%s is not installed: skipping\n", name);
        exit(77);
}

/* A temporary directory removed by vtc_test_tmpdir_free(). */
static inline gchar *
vtc_test_tmpdir_new(void)
{
        g_autoptr(GError) error = NULL;
        gchar *dir = g_dir_make_tmp("vtc-test-XXXXXX", &error);

        g_assert_no_error(error);
        return dir;
}

static inline void
vtc_test_tmpdir_free(gchar *dir)
{
        g_autofree gchar *cmd = NULL;

        if (dir == NULL)
                return;
        cmd = g_strdup_printf("rm -rf '%s'", dir);
        g_assert_cmpint(system(cmd), ==, 0);
        g_free(dir);
}
