/* SPDX-License-Identifier: Apache-2.0 */
/* The ascii IMA log parser and replayer on arbitrary input, whole and as a stream. */
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        VtcImaReplayState st;
        gsize total = 0;
        gsize consumed = 0;
        g_autoptr(GError) error = NULL;
        g_autoptr(GError) error2 = NULL;
        g_autoptr(GPtrArray) entries = NULL;

        vtc_ima_replay_state_init(&st);
        if (vtc_ima_replay(data,
                           size,
                           VTC_IMA_FORMAT_ASCII,
                           VTC_IMA_REPLAY_FLAG_NONE,
                           &st,
                           vtc_fuzz_ima_entry_cb,
                           &total,
                           &consumed,
                           &error))
                g_assert(consumed == size);
        else
                g_assert(error != NULL && st.count == 0);
        vtc_ima_replay_state_init(&st);
        if (vtc_ima_replay(data,
                           size,
                           VTC_IMA_FORMAT_ASCII,
                           VTC_IMA_REPLAY_FLAG_PARTIAL | VTC_IMA_REPLAY_FLAG_REJECT_VIOLATIONS,
                           &st,
                           NULL,
                           NULL,
                           &consumed,
                           &error2))
                g_assert(consumed <= size);
        entries = vtc_ima_log_parse(data, size, VTC_IMA_FORMAT_ASCII, NULL);
        return 0;
}
