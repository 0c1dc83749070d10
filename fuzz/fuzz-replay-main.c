/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runs LLVMFuzzerTestOneInput over every file of the corpus directories (or files) given, so the
 * corpus is an ordinary regression test under gcc, clang and the sanitizers.
 */
#include <stdint.h>
#include <stdio.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gboolean
vtc_fuzz_replay_file(const gchar *path, guint *count)
{
        g_autofree gchar *buf = NULL;
        gsize len = 0;
        g_autoptr(GError) error = NULL;

        if (!g_file_get_contents(path, &buf, &len, &error)) {
                g_printerr("%s\n", error->message);
                return FALSE;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
        (*count)++;
        return TRUE;
}

int
main(int argc, char **argv)
{
        guint count = 0;

        for (int i = 1; i < argc; i++) {
                if (g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
                        g_autoptr(GError) error = NULL;
                        g_autoptr(GDir) dir = g_dir_open(argv[i], 0, &error);
                        const gchar *name;
                        if (dir == NULL) {
                                g_printerr("%s\n", error->message);
                                return 1;
                        }
                        while ((name = g_dir_read_name(dir)) != NULL) {
                                g_autofree gchar *path = g_build_filename(argv[i], name, NULL);
                                if (!vtc_fuzz_replay_file(path, &count))
                                        return 1;
                        }
                } else if (!vtc_fuzz_replay_file(argv[i], &count)) {
                        return 1;
                }
        }
        if (count == 0) {
                g_printerr("no corpus input found: a replay that runs nothing is a failure\n");
                return 1;
        }
        printf("replayed %u inputs\n", count);
        return 0;
}
