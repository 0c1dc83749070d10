/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local socket protocol (hostd/vtc-hostd-proto.c) as the hook, the certify tool and hostd
 * see it from a peer. The first byte chooses the parser; the rest is the input:
 *  0: a frame (4-byte length + JSON) read as a request and as an answer; whatever is accepted
 *     must survive being built again by the client helpers and parsed back unchanged;
 *  1: a domain XML; an accepted one has a name and a canonical UUID;
 *  2: a swtpm_setup --ek string;
 *  3: a --vmid string, a client configuration file and a timeout.
 * Any crash, sanitizer report or broken property aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vtc-hostd-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_roundtrip_hook(const VtcHostdRequest *req)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *json = vtc_hostd_request_hook_to_json(req->hook.event,
                                                                req->hook.phase,
                                                                req->hook.domain_xml,
                                                                &error);
        g_autoptr(VtcHostdRequest) again = NULL;

        if (json == NULL) {
                if (g_error_matches(error, VTC_ERROR, VTC_ERROR_TOO_LARGE))
                        return;
                abort();
        }
        again = vtc_hostd_request_parse(json, strlen(json), &error);
        if (again == NULL || again->op != VTC_HOSTD_OP_HOOK ||
            again->hook.event != req->hook.event || again->hook.phase != req->hook.phase ||
            strcmp(again->hook.domain_xml, req->hook.domain_xml) != 0 ||
            strcmp(again->hook.domain->uuid, req->hook.domain->uuid) != 0 ||
            again->hook.domain->has_tpm != req->hook.domain->has_tpm)
                abort();
}

static void
fuzz_roundtrip_certify(const VtcHostdRequest *req)
{
        const VtcHostdCertifyRequest *c = &req->certify;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *vmid = g_strdup_printf("%s:%s", c->vm_name, c->vm_uuid);
        VtcHostdCertifyArgs args = {
            .type = c->type,
            .ek = c->ek_param,
            .vmid = vmid,
            .tpm_manufacturer = c->tpm_manufacturer,
            .tpm_model = c->tpm_model,
            .tpm_version = c->tpm_version,
            .tpm_spec_family = c->tpm_spec_family,
            .tpm_spec_level = c->tpm_spec_level,
            .tpm_spec_revision = c->tpm_spec_revision,
            .allow_signing = c->allow_signing,
            .decryption = c->decryption,
        };
        g_autofree gchar *json = vtc_hostd_request_certify_to_json(&args, &error);
        g_autoptr(VtcHostdRequest) again = NULL;

        if (json == NULL)
                abort();
        again = vtc_hostd_request_parse(json, strlen(json), &error);
        if (again == NULL || again->op != VTC_HOSTD_OP_CERTIFY || again->certify.type != c->type ||
            EVP_PKEY_eq(again->certify.ek, c->ek) != 1 ||
            strcmp(again->certify.vm_name, c->vm_name) != 0 ||
            strcmp(again->certify.vm_uuid, c->vm_uuid) != 0 ||
            again->certify.tpm_spec_level != c->tpm_spec_level ||
            again->certify.allow_signing != c->allow_signing)
                abort();
}

static void
fuzz_frame(const uint8_t *data, size_t size)
{
        g_autoptr(GBytes) payload = vtc_hostd_proto_frame_parse(data, size, NULL);
        g_autoptr(VtcHostdRequest) req = NULL;
        g_autoptr(VtcHostdAnswer) answer = NULL;
        const gchar *json;
        gsize len = 0;

        if (payload == NULL)
                return;
        json = g_bytes_get_data(payload, &len);
        req = vtc_hostd_request_parse(json, len, NULL);
        if (req != NULL && req->op == VTC_HOSTD_OP_HOOK)
                fuzz_roundtrip_hook(req);
        if (req != NULL && req->op == VTC_HOSTD_OP_CERTIFY)
                fuzz_roundtrip_certify(req);

        answer = vtc_hostd_answer_parse(json, len, NULL);
        if (answer != NULL) {
                g_autoptr(GError) error = NULL;
                gboolean ok = vtc_hostd_answer_check(answer, &error);
                if (ok != answer->ok || (ok && error != NULL) || (!ok && error == NULL))
                        abort();
                if (ok) {
                        g_autofree gchar *again_json = vtc_hostd_answer_ok_to_json(answer->cert);
                        g_autoptr(VtcHostdAnswer) again =
                            vtc_hostd_answer_parse(again_json, strlen(again_json), NULL);
                        if (again == NULL || !again->ok ||
                            (answer->cert != NULL) != (again->cert != NULL) ||
                            (answer->cert != NULL && !g_bytes_equal(answer->cert, again->cert)))
                                abort();
                } else {
                        g_autofree gchar *again_json = vtc_hostd_answer_error_to_json(error);
                        g_autoptr(VtcHostdAnswer) again =
                            vtc_hostd_answer_parse(again_json, strlen(again_json), NULL);
                        if (again == NULL || again->ok)
                                abort();
                }
        }
}

static void
fuzz_domain(const uint8_t *data, size_t size)
{
        g_autoptr(VtcHostdDomain) d = vtc_hostd_domain_parse((const gchar *)data, size, NULL);

        if (d == NULL)
                return;
        if (d->name == NULL || d->uuid == NULL || strlen(d->uuid) != 36 ||
            !g_uuid_string_is_valid(d->uuid) || (d->tpm_secret != NULL && !d->has_tpm) ||
            (d->tpm_version != NULL && !d->has_tpm) ||
            (d->channel_path != NULL && d->channel_path[0] != '/'))
                abort();
        for (const gchar *p = d->uuid; *p != '\0'; p++) {
                if (g_ascii_isupper(*p))
                        abort();
        }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_autofree gchar *str = NULL;

        if (size < 1)
                return 0;
        switch (data[0] % 4) {
        case 0:
                fuzz_frame(data + 1, size - 1);
                break;
        case 1:
                fuzz_domain(data + 1, size - 1);
                break;
        case 2: {
                g_autoptr(EVP_PKEY) ek = NULL;
                str = g_strndup((const gchar *)data + 1, size - 1);
                ek = vtc_hostd_proto_ek_parse(str, NULL);
                break;
        }
        case 3:
        default: {
                gchar *name = NULL;
                gchar *uuid = NULL;
                guint ms = 0;
                g_autoptr(GHashTable) conf = NULL;

                str = g_strndup((const gchar *)data + 1, size - 1);
                if (vtc_hostd_proto_vmid_parse(str, &name, &uuid, NULL)) {
                        if (name == NULL || uuid == NULL || strlen(uuid) != 36)
                                abort();
                        g_free(name);
                        g_free(uuid);
                }
                conf = vtc_hostd_proto_conf_parse((const gchar *)data + 1, size - 1, "fuzz", NULL);
                (void)vtc_hostd_proto_timeout_parse(str, &ms, NULL);
                break;
        }
        }
        return 0;
}
