/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes the UEFI event log parser, decoder and replayer, and the accessors the verifier uses. */
#include <stdint.h>
#include <string.h>

#include "vtc-eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEventlog) log =
            vtc_eventlog_new_from_data(size > 0 ? data : (const uint8_t *)"", size, &error);
        gboolean secure_boot = FALSE;
        const guint8 *raw = NULL;
        gsize raw_len = 0;

        if (log == NULL) {
                g_assert_nonnull(error);
                return 0;
        }
        g_assert_no_error(error);
        raw = g_bytes_get_data(log->raw, &raw_len);
        g_assert_cmpuint(raw_len, ==, size);
        for (guint i = 0; i < log->events->len; i++) {
                const VtcEventlogEvent *ev = g_ptr_array_index(log->events, i);
                g_autofree gchar *type = vtc_eventlog_event_type_describe(ev->type);
                g_assert_nonnull(ev->description);
                g_assert_true(g_utf8_validate(ev->description, -1, NULL));
                g_assert_true(ev->data >= raw && ev->data + ev->data_len <= raw + raw_len);
                if (ev->var_data != NULL)
                        g_assert_true(ev->var_data + ev->var_data_len <= ev->data + ev->data_len);
                if (ev->tag_data != NULL)
                        g_assert_true(ev->tag_data + ev->tag_data_len <= ev->data + ev->data_len);
                (void)type;
        }
        (void)vtc_eventlog_get_secure_boot(log, &secure_boot);
        for (guint b = 0; b < log->n_banks; b++) {
                const VtcEventlogBank *bank = &log->banks[b];
                const gchar *const extra[] = {VTC_EVENTLOG_EBS_INVOCATION, NULL};
                guint8 out[VTC_EVENTLOG_MAX_DIGEST];
                g_autoptr(GError) e2 = NULL;
                if (!bank->replayable || bank->digest_size > VTC_EVENTLOG_MAX_DIGEST)
                        continue;
                g_assert_true(
                    vtc_eventlog_replay_pcr_with_extra(log, bank->alg, 5, extra, out, &e2));
                g_assert_true(vtc_eventlog_check_pcr(log,
                                                     bank->alg,
                                                     0,
                                                     bank->pcrs[0],
                                                     bank->digest_size,
                                                     &e2));
        }
        return 0;
}
