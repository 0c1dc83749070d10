/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared by the agent's tests: a real swtpm standing in for the vTPM, round requests, and the
 * verifier's checks of the evidence (common/vtc-quote.h, as the verifier does them). */

#include <openssl/rand.h>

#include "vtc-channel.h"
#include "vtc-error.h"
#include "vtc-json.h"
#include "vtc-quote.h"
#include "vtc-swtpm.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

typedef struct {
        gchar *dir;
        gchar *state_dir;
        gchar *ca_dir;
        VtcSwtpm *swtpm;
} VtcAgentTestTpm;

static inline void
vtc_agent_test_tpm_free(VtcAgentTestTpm *t)
{
        if (t == NULL)
                return;
        vtc_swtpm_free(t->swtpm);
        vtc_test_tmpdir_free(t->dir);
        g_free(t->state_dir);
        g_free(t->ca_dir);
        g_free(t);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcAgentTestTpm, vtc_agent_test_tpm_free)

/* A swtpm; @manufacture: with EKs and EK certificates from a private swtpm-localca */
static inline VtcAgentTestTpm *
vtc_agent_test_tpm_new(gboolean manufacture)
{
        VtcAgentTestTpm *t = g_new0(VtcAgentTestTpm, 1);
        g_autoptr(GError) error = NULL;

        vtc_test_require_program("swtpm");
        t->dir = vtc_test_tmpdir_new();
        t->state_dir = g_build_filename(t->dir, "tpm", NULL);
        t->ca_dir = g_build_filename(t->dir, "ca", NULL);
        if (manufacture) {
                vtc_test_require_program("swtpm_setup");
                g_assert_true(vtc_swtpm_manufacture(t->state_dir, t->ca_dir, &error));
                g_assert_no_error(error);
        }
        t->swtpm = vtc_swtpm_new(t->state_dir, &error);
        g_assert_no_error(error);
        return t;
}

static inline void
vtc_agent_test_round_init(VtcChannelRound *r, guint32 sha256_mask, guint64 ima_offset)
{
        memset(r, 0, sizeof(*r));
        g_assert_cmpint(RAND_bytes(r->nonce, sizeof(r->nonce)), ==, 1);
        r->pcrs.n_banks = 1;
        r->pcrs.hash_alg[0] = TPM2_ALG_SHA256;
        r->pcrs.pcr_mask[0] = sha256_mask;
        r->ima_offset = ima_offset;
}

/* The round request as a JSON text ("id"/"op" when @id > 0). */
static inline gchar *
vtc_agent_test_round_json(const VtcChannelRound *r, gint64 id)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        if (id > 0) {
                json_builder_set_member_name(b, "id");
                json_builder_add_int_value(b, id);
                json_builder_set_member_name(b, "op");
                json_builder_add_string_value(b, "round");
        }
        vtc_channel_round_to_json(r, b);
        json_builder_end_object(b);
        return vtc_json_builder_to_string(b);
}

static inline VtcPcrValues *
vtc_agent_test_pcrs_from_json(JsonObject *evidence)
{
        g_autoptr(GError) error = NULL;
        JsonObject *pcrs = vtc_json_get_object(evidence, "pcrs", TRUE, &error);
        g_autoptr(VtcPcrValues) values = vtc_pcr_values_new();
        JsonObjectIter bank_iter;
        const gchar *bank;
        JsonNode *bank_node;

        g_assert_no_error(error);
        json_object_iter_init(&bank_iter, pcrs);
        while (json_object_iter_next(&bank_iter, &bank, &bank_node)) {
                const VtcHashAlg *alg = vtc_hash_alg_from_name(bank);
                JsonObjectIter iter;
                const gchar *index;
                JsonNode *node;

                g_assert_nonnull(alg);
                g_assert_true(JSON_NODE_HOLDS_OBJECT(bank_node));
                json_object_iter_init(&iter, json_node_get_object(bank_node));
                while (json_object_iter_next(&iter, &index, &node)) {
                        g_autoptr(GBytes) d = vtc_hex_decode(json_node_get_string(node), &error);

                        g_assert_no_error(error);
                        g_assert_true(vtc_pcr_values_set(values,
                                                         alg->alg,
                                                         (guint)g_ascii_strtoull(index, NULL, 10),
                                                         g_bytes_get_data(d, NULL),
                                                         g_bytes_get_size(d),
                                                         &error));
                        g_assert_no_error(error);
                }
        }
        return g_steal_pointer(&values);
}

/*
 * The verifier's view: the quote verifies with @ak_public, its qualifyingData is
 * SHA-256(nonce || @tls_key_sha256), the PCR values make its digest, and it covers exactly the
 * requested PCRs. Returns the check's failure (VTC_QUOTE_FAILURE_NONE when valid).
 */
static inline VtcQuoteFailure
vtc_agent_test_check_evidence(JsonObject *evidence,
                              GBytes *ak_public,
                              const VtcChannelRound *r,
                              const guint8 *tls_key_sha256)
{
        g_autoptr(GError) error = NULL;
        JsonObject *quote = vtc_json_get_object(evidence, "quote", TRUE, &error);
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) sig_bytes = NULL;
        g_autoptr(VtcQuote) q = NULL;
        g_autoptr(VtcQuoteAk) ak = NULL;
        g_autoptr(VtcPcrValues) pcrs = vtc_agent_test_pcrs_from_json(evidence);
        g_auto(VtcQuoteResult) result = {0};
        TPMT_SIGNATURE sig = {0};
        guint8 qualifier[32];

        g_assert_no_error(error);
        attest = vtc_json_get_base64(quote, "attest", 4096, TRUE, &error);
        g_assert_no_error(error);
        sig_bytes = vtc_json_get_base64(quote, "signature", 4096, TRUE, &error);
        g_assert_no_error(error);
        q = vtc_quote_parse(g_bytes_get_data(attest, NULL), g_bytes_get_size(attest), &error);
        g_assert_no_error(error);
        g_assert_true(vtc_quote_signature_parse(g_bytes_get_data(sig_bytes, NULL),
                                                g_bytes_get_size(sig_bytes),
                                                &sig,
                                                &error));
        ak = vtc_quote_ak_new_from_public(g_bytes_get_data(ak_public, NULL),
                                          g_bytes_get_size(ak_public),
                                          &error);
        g_assert_no_error(error);
        vtc_channel_quote_qualifier(r->nonce, tls_key_sha256, qualifier);
        g_assert_true(vtc_quote_check(q,
                                      &sig,
                                      ak,
                                      qualifier,
                                      sizeof(qualifier),
                                      pcrs,
                                      TPM2_ALG_NULL,
                                      VTC_QUOTE_CHECK_EXACT_PCRS,
                                      &result,
                                      &error));
        g_assert_no_error(error);
        if (result.valid) {
                for (guint i = 0; i < r->pcrs.n_banks; i++)
                        g_assert_cmphex(vtc_pcr_values_get_mask(result.pcrs, r->pcrs.hash_alg[i]),
                                        ==,
                                        r->pcrs.pcr_mask[i]);
        }
        return result.failure;
}

/* The decoded "data" of @member ("ima_log", "boot_log") or NULL when absent. */
static inline GBytes *
vtc_agent_test_log_data(JsonObject *evidence, const gchar *member)
{
        g_autoptr(GError) error = NULL;
        JsonObject *log = vtc_json_get_object(evidence, member, FALSE, &error);
        GBytes *data;

        g_assert_no_error(error);
        if (log == NULL)
                return NULL;
        data = vtc_json_get_base64(log, "data", VTC_CHANNEL_MAX_IMA, TRUE, &error);
        g_assert_no_error(error);
        return data;
}
