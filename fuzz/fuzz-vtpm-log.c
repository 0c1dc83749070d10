/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the vTPM event log parser a verifier runs over the bytes hostd sends: whatever it
 * accepts must be lines it can name, and replaying it in two increments must give the same PCR
 * as replaying it whole.
 */
#include <stdint.h>
#include <string.h>

#include "vtc-error.h"
#include "vtc-vtpm-log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) entries = NULL;
        const guint8 *buf = size > 0 ? data : (const guint8 *)"";
        guint8 pcr[VTC_VTPM_LOG_DIGEST_SIZE];
        guint8 whole[VTC_VTPM_LOG_DIGEST_SIZE];
        guint8 mid[VTC_VTPM_LOG_DIGEST_SIZE];
        guint8 end[VTC_VTPM_LOG_DIGEST_SIZE];
        guint64 count = 0;
        guint64 c1 = 0;
        guint64 c2 = 0;
        gsize off = 0;
        gsize split = 0;

        if (!vtc_vtpm_log_replay_data_from(buf, size, 0, NULL, pcr, &count, &entries, &error)) {
                g_assert_nonnull(error);
                g_assert_true(error->domain == VTC_ERROR);
                g_assert_true(g_str_has_prefix(error->message, "line ") ||
                              g_str_has_prefix(error->message, "vTPM log of"));
                return 0;
        }
        g_assert_no_error(error);
        g_assert_cmpuint(entries->len, ==, count);
        for (guint i = 0; i < entries->len; i++) {
                const VtcVtpmLogEntry *e = g_ptr_array_index(entries, i);
                g_assert_cmpuint(e->seq, ==, i);
                g_assert_cmpuint(e->line_len, <=, VTC_VTPM_LOG_MAX_LINE);
                g_assert_cmpuint(off + e->line_len + 1, <=, size);
                g_assert_true(memcmp(buf + off, e->line, e->line_len) == 0);
                g_assert_cmpint(buf[off + e->line_len], ==, '\n');
                g_assert_cmpuint(strlen(e->line), ==, e->line_len);
                g_assert_true((e->host != NULL) == (e->type == VTC_VTPM_LOG_HOSTD_START));
                g_assert_true((e->uuid != NULL) == (e->type != VTC_VTPM_LOG_HOSTD_START));
                off += e->line_len + 1;
                if (i + 1 == count / 2)
                        split = off;
        }
        g_assert_cmpuint(off, ==, size);
        g_assert_true(vtc_vtpm_log_replay_data(buf, size, whole, &c1, &error));
        g_assert_cmpmem(whole, sizeof(whole), pcr, sizeof(pcr));
        /* two increments: the first half, then the rest from where it left the PCR */
        g_assert_true(vtc_vtpm_log_replay_data(buf, split, mid, &c1, &error));
        g_assert_cmpuint(c1, ==, count / 2);
        g_assert_true(vtc_vtpm_log_replay_data_from(buf + split,
                                                    size - split,
                                                    c1,
                                                    mid,
                                                    end,
                                                    &c2,
                                                    NULL,
                                                    &error));
        g_assert_no_error(error);
        g_assert_cmpuint(c1 + c2, ==, count);
        g_assert_cmpmem(end, sizeof(end), pcr, sizeof(pcr));
        return 0;
}
