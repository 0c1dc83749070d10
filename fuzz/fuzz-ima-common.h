/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the ascii and the binary IMA fuzz targets: one whole and one partial replay. */
#pragma once

#include <stdint.h>

#include "vtc-ima.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gboolean
vtc_fuzz_ima_entry_cb(const VtcImaEntry *entry, guint64 index, gpointer user_data, GError **error)
{
        gsize *total = user_data;

        /* touch every borrowed field, so the sanitizers see any stray pointer */
        if (entry->path != NULL)
                *total += strlen(entry->path);
        for (gsize i = 0; i < entry->template_data_len; i++)
                *total += entry->template_data[i];
        for (gsize i = 0; i < entry->file_hash_len; i++)
                *total += entry->file_hash[i];
        for (gsize i = 0; i < entry->sig_len; i++)
                *total += entry->sig[i];
        for (gsize i = 0; i < entry->buf_len; i++)
                *total += entry->buf[i];
        return TRUE;
}

/* Replays data in format whole (with a callback), then partially with violations rejected.
 * Returns whether the partial replay succeeded; st and consumed are left as it left them. */
static gboolean
vtc_fuzz_ima_replay(const uint8_t *data,
                    size_t size,
                    VtcImaFormat format,
                    VtcImaReplayState *st,
                    gsize *consumed)
{
        gsize total = 0;
        g_autoptr(GError) error = NULL;
        g_autoptr(GError) error2 = NULL;

        vtc_ima_replay_state_init(st);
        if (vtc_ima_replay(data,
                           size,
                           format,
                           VTC_IMA_REPLAY_FLAG_NONE,
                           st,
                           vtc_fuzz_ima_entry_cb,
                           &total,
                           consumed,
                           &error))
                g_assert(*consumed == size);
        else
                g_assert(error != NULL && st->count == 0);
        vtc_ima_replay_state_init(st);
        if (!vtc_ima_replay(data,
                            size,
                            format,
                            VTC_IMA_REPLAY_FLAG_PARTIAL | VTC_IMA_REPLAY_FLAG_REJECT_VIOLATIONS,
                            st,
                            NULL,
                            NULL,
                            consumed,
                            &error2))
                return FALSE;
        g_assert(*consumed <= size);
        return TRUE;
}
