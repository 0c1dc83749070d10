/* SPDX-License-Identifier: Apache-2.0 */
#include <tss2/tss2_esys.h>

#include "vtc-swtpm.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

static void
vtc_swtpm_start_test(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *state = g_build_filename(dir, "tpm", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcSwtpm) tpm = vtc_swtpm_new(state, &error);
        g_autoptr(ESYS_CONTEXT) ctx = NULL;
        TPM2B_DIGEST *random = NULL;
        TSS2_RC rc;

        g_assert_no_error(error);
        g_assert_nonnull(tpm);
        g_assert_cmpint(vtc_swtpm_get_pid(tpm), >, 0);
        ctx = vtc_swtpm_esys_open(tpm, &error);
        g_assert_no_error(error);
        rc = Esys_GetRandom(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, 16, &random);
        g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
        g_assert_cmpuint(random->size, ==, 16);
        Esys_Free(random);
        g_clear_pointer(&ctx, vtc_esys_close);
        g_clear_pointer(&tpm, vtc_swtpm_free);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

static void
vtc_swtpm_bad_tcti_test(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(ESYS_CONTEXT) ctx = vtc_esys_open("swtpm:path=/nonexistent/sock", &error);

        g_assert_null(ctx);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TPM);
        g_assert_nonnull(strstr(error->message, "0x"));
}

int
main(int argc, char **argv)
{
        vtc_test_require_program("swtpm");
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/swtpm/start", vtc_swtpm_start_test);
        g_test_add_func("/swtpm/bad-tcti", vtc_swtpm_bad_tcti_test);
        return g_test_run();
}
