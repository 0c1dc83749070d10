/* SPDX-License-Identifier: Apache-2.0 */
/* The ascii IMA log parser and replayer on arbitrary input, whole and as a stream. */
#include "fuzz-ima-common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        VtcImaReplayState st;
        gsize consumed = 0;
        g_autoptr(GPtrArray) entries = NULL;

        vtc_fuzz_ima_replay(data, size, VTC_IMA_FORMAT_ASCII, &st, &consumed);
        entries = vtc_ima_log_parse(data, size, VTC_IMA_FORMAT_ASCII, NULL);
        return 0;
}
