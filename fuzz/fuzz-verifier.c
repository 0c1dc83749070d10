/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verifier's round check on arbitrary input: a JSON text, split as hostd's /v1/round answer
 * {"guest", "host", "placement"} (or, when it is not one, given whole as both the guest evidence
 * and the host answer), checked twice on a fresh VM (the second round from whatever state the
 * first left). The VM's AKs, TLS key and the nonce are those of corpus/verifier/round-clean.json,
 * a real round from verifier/vtc-verifier-check-test (VTC_VERIFIER_FUZZ_SEEDS=DIR writes one), so
 * mutations of it get past the signatures into the Merkle proof, vTPM log, boot and IMA checks.
 */
#include <stdint.h>
#include <string.h>

#include "vtc-json.h"
#include "vtc-verifier-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const gchar guest_ak_b64[] =
    "AFgAIwALAAUAcgAAABAAGAALAAMAEAAgOMmDJtFePtiMjhC5uIRXkmdkhj0xXBfPgsmr3ufOTjgAIAv3/FHfHVRaOXniMj/Xx+9J+D02U37xPGDJ6VRDpJVQ";
static const gchar host_ak_b64[] =
    "ARgAAQALAAUAcgAAABAAFAALCAAAAAAAAQC9iBwH7lIOXyQH36ZN9+2AsR/tcS42e91p2HJpSQe4zoZR3yyFjWlHpXVKmpBFWt2++JBkIkhgJasi72PtfkRTIF+o0Ba8yZKc2XhHIlkDf8OSSWh+qU1A9VUZYapsdoRK7yHpAwqkmPxYFTw/ANEiShBkEbreGDsOC8aVTfvIyvGqva1AGxeKFs2n/4Rj0GRJ9yPVU0h3hoj8QPowfJD/akYMyLNvbT9fbk7l15KuSrvCJ9qfNMnC8fBVTunZ9Zmmus0AqYKNONAWuZuEFaNDkpusRLmx/g0hg1ypaXOpdZYaBmKRkj2cW2Lc7Jc6jzixaDp1Zgd2XGaUPO4djAj3";
static const gchar vm_uuid[] = "6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f";

static VtcVerifierHost *
fuzz_host(void)
{
        static VtcVerifierHost *host = NULL;

        if (host == NULL) {
                gsize len = 0;
                g_autofree guchar *ak = g_base64_decode(host_ak_b64, &len);

                host = vtc_verifier_host_new("host-17", ak, len, NULL);
                g_assert(host != NULL);
        }
        return host;
}

static VtcVerifierPolicy *
fuzz_policy(void)
{
        static VtcVerifierPolicy *policy = NULL;
        static const gchar json[] =
            "{\"meta\":{\"version\":1},\"release\":0,\"digests\":{\"/usr/bin/a\":[\"abababababababababababababababababababababababababababababababab\"]},"
            "\"excludes\":[\"/tmp/.*\"],\"keyrings\":{},\"ima\":{\"ignored_keyrings\":[],"
            "\"log_hash_alg\":\"sha1\",\"dm_policy\":null},\"ima-buf\":{},"
            "\"verification-keys\":\"\"}";

        if (policy == NULL) {
                g_autoptr(GError) error = NULL;
                VtcRuntimePolicy *runtime =
                    vtc_runtime_policy_new_from_json(json, strlen(json), &error);

                g_assert_no_error(error);
                policy = vtc_verifier_policy_new();
                vtc_verifier_policy_set_runtime(policy, runtime);
                vtc_verifier_policy_set_secure_boot(policy, TRUE);
        }
        return policy;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        VtcJsonLimits limits = {1024 * 1024, 16, 1024 * 1024, 10000};
        g_autoptr(JsonObject) obj = NULL;
        g_autoptr(VtcVerifierVm) vm = NULL;
        g_autofree guchar *ak = NULL;
        JsonObject *guest = NULL;
        JsonObject *host = NULL;
        gboolean through_host = FALSE;
        guint8 nonce[32];
        guint8 ek[32];
        guint8 tls[32];
        gsize len = 0;

        obj = vtc_json_parse_object((const gchar *)data, size, &limits, NULL);
        if (obj == NULL)
                return 0;
        if (!vtc_verifier_round_answer_split(obj, &guest, &host, &through_host, NULL)) {
                guest = obj;
                host = obj;
        }
        ak = g_base64_decode(guest_ak_b64, &len);
        memset(ek, 0x11, sizeof(ek));
        for (guint i = 0; i < sizeof(tls); i++)
                tls[i] = (guint8)(0xa0 + i);
        vm = vtc_verifier_vm_new(vm_uuid, ak, len, ek, tls, fuzz_host(), NULL);
        g_assert(vm != NULL);
        /* every other input without a policy, so a clean round can be trusted */
        if (size % 2 == 0)
                vtc_verifier_vm_set_policy(vm, fuzz_policy());
        memset(nonce, 0x42, sizeof(nonce));
        for (guint round = 0; round < 2; round++) {
                g_auto(VtcVerifierVerdict) v = {0};
                g_autofree gchar *state = NULL;

                if (!vtc_verifier_check_round(vm, nonce, guest, host, through_host, &v, NULL))
                        continue;
                g_assert(v.message != NULL);
                g_assert(v.result != VTC_VERIFIER_RESULT_FAILED ||
                         v.reason != VTC_VERIFIER_REASON_NONE);
                state = vtc_verifier_vm_save_state(vm);
                g_assert(vtc_verifier_vm_load_state(vm, state, NULL));
        }
        return 0;
}
