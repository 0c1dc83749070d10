/* SPDX-License-Identifier: Apache-2.0 */
/* The binary IMA log parser and replayer on arbitrary input, whole and as a stream. */
#include "fuzz-ima-common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        VtcImaReplayState st;
        gsize consumed = 0;
        g_autoptr(GPtrArray) entries = NULL;

        if (vtc_fuzz_ima_replay(data, size, VTC_IMA_FORMAT_BINARY, &st, &consumed)) {
                gsize off = 0;

                /* skipping the entries just replayed lands where the replay stopped */
                g_assert(vtc_ima_log_skip(data, size, VTC_IMA_FORMAT_BINARY, st.count, &off, NULL));
                g_assert(off == consumed);
        }
        entries = vtc_ima_log_parse(data, size, VTC_IMA_FORMAT_BINARY, NULL);
        return 0;
}
