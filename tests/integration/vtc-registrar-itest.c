/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc-registrar as deployed: the real binary in its own process, real HTTPS with the
 * deployment's CA, and real swtpm processes standing in for a host's hardware TPM (with an EK
 * certificate from swtpm_setup's local CA) and for guests' vTPMs (with EK certificates signed by
 * the host's vTPM CA key inside the "hardware" swtpm). Every rejection is checked for its status,
 * its JSON error and for leaving the database exactly as it was.
 */
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <glib/gstdio.h>

#include "vtc-ca.h"
#include "vtc-credential.h"
#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-itest-common.h"
#include "vtc-test-common.h"
#include "vtc-util.h"
#include "vtc-vtpm-ca.h"

#define REGISTRAR_MAX_BODY     262144 /* the compiled-in [limits] max_body */
#define CONCURRENT_ENROLLMENTS 200

/* Two TPMs of one vendor, manufactured once per run (swtpm_setup takes a second or two); every
 * test runs its own swtpm processes on its own copies of their state. */
typedef struct {
        gchar *dir;
        gchar *state;   /* TPM A */
        gchar *state_b; /* TPM B, same vendor CA */
        gchar *ca;      /* the vendor CA (swtpm-localca) */
} Factory;

typedef struct {
        const Factory *factory;
        const gchar *program;
        gchar *dir;
        gchar *tls;
        gchar *trust;
        gchar *config;
        gchar *db;
        VtcItestDaemon *registrar;
        SoupSession *enroll;    /* server-authenticated only, as hosts and guests are */
        SoupSession *admin;     /* with a client certificate of the deployment's CA */
        GPtrArray *keep_guests; /* Guest: alive until the test ends */
        GPtrArray *keep_hosts;  /* Host: alive until the test ends, freed after the guests */
} Fixture;

typedef struct {
        gchar *id;
        VtcItestTpm *tpm;
        ESYS_TR ca; /* the vTPM CA key: a transient primary, ESYS_TR_NONE until made */
        TPM2B_PUBLIC ca_public;
        GBytes *ca_public_bytes;
} Host;

typedef struct {
        gchar *id;
        VtcItestTpm *tpm;
        GBytes *ek_cert;
        gchar *tls_cert_pem;
} Guest;

static void host_free(Host *h);
static void guest_free(Guest *g);

/* ---- fixture --------------------------------------------------------------------------- */

static gchar *
b64(GBytes *data)
{
        return g_base64_encode(g_bytes_get_data(data, NULL), g_bytes_get_size(data));
}

static void
fixture_start_registrar(Fixture *f)
{
        g_autoptr(GError) error = NULL;

        g_assert_null(f->registrar);
        f->registrar = vtc_itest_daemon_start(f->program, f->config, &error);
        g_assert_no_error(error);
        g_assert_nonnull(f->registrar);
}

static void
fixture_stop_registrar(Fixture *f)
{
        g_autoptr(GError) error = NULL;

        g_assert_true(vtc_itest_daemon_stop(f->registrar, &error));
        g_assert_no_error(error);
        g_clear_pointer(&f->registrar, vtc_itest_daemon_free);
}

static void
fixture_setup(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *text = NULL;
        g_autofree gchar *ca_crt = NULL;
        g_autofree gchar *admin_crt = NULL;
        g_autofree gchar *admin_key = NULL;
        const gchar *trust_files[] = {"swtpm-localca-rootca-cert.pem", "issuercert.pem"};

        f->factory = user_data;
        f->keep_guests = g_ptr_array_new_with_free_func((GDestroyNotify)guest_free);
        f->keep_hosts = g_ptr_array_new_with_free_func((GDestroyNotify)host_free);
        f->program = g_getenv("VTC_REGISTRAR");
        if (f->program == NULL)
                g_error("VTC_REGISTRAR is not set: run this test with meson test");
        f->dir = vtc_test_tmpdir_new();
        f->tls = g_build_filename(f->dir, "tls", NULL);
        f->trust = g_build_filename(f->dir, "ek-ca", NULL);
        f->config = g_build_filename(f->dir, "registrar.conf", NULL);
        f->db = g_build_filename(f->dir, "registrar.db", NULL);
        g_assert_true(vtc_itest_tls_init(f->tls, "registrar", &error));
        g_assert_no_error(error);

        /* the vendor trust store: the root and intermediate of the factory's swtpm-localca */
        g_assert_cmpint(g_mkdir(f->trust, 0700), ==, 0);
        for (guint i = 0; i < G_N_ELEMENTS(trust_files); i++) {
                g_autofree gchar *from = g_build_filename(f->factory->ca, trust_files[i], NULL);
                g_autofree gchar *to = g_build_filename(f->trust, trust_files[i], NULL);
                g_autofree gchar *data = NULL;
                gsize len = 0;

                g_assert_true(g_file_get_contents(from, &data, &len, &error));
                g_assert_true(g_file_set_contents(to, data, (gssize)len, &error));
                g_assert_no_error(error);
        }

        text = g_strdup_printf("[server]\n"
                               "address = 127.0.0.1\n"
                               "port = 0\n"
                               "[tls]\n"
                               "cert = %s/registrar.crt\n"
                               "key = %s/registrar.key\n"
                               "client_ca = %s/ca.crt\n"
                               "[database]\n"
                               "path = %s\n"
                               "[ek]\n"
                               "trust_store = %s\n",
                               f->tls,
                               f->tls,
                               f->tls,
                               f->db,
                               f->trust);
        g_assert_true(g_file_set_contents(f->config, text, -1, &error));
        g_assert_no_error(error);
        fixture_start_registrar(f);

        ca_crt = g_build_filename(f->tls, "ca.crt", NULL);
        admin_crt = g_build_filename(f->tls, "admin.crt", NULL);
        admin_key = g_build_filename(f->tls, "admin.key", NULL);
        f->enroll = vtc_http_client_new(ca_crt, NULL, NULL, &error);
        g_assert_no_error(error);
        f->admin = vtc_http_client_new(ca_crt, admin_crt, admin_key, &error);
        g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *f, gconstpointer user_data)
{
        g_ptr_array_unref(f->keep_guests);
        g_ptr_array_unref(f->keep_hosts);
        g_clear_object(&f->enroll);
        g_clear_object(&f->admin);
        /* a clean exit on SIGTERM: under ASan this also says the daemon did not leak */
        if (f->registrar != NULL)
                fixture_stop_registrar(f);
        g_free(f->tls);
        g_free(f->trust);
        g_free(f->config);
        g_free(f->db);
        vtc_test_tmpdir_free(f->dir);
}

static gchar *
fixture_url(Fixture *f, const gchar *path)
{
        return g_strdup_printf("https://127.0.0.1:%u%s",
                               vtc_itest_daemon_get_port(f->registrar),
                               path);
}

static VtcItestReply *
fixture_request(Fixture *f,
                SoupSession *session,
                const gchar *method,
                const gchar *path,
                const gchar *body)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *url = fixture_url(f, path);
        VtcItestReply *reply = vtc_itest_request(session, method, url, body, &error);

        g_assert_no_error(error);
        g_assert_nonnull(reply);
        if (g_test_verbose())
                g_test_message("%s %s -> %u %s", method, path, reply->status, reply->text);
        /* every answer, errors included, is a JSON object */
        g_assert_nonnull(reply->body);
        return reply;
}

/* A request that must succeed. */
static VtcItestReply *
fixture_ok(Fixture *f,
           SoupSession *session,
           const gchar *method,
           const gchar *path,
           const gchar *body)
{
        VtcItestReply *reply = fixture_request(f, session, method, path, body);

        if (reply->status != 200)
                g_error("%s %s: %u %s", method, path, reply->status, reply->text);
        return reply;
}

static gchar *
fixture_dump(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        gchar *dump = vtc_itest_db_dump(f->db, &error);

        g_assert_no_error(error);
        g_assert_nonnull(dump);
        return dump;
}

/* A request that must be refused with @status and @code, changing nothing in the database. */
static void
fixture_assert_rejected(Fixture *f,
                        SoupSession *session,
                        const gchar *method,
                        const gchar *path,
                        const gchar *body,
                        guint status,
                        const gchar *code)
{
        g_autofree gchar *before = fixture_dump(f);
        g_autofree gchar *after = NULL;
        g_autoptr(VtcItestReply) reply = fixture_request(f, session, method, path, body);

        if (reply->status != status || g_strcmp0(vtc_itest_reply_get_string(reply, "error"), code))
                g_error("%s %s: expected %u %s, got %u %s",
                        method,
                        path,
                        status,
                        code,
                        reply->status,
                        reply->text);
        g_assert_nonnull(vtc_itest_reply_get_string(reply, "message"));
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "message"), !=, "");
        after = fixture_dump(f);
        g_assert_cmpstr(before, ==, after);
}

/* ---- hosts and guests ----------------------------------------------------------------- */

static void
host_free(Host *h)
{
        if (h == NULL)
                return;
        if (h->ca != ESYS_TR_NONE)
                vtc_tpm_flush(h->tpm->tpm, h->ca);
        vtc_itest_tpm_free(h->tpm);
        g_clear_pointer(&h->ca_public_bytes, g_bytes_unref);
        g_free(h->id);
        g_free(h);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Host, host_free)

static void
guest_free(Guest *g)
{
        if (g == NULL)
                return;
        vtc_itest_tpm_free(g->tpm);
        g_clear_pointer(&g->ek_cert, g_bytes_unref);
        g_free(g->tls_cert_pem);
        g_free(g->id);
        g_free(g);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Guest, guest_free)

/* A host whose "hardware" TPM is a copy of the factory's: its EK certificate chains to the
 * trust store. */
static Host *
host_new_from(Fixture *f, const gchar *id, const gchar *factory_state)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(Host) h = g_new0(Host, 1);
        g_autofree gchar *name = g_strdup_printf("tpm-%s", id);
        g_autofree gchar *state = g_build_filename(f->dir, name, NULL);

        h->id = g_strdup(id);
        h->ca = ESYS_TR_NONE;
        g_assert_true(vtc_itest_tpm_state_copy(factory_state, state, &error));
        g_assert_no_error(error);
        h->tpm = vtc_itest_tpm_new(state, VTC_TPM_KEY_RSA2048, VTC_TPM_KEY_ECC_P256, &error);
        g_assert_no_error(error);
        g_assert_nonnull(h->tpm->ek_cert);
        return g_steal_pointer(&h);
}

/* Hosts from TPM A (host-1 in most tests) */
static Host *
host_new(Fixture *f, const gchar *id)
{
        return host_new_from(f, id, f->factory->state);
}

/* and from TPM B: another EK and, so, other primary keys (another AK, another CA key) */
static Host *
host_new_b(Fixture *f, const gchar *id)
{
        return host_new_from(f, id, f->factory->state_b);
}

/* A key in @tpm from the signing template, made different from others of its kind by @unique,
 * optionally restricted (an AK) or also a decryption key. */
static void
tpm_make_key(VtcItestTpm *t,
             VtcTpmKeyType type,
             gboolean restricted,
             gboolean decrypt,
             guint8 unique,
             ESYS_TR *out_handle,
             TPM2B_PUBLIC *out_public)
{
        g_autoptr(GError) error = NULL;
        TPM2B_PUBLIC tmpl;

        if (restricted)
                vtc_tpm_template_ak(type, &tmpl);
        else
                vtc_tpm_template_signing_key(type, &tmpl);
        if (decrypt) {
                /* an unrestricted key may both sign and decrypt only without a fixed scheme */
                tmpl.publicArea.objectAttributes |= TPMA_OBJECT_DECRYPT;
                if (type == VTC_TPM_KEY_ECC_P256)
                        tmpl.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
                else
                        tmpl.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        }
        if (unique != 0) {
                if (type == VTC_TPM_KEY_ECC_P256) {
                        tmpl.publicArea.unique.ecc.x.size = 1;
                        tmpl.publicArea.unique.ecc.x.buffer[0] = unique;
                } else {
                        tmpl.publicArea.unique.rsa.size = 1;
                        tmpl.publicArea.unique.rsa.buffer[0] = unique;
                }
        }
        g_assert_true(vtc_tpm_create_primary(t->tpm, &tmpl, out_handle, out_public, &error));
        g_assert_no_error(error);
}

/* The vtpm-ca request body: @object certified by @signer, announcing @announced. */
static gchar *
tpm_certify_json(VtcItestTpm *t, ESYS_TR object, ESYS_TR signer, GBytes *announced)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) sig = NULL;
        g_autofree gchar *pub_b64 = b64(announced);
        g_autofree gchar *attest_b64 = NULL;
        g_autofree gchar *sig_b64 = NULL;

        g_assert_true(vtc_tpm_certify(t->tpm, object, signer, NULL, &attest, &sig, &error));
        g_assert_no_error(error);
        attest_b64 = b64(attest);
        sig_b64 = b64(sig);
        return g_strdup_printf(
            "{\"public\": \"%s\", \"certify_attest\": \"%s\", \"certify_signature\": \"%s\"}",
            pub_b64,
            attest_b64,
            sig_b64);
}

/* POST /v1/hosts; answers the challenge in the TPM and returns the proof. */
static gchar *
host_register(Fixture *f, Host *h)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *body = vtc_itest_registration_json(h->id,
                                                             h->tpm->ek_public_bytes,
                                                             h->tpm->ek_cert,
                                                             h->tpm->ak_public_bytes,
                                                             NULL);
        g_autoptr(VtcItestReply) reply = fixture_ok(f, f->enroll, "POST", "/v1/hosts", body);
        g_autoptr(GBytes) blob = vtc_itest_reply_get_base64(reply, "credential_blob");
        g_autoptr(GBytes) enc = vtc_itest_reply_get_base64(reply, "encrypted_secret");
        gchar *proof;

        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "id"), ==, h->id);
        g_assert_nonnull(blob);
        g_assert_nonnull(enc);
        proof = vtc_itest_tpm_activation_proof(h->tpm, h->id, blob, enc, &error);
        g_assert_no_error(error);
        g_assert_nonnull(proof);
        return proof;
}

static gchar *
proof_json(const gchar *proof)
{
        return g_strdup_printf("{\"proof\": \"%s\"}", proof);
}

static void
host_activate(Fixture *f, Host *h, const gchar *proof)
{
        g_autofree gchar *path = g_strdup_printf("/v1/hosts/%s/activate", h->id);
        g_autofree gchar *body = proof_json(proof);
        g_autoptr(VtcItestReply) reply = fixture_ok(f, f->enroll, "POST", path, body);

        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "id"), ==, h->id);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "state"), ==, "active");
}

/* Makes the host's vTPM CA key (an unrestricted ECC signing key), certifies it by the AK and
 * submits it. */
static void
host_certify_ca(Fixture *f, Host *h)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *path = g_strdup_printf("/v1/hosts/%s/vtpm-ca", h->id);
        g_autofree gchar *body = NULL;
        g_autoptr(VtcItestReply) reply = NULL;
        g_autoptr(EVP_PKEY) pkey = NULL;
        g_autofree gchar *key_id_hex = NULL;
        guint8 key_id[20];

        tpm_make_key(h->tpm, VTC_TPM_KEY_ECC_P256, FALSE, FALSE, 0, &h->ca, &h->ca_public);
        h->ca_public_bytes = vtc_tpm_public_marshal(&h->ca_public);
        body = tpm_certify_json(h->tpm, h->ca, h->tpm->ak, h->ca_public_bytes);
        reply = fixture_ok(f, f->enroll, "POST", path, body);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "id"), ==, h->id);
        pkey = vtc_tpm_public_to_pkey(&h->ca_public, &error);
        g_assert_no_error(error);
        g_assert_true(vtc_vtpm_ca_key_id(pkey, key_id, &error));
        key_id_hex = vtc_hex_encode(key_id, sizeof(key_id));
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "vtpm_ca_key_id"), ==, key_id_hex);
}

/* register + activate + vtpm-ca */
static Host *
host_enroll(Fixture *f, const gchar *id)
{
        g_autoptr(Host) h = host_new(f, id);
        g_autofree gchar *proof = host_register(f, h);

        host_activate(f, h, proof);
        host_certify_ca(f, h);
        return g_steal_pointer(&h);
}

/* An EK certificate for @ek signed by the vTPM CA key inside @h's TPM. */
static GBytes *
host_issue_ek_cert(Host *h,
                   ESYS_TR ca,
                   const TPM2B_PUBLIC *ca_public,
                   const TPM2B_PUBLIC *ek,
                   const gchar *uuid)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(EVP_PKEY) pkey = vtc_tpm_public_to_pkey(ek, &error);
        g_autofree gchar *issuer = g_strdup_printf("vtc vTPM CA %s", h->id);
        VtcEkCertRequest req = {
            .vm_uuid = uuid,
            .vm_name = "itest-guest",
            .manufacturer = "id:00001014",
            .model = "swtpm",
            .version = "id:20191023",
            .issuer_cn = issuer,
            .days = 30,
        };
        GBytes *der;

        g_assert_no_error(error);
        der = vtc_vtpm_ca_issue_ek_cert(h->tpm->tpm, ca, ca_public, pkey, &req, &error);
        g_assert_no_error(error);
        g_assert_nonnull(der);
        return der;
}

/* A guest's vTPM: a fresh swtpm without certificates (its ECC EK is a primary); its EK
 * certificate is issued by @h's certified vTPM CA key; a TLS certificate of the deployment. */
static Guest *
guest_new(Fixture *f, Host *h, VtcTpmKeyType ak_type)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(Guest) g = g_new0(Guest, 1);
        g_autofree gchar *name = NULL;
        g_autofree gchar *state = NULL;
        g_autofree gchar *pem_path = NULL;

        g->id = g_uuid_string_random();
        name = g_strdup_printf("vtpm-%s", g->id);
        state = g_build_filename(f->dir, name, NULL);
        g->tpm = vtc_itest_tpm_new(state, VTC_TPM_KEY_ECC_P256, ak_type, &error);
        g_assert_no_error(error);
        g_assert_null(g->tpm->ek_cert);
        g->ek_cert = host_issue_ek_cert(h, h->ca, &h->ca_public, &g->tpm->ek_public, g->id);
        g_assert_true(vtc_ca_issue(f->tls, name, NULL, 30, &error));
        g_assert_no_error(error);
        pem_path = g_strdup_printf("%s/%s.crt", f->tls, name);
        g_assert_true(g_file_get_contents(pem_path, &g->tls_cert_pem, NULL, &error));
        g_assert_no_error(error);
        return g_steal_pointer(&g);
}

static gchar *
guest_registration_json(Guest *g)
{
        return vtc_itest_registration_json(g->id,
                                           g->tpm->ek_public_bytes,
                                           g->ek_cert,
                                           g->tpm->ak_public_bytes,
                                           g->tls_cert_pem);
}

/* POST /v1/agents, which must name @host_id as the vTPM's maker; returns the proof. */
static gchar *
guest_register(Fixture *f, Guest *g, const gchar *host_id)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *body = guest_registration_json(g);
        g_autoptr(VtcItestReply) reply = fixture_ok(f, f->enroll, "POST", "/v1/agents", body);
        g_autoptr(GBytes) blob = vtc_itest_reply_get_base64(reply, "credential_blob");
        g_autoptr(GBytes) enc = vtc_itest_reply_get_base64(reply, "encrypted_secret");
        gchar *proof;

        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "id"), ==, g->id);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "host_id"), ==, host_id);
        proof = vtc_itest_tpm_activation_proof(g->tpm, g->id, blob, enc, &error);
        g_assert_no_error(error);
        return proof;
}

static void
guest_activate(Fixture *f, Guest *g, const gchar *proof)
{
        g_autofree gchar *path = g_strdup_printf("/v1/agents/%s/activate", g->id);
        g_autofree gchar *body = proof_json(proof);
        g_autoptr(VtcItestReply) reply = fixture_ok(f, f->enroll, "POST", path, body);

        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "state"), ==, "active");
}

static void
assert_member_b64(VtcItestReply *reply, const gchar *member, GBytes *expect)
{
        g_autoptr(GBytes) got = vtc_itest_reply_get_base64(reply, member);

        g_assert_nonnull(got);
        g_assert_true(g_bytes_equal(got, expect));
}

static gint64
reply_get_int(VtcItestReply *reply, const gchar *member)
{
        JsonNode *node = json_object_get_member(reply->body, member);

        g_assert_nonnull(node);
        g_assert_cmpint(json_node_get_value_type(node), ==, G_TYPE_INT64);
        return json_node_get_int(node);
}

/* The ids in the "hosts" or "agents" array of an admin listing, checking each entry's state. */
static GPtrArray *
list_ids(Fixture *f, const gchar *kind, const gchar *state, const gchar *host_id)
{
        g_autofree gchar *path = g_strdup_printf("/v1/%s", kind);
        g_autoptr(VtcItestReply) reply = fixture_ok(f, f->admin, "GET", path, NULL);
        JsonNode *node = json_object_get_member(reply->body, kind);
        GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
        JsonArray *array;

        g_assert_nonnull(node);
        g_assert_true(JSON_NODE_HOLDS_ARRAY(node));
        array = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(array); i++) {
                JsonObject *o = json_array_get_object_element(array, i);
                g_assert_nonnull(o);
                g_assert_cmpstr(json_object_get_string_member(o, "state"), ==, state);
                if (host_id != NULL)
                        g_assert_cmpstr(json_object_get_string_member(o, "host_id"), ==, host_id);
                g_ptr_array_add(ids, g_strdup(json_object_get_string_member(o, "id")));
        }
        return ids;
}

/* ---- the command line ------------------------------------------------------------------- */

static void
run_registrar(const gchar *const *args, gchar **out, gchar **err, gint *status)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        const gchar *program = g_getenv("VTC_REGISTRAR");

        g_assert_nonnull(program);
        g_ptr_array_add(argv, (gpointer)program);
        for (guint i = 0; args[i] != NULL; i++)
                g_ptr_array_add(argv, (gpointer)args[i]);
        g_ptr_array_add(argv, NULL);
        g_assert_true(vtc_itest_run((const gchar *const *)argv->pdata, out, err, status, &error));
        g_assert_no_error(error);
}

static void
cli_help_test(void)
{
        const gchar *args[] = {"--help", NULL};
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;
        gint status = -1;

        run_registrar(args, &out, &err, &status);
        g_assert_cmpint(status, ==, 0);
        g_assert_nonnull(strstr(out, "--config"));
        g_assert_nonnull(strstr(out, "--print-config"));
        g_assert_nonnull(strstr(out, "Exit status"));
        g_assert_nonnull(strstr(out, "Example"));
}

static void
cli_print_config_test(void)
{
        const gchar *args[] = {"--print-config", NULL};
        const gchar *keys[] = {"[server]",
                               "port = 8891",
                               "[tls]",
                               "client_ca",
                               "[database]",
                               "[ek]",
                               "trust_store",
                               "check_validity",
                               "[limits]",
                               "max_body = 262144",
                               "max_json_depth",
                               "max_string",
                               "max_items"};
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;
        gint status = -1;

        run_registrar(args, &out, &err, &status);
        g_assert_cmpint(status, ==, 0);
        for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
                if (strstr(out, keys[i]) == NULL)
                        g_error("--print-config lacks '%s':\n%s", keys[i], out);
        }
}

static void
cli_bad_config_test(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *conf = g_build_filename(dir, "registrar.conf", NULL);
        const gchar *cases[][2] = {
            /* file content, what the error must name */
            {"[server]\nport = 0\nlisten_everywhere = true\n", "listen_everywhere"},
            {"[server]\nport = 70000\n", "port"},
            {"[limits]\nmax_body = lots\n", "max_body"},
            {"[nonsense]\nkey = 1\n", "nonsense"},
        };

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) error = NULL;
                const gchar *args[] = {"--config", conf, NULL};
                g_autofree gchar *out = NULL;
                g_autofree gchar *err = NULL;
                gint status = -1;

                g_assert_true(g_file_set_contents(conf, cases[i][0], -1, &error));
                g_assert_no_error(error);
                run_registrar(args, &out, &err, &status);
                g_assert_cmpint(status, ==, 1);
                if (strstr(err, cases[i][1]) == NULL)
                        g_error("the error for %s does not name it: %s", cases[i][1], err);
                g_assert_cmpstr(out, ==, "");
        }
        /* a bad option is a usage error */
        {
                const gchar *args[] = {"--no-such-option", NULL};
                g_autofree gchar *out = NULL;
                g_autofree gchar *err = NULL;
                gint status = -1;

                run_registrar(args, &out, &err, &status);
                g_assert_cmpint(status, ==, 2);
        }
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

/* ---- enrollment ----------------------------------------------------------------------------- */

static void
host_enroll_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(Host) h = host_new(f, "host-17");
        g_autofree gchar *proof = host_register(f, h);
        g_autoptr(VtcItestReply) reply = NULL;
        g_autoptr(GPtrArray) ids = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *ak_name_hex = NULL;
        TPM2B_NAME name = {0};

        /* registered, not yet active */
        reply = fixture_ok(f, f->admin, "GET", "/v1/hosts/host-17", NULL);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "state"), ==, "registered");
        g_clear_pointer(&reply, vtc_itest_reply_free);

        host_activate(f, h, proof);
        host_certify_ca(f, h);

        reply = fixture_ok(f, f->admin, "GET", "/v1/hosts/host-17", NULL);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "id"), ==, "host-17");
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "state"), ==, "active");
        assert_member_b64(reply, "ek_public", h->tpm->ek_public_bytes);
        assert_member_b64(reply, "ek_cert", h->tpm->ek_cert);
        assert_member_b64(reply, "ak_public", h->tpm->ak_public_bytes);
        assert_member_b64(reply, "vtpm_ca_public", h->ca_public_bytes);
        g_assert_true(vtc_tpm_public_get_name(&h->tpm->ak_public, &name, &error));
        g_assert_no_error(error);
        ak_name_hex = vtc_hex_encode(name.name, name.size);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "ak_name"), ==, ak_name_hex);
        g_assert_cmpint(reply_get_int(reply, "created"), >, 0);
        g_assert_cmpint(reply_get_int(reply, "activated"), >=, reply_get_int(reply, "created"));
        g_clear_pointer(&reply, vtc_itest_reply_free);

        ids = list_ids(f, "hosts", "active", NULL);
        g_assert_cmpuint(ids->len, ==, 1);
        g_assert_cmpstr(g_ptr_array_index(ids, 0), ==, "host-17");

        /* activating twice is a conflict */
        {
                g_autofree gchar *body = proof_json(proof);
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/hosts/host-17/activate",
                                        body,
                                        409,
                                        "conflict");
        }
        reply = fixture_ok(f, f->enroll, "GET", "/v1/version", NULL);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "api"), ==, "v1");
}

static void
agent_enroll_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(Host) h = host_enroll(f, "host-1");
        g_autoptr(Guest) g = guest_new(f, h, VTC_TPM_KEY_RSA2048);
        g_autofree gchar *proof = guest_register(f, g, "host-1");
        g_autofree gchar *path = g_strdup_printf("/v1/agents/%s", g->id);
        g_autoptr(VtcItestReply) reply = NULL;
        g_autoptr(GPtrArray) ids = NULL;
        g_autoptr(GBytes) tls_der = NULL;
        g_autoptr(GBytes) tls_got = NULL;

        reply = fixture_ok(f, f->admin, "GET", path, NULL);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "state"), ==, "registered");
        g_clear_pointer(&reply, vtc_itest_reply_free);

        guest_activate(f, g, proof);

        reply = fixture_ok(f, f->admin, "GET", path, NULL);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "id"), ==, g->id);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "state"), ==, "active");
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "host_id"), ==, "host-1");
        assert_member_b64(reply, "ek_public", g->tpm->ek_public_bytes);
        assert_member_b64(reply, "ek_cert", g->ek_cert);
        assert_member_b64(reply, "ak_public", g->tpm->ak_public_bytes);
        /* the TLS certificate comes back as DER */
        {
                g_autoptr(BIO) bio = BIO_new_mem_buf(g->tls_cert_pem, -1);
                g_autoptr(X509) x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
                guint8 *der = NULL;
                int len;

                g_assert_nonnull(x);
                len = i2d_X509(x, &der);
                g_assert_cmpint(len, >, 0);
                tls_der = g_bytes_new(der, (gsize)len);
                OPENSSL_free(der);
        }
        tls_got = vtc_itest_reply_get_base64(reply, "tls_cert");
        g_assert_nonnull(tls_got);
        g_assert_true(g_bytes_equal(tls_got, tls_der));

        ids = list_ids(f, "agents", "active", "host-1");
        g_assert_cmpuint(ids->len, ==, 1);
        g_assert_cmpstr(g_ptr_array_index(ids, 0), ==, g->id);
}

/* ---- rejections ---------------------------------------------------------------------------- */

/* The database holds an active host with a vTPM CA and a registered agent before each rejection,
 * so that "unchanged" has something to compare. The fixture owns both (their TPMs run until the
 * test ends). */
static Host *
populate(Fixture *f, Guest **out_guest)
{
        Host *h = host_enroll(f, "host-1");
        Guest *g = guest_new(f, h, VTC_TPM_KEY_ECC_P256);
        g_autofree gchar *proof = guest_register(f, g, "host-1");

        g_assert_nonnull(proof);
        g_ptr_array_add(f->keep_guests, g);
        g_ptr_array_add(f->keep_hosts, h);
        if (out_guest != NULL)
                *out_guest = g;
        return h;
}

static void
reject_malformed_json_test(Fixture *f, gconstpointer user_data)
{
        Guest *g = NULL;
        populate(f, &g);
        g_autofree gchar *activate = g_strdup_printf("/v1/agents/%s/activate", g->id);
        const gchar *bodies[] = {
            "{",
            "{\"id\": }",
            "{\"id\": \"host-2\",}",
            "[\"id\", \"host-2\"]",
            "\"host-2\"",
            "null",
            "{\"id\": \"host-2\"} trailing",
            "\xff\xfe{}",
            "",
        };
        const gchar *paths[] = {"/v1/hosts", "/v1/agents", "/v1/hosts/host-1/vtpm-ca", activate};

        for (guint p = 0; p < G_N_ELEMENTS(paths); p++) {
                for (guint i = 0; i < G_N_ELEMENTS(bodies); i++)
                        fixture_assert_rejected(f,
                                                f->enroll,
                                                "POST",
                                                paths[p],
                                                bodies[i],
                                                400,
                                                "invalid_data");
        }
}

static void
reject_wrong_types_test(Fixture *f, gconstpointer user_data)
{
        Guest *g = NULL;
        populate(f, &g);
        g_autoptr(Host) h2 = host_new_b(f, "host-2");
        g_autofree gchar *ek = b64(h2->tpm->ek_public_bytes);
        g_autofree gchar *cert = b64(h2->tpm->ek_cert);
        g_autofree gchar *ak = b64(h2->tpm->ak_public_bytes);
        g_autofree gchar *activate = g_strdup_printf("/v1/agents/%s/activate", g->id);
        g_autofree gchar *gek = b64(g->tpm->ek_public_bytes);
        g_autofree gchar *gcert = b64(g->ek_cert);
        g_autofree gchar *gak = b64(g->tpm->ak_public_bytes);
        g_autoptr(GPtrArray) hosts = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) agents = g_ptr_array_new_with_free_func(g_free);
        g_autofree gchar *uuid = g_uuid_string_random();

#define HOST(id, e, c, a)                                                                   \
        g_ptr_array_add(hosts,                                                              \
                        g_strdup_printf("{\"id\": %s, \"ek_public\": %s, \"ek_cert\": %s, " \
                                        "\"ak_public\": %s}",                               \
                                        id,                                                 \
                                        e,                                                  \
                                        c,                                                  \
                                        a))
        g_autofree gchar *qek = g_strdup_printf("\"%s\"", ek);
        g_autofree gchar *qcert = g_strdup_printf("\"%s\"", cert);
        g_autofree gchar *qak = g_strdup_printf("\"%s\"", ak);
        HOST("17", qek, qcert, qak);
        HOST("null", qek, qcert, qak);
        HOST("[\"host-2\"]", qek, qcert, qak);
        HOST("\"host-2\"", "17", qcert, qak);
        HOST("\"host-2\"", qek, "true", qak);
        HOST("\"host-2\"", qek, qcert, "{\"b64\": \"AAAA\"}");
        HOST("\"host-2\"", "[1, 2, 3]", qcert, qak);
        HOST("\"host-2\"", qek, "null", qak);
#undef HOST
        /* a missing member is as wrong as a mistyped one */
        g_ptr_array_add(hosts,
                        g_strdup_printf("{\"id\": \"host-2\", \"ek_public\": \"%s\", "
                                        "\"ak_public\": \"%s\"}",
                                        ek,
                                        ak));
        g_ptr_array_add(agents,
                        g_strdup_printf("{\"id\": \"%s\", \"ek_public\": \"%s\", \"ek_cert\": "
                                        "\"%s\", \"ak_public\": \"%s\", \"tls_cert\": 42}",
                                        uuid,
                                        gek,
                                        gcert,
                                        gak));
        g_ptr_array_add(agents,
                        g_strdup_printf("{\"id\": %s, \"ek_public\": \"%s\", \"ek_cert\": "
                                        "\"%s\", \"ak_public\": \"%s\"}",
                                        "1.5",
                                        gek,
                                        gcert,
                                        gak));

        for (guint i = 0; i < hosts->len; i++)
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/hosts",
                                        g_ptr_array_index(hosts, i),
                                        400,
                                        "invalid_data");
        for (guint i = 0; i < agents->len; i++)
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/agents",
                                        g_ptr_array_index(agents, i),
                                        400,
                                        "invalid_data");
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                activate,
                                "{\"proof\": 7}",
                                400,
                                "invalid_data");
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                activate,
                                "{\"proof\": [\"00\"]}",
                                400,
                                "invalid_data");
        fixture_assert_rejected(
            f,
            f->enroll,
            "POST",
            "/v1/hosts/host-1/vtpm-ca",
            "{\"public\": 1, \"certify_attest\": {}, \"certify_signature\": []}",
            400,
            "invalid_data");
        /* a malformed id is an invalid argument */
        {
                g_autofree gchar *bad_host = g_strdup_printf(
                    "{\"id\": \"host 2/../x\", \"ek_public\": \"%s\", \"ek_cert\": \"%s\", "
                    "\"ak_public\": \"%s\"}",
                    ek,
                    cert,
                    ak);
                g_autofree gchar *bad_agent =
                    g_strdup_printf("{\"id\": \"not-a-uuid\", \"ek_public\": \"%s\", \"ek_cert\": "
                                    "\"%s\", \"ak_public\": \"%s\"}",
                                    gek,
                                    gcert,
                                    gak);
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/hosts",
                                        bad_host,
                                        400,
                                        "invalid_argument");
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/agents",
                                        bad_agent,
                                        400,
                                        "invalid_argument");
        }
}

static void
reject_oversized_body_test(Fixture *f, gconstpointer user_data)
{
        populate(f, NULL);
        g_autoptr(Host) h2 = host_new_b(f, "host-2");
        g_autofree gchar *ek = b64(h2->tpm->ek_public_bytes);
        g_autofree gchar *cert = b64(h2->tpm->ek_cert);
        g_autofree gchar *ak = b64(h2->tpm->ak_public_bytes);
        /* a valid registration, padded over the limit with whitespace */
        g_autofree gchar *pad = g_strnfill(REGISTRAR_MAX_BODY + 1, ' ');
        g_autofree gchar *big = g_strdup_printf(
            "{\"id\": \"host-2\", \"ek_public\": \"%s\", \"ek_cert\": \"%s\", \"ak_public\": "
            "\"%s\"%s}",
            ek,
            cert,
            ak,
            pad);
        g_autoptr(GString) deep = g_string_new("{\"id\": ");
        g_autoptr(GString) wide = g_string_new("{");
        g_autofree gchar *long_string = g_strnfill(131073, 'A');
        g_autofree gchar *too_long = NULL;

        fixture_assert_rejected(f, f->enroll, "POST", "/v1/hosts", big, 413, "too_large");
        fixture_assert_rejected(f, f->enroll, "POST", "/v1/agents", big, 413, "too_large");

        /* within max_body but over the JSON limits */
        for (guint i = 0; i < 20; i++)
                g_string_append_c(deep, '[');
        for (guint i = 0; i < 20; i++)
                g_string_append_c(deep, ']');
        g_string_append_c(deep, '}');
        fixture_assert_rejected(f, f->enroll, "POST", "/v1/hosts", deep->str, 413, "too_large");
        for (guint i = 0; i < 1001; i++)
                g_string_append_printf(wide, "%s\"m%u\": 0", i > 0 ? ", " : "", i);
        g_string_append_c(wide, '}');
        fixture_assert_rejected(f, f->enroll, "POST", "/v1/hosts", wide->str, 413, "too_large");
        too_long = g_strdup_printf("{\"id\": \"host-2\", \"ek_public\": \"%s\", \"ek_cert\": "
                                   "\"%s\", \"ak_public\": \"%s\"}",
                                   long_string,
                                   cert,
                                   ak);
        fixture_assert_rejected(f, f->enroll, "POST", "/v1/hosts", too_long, 413, "too_large");

        /* the same registration without the padding goes through */
        {
                g_autofree gchar *proof = host_register(f, h2);
                g_assert_nonnull(proof);
        }
}

static void
reject_no_content_length_test(Fixture *f, gconstpointer user_data)
{
        populate(f, NULL);
        g_autofree gchar *before = fixture_dump(f);
        g_autofree gchar *after = NULL;
        g_autofree gchar *url = fixture_url(f, "/v1/hosts");
        g_autoptr(SoupMessage) msg = soup_message_new("POST", url);
        g_autoptr(GInputStream) stream =
            g_memory_input_stream_new_from_data("{\"id\": \"host-2\"}", -1, NULL);
        g_autoptr(GBytes) reply = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonObject *o;

        /* a streamed body of unknown length goes out chunked */
        soup_message_set_request_body(msg, "application/json", stream, -1);
        reply = soup_session_send_and_read(f->enroll, msg, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(soup_message_get_status(msg), ==, 411);
        g_assert_true(json_parser_load_from_data(parser,
                                                 g_bytes_get_data(reply, NULL),
                                                 (gssize)g_bytes_get_size(reply),
                                                 &error));
        g_assert_no_error(error);
        o = json_node_get_object(json_parser_get_root(parser));
        g_assert_cmpstr(json_object_get_string_member(o, "error"), ==, "too_large");
        after = fixture_dump(f);
        g_assert_cmpstr(before, ==, after);
}

static void
reject_bad_base64_test(Fixture *f, gconstpointer user_data)
{
        Guest *g = NULL;
        populate(f, &g);
        g_autoptr(Host) h2 = host_new_b(f, "host-2");
        g_autofree gchar *ek = b64(h2->tpm->ek_public_bytes);
        g_autofree gchar *cert = b64(h2->tpm->ek_cert);
        g_autofree gchar *ak = b64(h2->tpm->ak_public_bytes);
        const gchar *bad[] = {"not base64!", "AAA", "AA=A", "====", "AAAA\x01"};
        g_autofree gchar *activate = g_strdup_printf("/v1/agents/%s/activate", g->id);

        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree gchar *b1 = g_strdup_printf(
                    "{\"id\": \"host-2\", \"ek_public\": \"%s\", \"ek_cert\": \"%s\", "
                    "\"ak_public\": \"%s\"}",
                    bad[i],
                    cert,
                    ak);
                g_autofree gchar *b2 = g_strdup_printf(
                    "{\"id\": \"host-2\", \"ek_public\": \"%s\", \"ek_cert\": \"%s\", "
                    "\"ak_public\": \"%s\"}",
                    ek,
                    bad[i],
                    ak);
                g_autofree gchar *b3 = g_strdup_printf(
                    "{\"id\": \"host-2\", \"ek_public\": \"%s\", \"ek_cert\": \"%s\", "
                    "\"ak_public\": \"%s\"}",
                    ek,
                    cert,
                    bad[i]);
                g_autofree gchar *b4 = g_strdup_printf(
                    "{\"public\": \"%s\", \"certify_attest\": \"AAAA\", \"certify_signature\": "
                    "\"AAAA\"}",
                    bad[i]);
                fixture_assert_rejected(f, f->enroll, "POST", "/v1/hosts", b1, 400, "invalid_data");
                fixture_assert_rejected(f, f->enroll, "POST", "/v1/hosts", b2, 400, "invalid_data");
                fixture_assert_rejected(f, f->enroll, "POST", "/v1/hosts", b3, 400, "invalid_data");
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/hosts/host-1/vtpm-ca",
                                        b4,
                                        400,
                                        "invalid_data");
        }
        /* the proof is hex of 32 bytes */
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                activate,
                                "{\"proof\": \"not hex\"}",
                                400,
                                "invalid_data");
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                activate,
                                "{\"proof\": \"00ff\"}",
                                400,
                                "invalid_data");
}

static void
reject_bad_tpm2b_test(Fixture *f, gconstpointer user_data)
{
        Host *h = populate(f, NULL);
        g_autoptr(Host) h2 = host_new_b(f, "host-2");
        gsize ek_len = 0;
        const guint8 *ek_data = g_bytes_get_data(h2->tpm->ek_public_bytes, &ek_len);
        g_autoptr(GBytes) truncated = g_bytes_new(ek_data, ek_len - 7);
        g_autoptr(GByteArray) trailing = g_byte_array_new();
        g_autoptr(GBytes) trailing_bytes = NULL;
        g_autoptr(GBytes) garbage = g_bytes_new_static("\x00\x10\xde\xad\xbe\xef", 6);
        g_autoptr(GBytes) oversize = g_bytes_new_static("\xff\xff\x00\x01", 4);
        GBytes *bad[4];
        g_autofree gchar *cert = b64(h2->tpm->ek_cert);
        g_autofree gchar *ek = b64(h2->tpm->ek_public_bytes);
        g_autofree gchar *ak = b64(h2->tpm->ak_public_bytes);
        g_autofree gchar *ca = b64(h->ca_public_bytes);

        g_byte_array_append(trailing, ek_data, (guint)ek_len);
        g_byte_array_append(trailing, (const guint8 *)"\x00", 1);
        trailing_bytes = g_byte_array_free_to_bytes(g_steal_pointer(&trailing));
        bad[0] = truncated;
        bad[1] = trailing_bytes;
        bad[2] = garbage;
        bad[3] = oversize;
        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree gchar *x = b64(bad[i]);
                g_autofree gchar *b1 = g_strdup_printf(
                    "{\"id\": \"host-2\", \"ek_public\": \"%s\", \"ek_cert\": \"%s\", "
                    "\"ak_public\": \"%s\"}",
                    x,
                    cert,
                    ak);
                g_autofree gchar *b2 = g_strdup_printf(
                    "{\"id\": \"host-2\", \"ek_public\": \"%s\", \"ek_cert\": \"%s\", "
                    "\"ak_public\": \"%s\"}",
                    ek,
                    cert,
                    x);
                g_autofree gchar *b3 = g_strdup_printf(
                    "{\"public\": \"%s\", \"certify_attest\": \"AAAA\", \"certify_signature\": "
                    "\"AAAA\"}",
                    x);
                g_autofree gchar *b4 = g_strdup_printf(
                    "{\"public\": \"%s\", \"certify_attest\": \"%s\", \"certify_signature\": "
                    "\"AAAA\"}",
                    ca,
                    x);
                g_autofree gchar *b5 = g_strdup_printf(
                    "{\"public\": \"%s\", \"certify_attest\": \"%s\", \"certify_signature\": "
                    "\"%s\"}",
                    ca,
                    x,
                    x);
                fixture_assert_rejected(f, f->enroll, "POST", "/v1/hosts", b1, 400, "invalid_data");
                fixture_assert_rejected(f, f->enroll, "POST", "/v1/hosts", b2, 400, "invalid_data");
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/hosts/host-1/vtpm-ca",
                                        b3,
                                        400,
                                        "invalid_data");
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/hosts/host-1/vtpm-ca",
                                        b4,
                                        400,
                                        "invalid_data");
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/hosts/host-1/vtpm-ca",
                                        b5,
                                        400,
                                        "invalid_data");
        }
        /* a real attestation with a signature that does not unmarshal */
        {
                g_autoptr(GError) error = NULL;
                g_autoptr(GBytes) attest = NULL;
                g_autoptr(GBytes) sig = NULL;
                g_autofree gchar *attest_b64 = NULL;
                g_autofree gchar *body = NULL;

                g_assert_true(
                    vtc_tpm_certify(h->tpm->tpm, h->ca, h->tpm->ak, NULL, &attest, &sig, &error));
                g_assert_no_error(error);
                attest_b64 = b64(attest);
                body = g_strdup_printf("{\"public\": \"%s\", \"certify_attest\": \"%s\", "
                                       "\"certify_signature\": \"AAAAAA==\"}",
                                       ca,
                                       attest_b64);
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/hosts/host-1/vtpm-ca",
                                        body,
                                        400,
                                        "invalid_data");
        }
}

static void
reject_bad_cert_test(Fixture *f, gconstpointer user_data)
{
        Guest *g = NULL;
        populate(f, &g);
        g_autoptr(Host) h2 = host_new_b(f, "host-2");
        g_autofree gchar *ek = b64(h2->tpm->ek_public_bytes);
        g_autofree gchar *ak = b64(h2->tpm->ak_public_bytes);
        g_autofree gchar *gek = b64(g->tpm->ek_public_bytes);
        g_autofree gchar *gak = b64(g->tpm->ak_public_bytes);
        g_autofree gchar *gcert = b64(g->ek_cert);
        gsize cert_len = 0;
        const guint8 *cert_data = g_bytes_get_data(h2->tpm->ek_cert, &cert_len);
        g_autoptr(GBytes) truncated = g_bytes_new(cert_data, cert_len / 2);
        g_autoptr(GBytes) garbage = g_bytes_new_static("\x30\x82\xff\xff\x01\x02\x03", 7);
        g_autoptr(GBytes) pem = g_bytes_new_static("-----BEGIN CERTIFICATE-----\nAAAA\n", 33);
        GBytes *bad[] = {truncated, garbage, pem};
        g_autofree gchar *uuid = g_uuid_string_random();

        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree gchar *x = b64(bad[i]);
                g_autofree gchar *b1 = g_strdup_printf(
                    "{\"id\": \"host-2\", \"ek_public\": \"%s\", \"ek_cert\": \"%s\", "
                    "\"ak_public\": \"%s\"}",
                    ek,
                    x,
                    ak);
                g_autofree gchar *b2 =
                    g_strdup_printf("{\"id\": \"%s\", \"ek_public\": \"%s\", \"ek_cert\": \"%s\", "
                                    "\"ak_public\": \"%s\"}",
                                    uuid,
                                    gek,
                                    x,
                                    gak);
                fixture_assert_rejected(f, f->enroll, "POST", "/v1/hosts", b1, 400, "invalid_data");
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/agents",
                                        b2,
                                        400,
                                        "invalid_data");
        }
        /* an agent's TLS certificate that is not a PEM certificate */
        {
                const gchar *tls[] = {"not a certificate",
                                      "-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END "
                                      "CERTIFICATE-----\\n"};
                for (guint i = 0; i < G_N_ELEMENTS(tls); i++) {
                        g_autofree gchar *body = g_strdup_printf(
                            "{\"id\": \"%s\", \"ek_public\": \"%s\", \"ek_cert\": \"%s\", "
                            "\"ak_public\": \"%s\", \"tls_cert\": \"%s\"}",
                            uuid,
                            gek,
                            gcert,
                            gak,
                            tls[i]);
                        fixture_assert_rejected(f,
                                                f->enroll,
                                                "POST",
                                                "/v1/agents",
                                                body,
                                                400,
                                                "invalid_data");
                }
        }
}

static void
reject_ek_cert_untrusted_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        Host *h = populate(f, NULL);
        g_autofree gchar *state = g_build_filename(f->dir, "tpm-other-vendor", NULL);
        g_autofree gchar *ca = g_build_filename(f->dir, "other-vendor-ca", NULL);
        g_autoptr(VtcItestTpm) other = NULL;
        g_autofree gchar *body = NULL;

        /* a TPM from a vendor the registrar does not trust: another swtpm-localca */
        g_assert_true(vtc_swtpm_manufacture(state, ca, &error));
        g_assert_no_error(error);
        other = vtc_itest_tpm_new(state, VTC_TPM_KEY_RSA2048, VTC_TPM_KEY_ECC_P256, &error);
        g_assert_no_error(error);
        g_assert_nonnull(other->ek_cert);
        body = vtc_itest_registration_json("host-2",
                                           other->ek_public_bytes,
                                           other->ek_cert,
                                           other->ak_public_bytes,
                                           NULL);
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/hosts",
                                body,
                                422,
                                "verification_failed");

        /* a trusted certificate, but of another TPM's EK */
        g_free(body);
        body = vtc_itest_registration_json("host-2",
                                           other->ek_public_bytes,
                                           h->tpm->ek_cert,
                                           other->ak_public_bytes,
                                           NULL);
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/hosts",
                                body,
                                422,
                                "verification_failed");

        /* the untrusted TPM as an agent: neither a vTPM of an active host nor a vendor's TPM */
        {
                g_autofree gchar *uuid = g_uuid_string_random();
                g_free(body);
                body = vtc_itest_registration_json(uuid,
                                                   other->ek_public_bytes,
                                                   other->ek_cert,
                                                   other->ak_public_bytes,
                                                   NULL);
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/agents",
                                        body,
                                        422,
                                        "verification_failed");
        }
}

static void
reject_vtpm_ek_cert_unknown_ca_test(Fixture *f, gconstpointer user_data)
{
        Guest *g = NULL;
        Host *h = populate(f, &g);
        g_autofree gchar *uuid = g_uuid_string_random();
        g_autoptr(GBytes) rogue = NULL;
        g_autofree gchar *body = NULL;
        ESYS_TR key = ESYS_TR_NONE;
        TPM2B_PUBLIC key_public = {0};

        /* signed inside the host's TPM, but by a key the registrar never saw certified */
        tpm_make_key(h->tpm, VTC_TPM_KEY_ECC_P256, FALSE, FALSE, 0x42, &key, &key_public);
        rogue = host_issue_ek_cert(h, key, &key_public, &g->tpm->ek_public, uuid);
        vtc_tpm_flush(h->tpm->tpm, key);
        body = vtc_itest_registration_json(uuid,
                                           g->tpm->ek_public_bytes,
                                           rogue,
                                           g->tpm->ak_public_bytes,
                                           NULL);
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/agents",
                                body,
                                422,
                                "verification_failed");

        /* the certified key's certificate for another EK */
        {
                g_autoptr(GBytes) cert = NULL;
                g_autofree gchar *body2 = NULL;
                ESYS_TR other = ESYS_TR_NONE;
                TPM2B_PUBLIC other_public = {0};

                tpm_make_key(g->tpm,
                             VTC_TPM_KEY_ECC_P256,
                             FALSE,
                             FALSE,
                             0x17,
                             &other,
                             &other_public);
                vtc_tpm_flush(g->tpm->tpm, other);
                cert = host_issue_ek_cert(h, h->ca, &h->ca_public, &other_public, uuid);
                body2 = vtc_itest_registration_json(uuid,
                                                    g->tpm->ek_public_bytes,
                                                    cert,
                                                    g->tpm->ak_public_bytes,
                                                    NULL);
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/agents",
                                        body2,
                                        422,
                                        "verification_failed");
        }

        /* once the host is deleted, its vTPMs' certificates no longer lead anywhere */
        {
                g_autoptr(VtcItestReply) del =
                    fixture_ok(f, f->admin, "DELETE", "/v1/hosts/host-1", NULL);
                g_autofree gchar *fresh = NULL;

                g_assert_cmpstr(vtc_itest_reply_get_string(del, "deleted"), ==, "host-1");
                g_free(g->id);
                g->id = g_uuid_string_random();
                fresh = guest_registration_json(g);
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/agents",
                                        fresh,
                                        422,
                                        "verification_failed");
        }
}

/* A host that is active but has not submitted a vTPM CA key yet. */
static Host *
host_activated(Fixture *f, const gchar *id)
{
        g_autoptr(Host) h = host_new_b(f, id);
        g_autofree gchar *proof = host_register(f, h);

        host_activate(f, h, proof);
        return g_steal_pointer(&h);
}

static void
reject_vtpm_ca_wrong_signer_test(Fixture *f, gconstpointer user_data)
{
        populate(f, NULL);
        g_autoptr(Host) h = host_activated(f, "host-2");
        ESYS_TR ca = ESYS_TR_NONE;
        ESYS_TR rogue_ak = ESYS_TR_NONE;
        TPM2B_PUBLIC ca_public = {0};
        TPM2B_PUBLIC rogue_public = {0};
        g_autoptr(GBytes) ca_bytes = NULL;
        g_autofree gchar *body = NULL;

        tpm_make_key(h->tpm, VTC_TPM_KEY_ECC_P256, FALSE, FALSE, 0, &ca, &ca_public);
        ca_bytes = vtc_tpm_public_marshal(&ca_public);
        /* an AK of the same TPM, but not the one the registrar activated */
        tpm_make_key(h->tpm, VTC_TPM_KEY_ECC_P256, TRUE, FALSE, 0x99, &rogue_ak, &rogue_public);
        body = tpm_certify_json(h->tpm, ca, rogue_ak, ca_bytes);
        vtc_tpm_flush(h->tpm->tpm, rogue_ak);
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/hosts/host-2/vtpm-ca",
                                body,
                                422,
                                "verification_failed");
        /* the key certifying itself */
        g_free(body);
        body = tpm_certify_json(h->tpm, ca, ca, ca_bytes);
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/hosts/host-2/vtpm-ca",
                                body,
                                422,
                                "verification_failed");
        /* the right certification, submitted for another host */
        g_free(body);
        body = tpm_certify_json(h->tpm, ca, h->tpm->ak, ca_bytes);
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/hosts/host-1/vtpm-ca",
                                body,
                                422,
                                "verification_failed");
        /* and for the right one it is taken */
        {
                g_autoptr(VtcItestReply) reply =
                    fixture_ok(f, f->enroll, "POST", "/v1/hosts/host-2/vtpm-ca", body);
                g_assert_nonnull(vtc_itest_reply_get_string(reply, "vtpm_ca_key_id"));
        }
        vtc_tpm_flush(h->tpm->tpm, ca);
}

static void
reject_vtpm_ca_name_mismatch_test(Fixture *f, gconstpointer user_data)
{
        populate(f, NULL);
        g_autoptr(Host) h = host_activated(f, "host-2");
        ESYS_TR a = ESYS_TR_NONE;
        ESYS_TR b = ESYS_TR_NONE;
        TPM2B_PUBLIC a_public = {0};
        TPM2B_PUBLIC b_public = {0};
        g_autoptr(GBytes) b_bytes = NULL;
        g_autofree gchar *body = NULL;

        /* key A is certified, key B (as fit to be a CA) is announced */
        tpm_make_key(h->tpm, VTC_TPM_KEY_ECC_P256, FALSE, FALSE, 0, &a, &a_public);
        tpm_make_key(h->tpm, VTC_TPM_KEY_ECC_P256, FALSE, FALSE, 0x01, &b, &b_public);
        vtc_tpm_flush(h->tpm->tpm, b);
        b_bytes = vtc_tpm_public_marshal(&b_public);
        body = tpm_certify_json(h->tpm, a, h->tpm->ak, b_bytes);
        vtc_tpm_flush(h->tpm->tpm, a);
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/hosts/host-2/vtpm-ca",
                                body,
                                422,
                                "verification_failed");
}

static void
reject_vtpm_ca_key_kind(Fixture *f, gboolean restricted, gboolean decrypt)
{
        populate(f, NULL);
        g_autoptr(Host) h = host_activated(f, "host-2");
        ESYS_TR key = ESYS_TR_NONE;
        TPM2B_PUBLIC key_public = {0};
        g_autoptr(GBytes) key_bytes = NULL;
        g_autofree gchar *body = NULL;

        /* a genuine certification by the host's AK, of a key unfit to sign certificates */
        tpm_make_key(h->tpm, VTC_TPM_KEY_ECC_P256, restricted, decrypt, 0x33, &key, &key_public);
        key_bytes = vtc_tpm_public_marshal(&key_public);
        body = tpm_certify_json(h->tpm, key, h->tpm->ak, key_bytes);
        vtc_tpm_flush(h->tpm->tpm, key);
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/hosts/host-2/vtpm-ca",
                                body,
                                422,
                                "verification_failed");
}

static void
reject_vtpm_ca_restricted_test(Fixture *f, gconstpointer user_data)
{
        reject_vtpm_ca_key_kind(f, TRUE, FALSE);
}

static void
reject_vtpm_ca_decrypt_test(Fixture *f, gconstpointer user_data)
{
        reject_vtpm_ca_key_kind(f, FALSE, TRUE);
}

static void
reject_vtpm_ca_not_active_test(Fixture *f, gconstpointer user_data)
{
        populate(f, NULL);
        g_autoptr(Host) h = host_new_b(f, "host-2");
        g_autofree gchar *proof = host_register(f, h);
        ESYS_TR ca = ESYS_TR_NONE;
        TPM2B_PUBLIC ca_public = {0};
        g_autoptr(GBytes) ca_bytes = NULL;
        g_autofree gchar *body = NULL;

        tpm_make_key(h->tpm, VTC_TPM_KEY_ECC_P256, FALSE, FALSE, 0, &ca, &ca_public);
        ca_bytes = vtc_tpm_public_marshal(&ca_public);
        body = tpm_certify_json(h->tpm, ca, h->tpm->ak, ca_bytes);
        vtc_tpm_flush(h->tpm->tpm, ca);
        /* registered but not activated: the AK is not proven yet */
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/hosts/host-2/vtpm-ca",
                                body,
                                409,
                                "conflict");
        /* an unknown host */
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/hosts/host-3/vtpm-ca",
                                body,
                                404,
                                "not_found");
        /* once activated, the same certification is taken */
        host_activate(f, h, proof);
        {
                g_autoptr(VtcItestReply) reply =
                    fixture_ok(f, f->enroll, "POST", "/v1/hosts/host-2/vtpm-ca", body);
                g_assert_nonnull(vtc_itest_reply_get_string(reply, "vtpm_ca_key_id"));
        }
}

static void
reject_wrong_proof_test(Fixture *f, gconstpointer user_data)
{
        Guest *g = NULL;
        populate(f, &g);
        g_autoptr(Host) h = host_new_b(f, "host-2");
        g_autofree gchar *proof = host_register(f, h);
        g_autofree gchar *wrong = g_strdup(proof);
        g_autofree gchar *body = NULL;
        g_autofree gchar *agent_path = g_strdup_printf("/v1/agents/%s/activate", g->id);
        g_autoptr(VtcItestReply) reply = NULL;

        /* one flipped bit */
        wrong[0] = wrong[0] == '0' ? '1' : '0';
        body = proof_json(wrong);
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/hosts/host-2/activate",
                                body,
                                403,
                                "forbidden");
        /* the right proof for the wrong id: the HMAC binds the id */
        {
                g_autoptr(VtcItestReply) again = NULL;
                g_autofree gchar *right = proof_json(proof);
                fixture_assert_rejected(f, f->enroll, "POST", agent_path, right, 403, "forbidden");
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/hosts/host-1/activate",
                                        right,
                                        409,
                                        "conflict");
                /* all zero */
                g_free(body);
                body =
                    proof_json("0000000000000000000000000000000000000000000000000000000000000000");
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/hosts/host-2/activate",
                                        body,
                                        403,
                                        "forbidden");
                reply = fixture_ok(f, f->admin, "GET", "/v1/hosts/host-2", NULL);
                g_assert_cmpstr(vtc_itest_reply_get_string(reply, "state"), ==, "registered");
                g_assert_cmpint(reply_get_int(reply, "activated"), ==, 0);
                /* the wrong proofs did not use up the challenge */
                again = fixture_ok(f, f->enroll, "POST", "/v1/hosts/host-2/activate", right);
                g_assert_cmpstr(vtc_itest_reply_get_string(again, "state"), ==, "active");
        }
}

static void
reject_reregister_other_keys_test(Fixture *f, gconstpointer user_data)
{
        Guest *g = NULL;
        Host *h = populate(f, &g);
        g_autoptr(Host) other = host_new_from(f, "host-b", f->factory->state_b);
        ESYS_TR ak2 = ESYS_TR_NONE;
        TPM2B_PUBLIC ak2_public = {0};
        g_autoptr(GBytes) ak2_bytes = NULL;
        g_autofree gchar *body = NULL;
        g_autofree gchar *agent_path = g_strdup_printf("/v1/agents/%s", g->id);
        g_autoptr(VtcItestReply) reply = NULL;

        /* another trusted TPM (same vendor CA) claiming host-1 */
        body = vtc_itest_registration_json("host-1",
                                           other->tpm->ek_public_bytes,
                                           other->tpm->ek_cert,
                                           other->tpm->ak_public_bytes,
                                           NULL);
        fixture_assert_rejected(f, f->enroll, "POST", "/v1/hosts", body, 409, "conflict");
        /* host-1's own TPM with another AK (room for it: three transient objects at most, and
         * ActivateCredential loads the EK too) */
        vtc_tpm_flush(h->tpm->tpm, h->ca);
        h->ca = ESYS_TR_NONE;
        tpm_make_key(h->tpm, VTC_TPM_KEY_ECC_P256, TRUE, FALSE, 0x07, &ak2, &ak2_public);
        ak2_bytes = vtc_tpm_public_marshal(&ak2_public);
        g_free(body);
        body = vtc_itest_registration_json("host-1",
                                           h->tpm->ek_public_bytes,
                                           h->tpm->ek_cert,
                                           ak2_bytes,
                                           NULL);
        fixture_assert_rejected(f, f->enroll, "POST", "/v1/hosts", body, 409, "conflict");
        /* the agent with another AK */
        {
                g_autofree gchar *agent_body = vtc_itest_registration_json(g->id,
                                                                           g->tpm->ek_public_bytes,
                                                                           g->ek_cert,
                                                                           ak2_bytes,
                                                                           NULL);
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/agents",
                                        agent_body,
                                        409,
                                        "conflict");
        }

        /* an admin deletes host-1; then its new AK is welcome, and proven */
        reply = fixture_ok(f, f->admin, "DELETE", "/v1/hosts/host-1", NULL);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "deleted"), ==, "host-1");
        g_clear_pointer(&reply, vtc_itest_reply_free);
        {
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcItestReply) r = fixture_ok(f, f->enroll, "POST", "/v1/hosts", body);
                g_autoptr(GBytes) blob = vtc_itest_reply_get_base64(r, "credential_blob");
                g_autoptr(GBytes) enc = vtc_itest_reply_get_base64(r, "encrypted_secret");
                g_autoptr(GBytes) secret = NULL;
                g_autofree gchar *proof = NULL;

                /* the challenge is bound to AK 2: the old AK cannot answer it */
                g_assert_null(vtc_tpm_activate_credential(h->tpm->tpm,
                                                          h->tpm->ak,
                                                          h->tpm->ek,
                                                          blob,
                                                          enc,
                                                          &error));
                g_assert_nonnull(error);
                g_clear_error(&error);
                secret =
                    vtc_tpm_activate_credential(h->tpm->tpm, ak2, h->tpm->ek, blob, enc, &error);
                g_assert_no_error(error);
                proof = vtc_itest_proof_from_secret(secret, "host-1");
                host_activate(f, h, proof);
        }
        vtc_tpm_flush(h->tpm->tpm, ak2);
        reply = fixture_ok(f, f->admin, "GET", "/v1/hosts/host-1", NULL);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "state"), ==, "active");
        assert_member_b64(reply, "ak_public", ak2_bytes);
        /* a new enrollment: the old vTPM CA key went with the old record */
        g_assert_true(json_node_is_null(json_object_get_member(reply->body, "vtpm_ca_public")));
        g_clear_pointer(&reply, vtc_itest_reply_free);

        /* the agent: deleted by an admin, then registered with a new AK of its own vTPM; its
         * maker is host-b's vTPM CA now */
        reply = fixture_ok(f, f->admin, "DELETE", agent_path, NULL);
        g_clear_pointer(&reply, vtc_itest_reply_free);
        {
                g_autofree gchar *proof = host_register(f, other);
                host_activate(f, other, proof);
                host_certify_ca(f, other);
        }
        {
                g_autoptr(GError) error = NULL;
                ESYS_TR gak2 = ESYS_TR_NONE;
                TPM2B_PUBLIC gak2_public = {0};
                g_autoptr(GBytes) gak2_bytes = NULL;
                g_autoptr(GBytes) cert = host_issue_ek_cert(other,
                                                            other->ca,
                                                            &other->ca_public,
                                                            &g->tpm->ek_public,
                                                            g->id);
                g_autofree gchar *agent_body = NULL;
                g_autoptr(VtcItestReply) r = NULL;
                g_autoptr(GBytes) blob = NULL;
                g_autoptr(GBytes) enc = NULL;
                g_autoptr(GBytes) secret = NULL;
                g_autofree gchar *proof = NULL;
                g_autofree gchar *activate = g_strdup_printf("/v1/agents/%s/activate", g->id);

                tpm_make_key(g->tpm, VTC_TPM_KEY_ECC_P256, TRUE, FALSE, 0x08, &gak2, &gak2_public);
                gak2_bytes = vtc_tpm_public_marshal(&gak2_public);
                agent_body = vtc_itest_registration_json(g->id,
                                                         g->tpm->ek_public_bytes,
                                                         cert,
                                                         gak2_bytes,
                                                         NULL);
                r = fixture_ok(f, f->enroll, "POST", "/v1/agents", agent_body);
                g_assert_cmpstr(vtc_itest_reply_get_string(r, "host_id"), ==, "host-b");
                blob = vtc_itest_reply_get_base64(r, "credential_blob");
                enc = vtc_itest_reply_get_base64(r, "encrypted_secret");
                secret =
                    vtc_tpm_activate_credential(g->tpm->tpm, gak2, g->tpm->ek, blob, enc, &error);
                g_assert_no_error(error);
                vtc_tpm_flush(g->tpm->tpm, gak2);
                proof = vtc_itest_proof_from_secret(secret, g->id);
                g_clear_pointer(&r, vtc_itest_reply_free);
                {
                        g_autofree gchar *pb = proof_json(proof);
                        r = fixture_ok(f, f->enroll, "POST", activate, pb);
                }
                g_clear_pointer(&r, vtc_itest_reply_free);
                r = fixture_ok(f, f->admin, "GET", agent_path, NULL);
                g_assert_cmpstr(vtc_itest_reply_get_string(r, "state"), ==, "active");
                g_assert_cmpstr(vtc_itest_reply_get_string(r, "host_id"), ==, "host-b");
                assert_member_b64(r, "ak_public", gak2_bytes);
        }
}

static void
reject_admin_without_cert_test(Fixture *f, gconstpointer user_data)
{
        Guest *g = NULL;
        populate(f, &g);
        g_autofree gchar *agent = g_strdup_printf("/v1/agents/%s", g->id);
        const gchar *calls[][2] = {
            {"GET", "/v1/hosts"},
            {"GET", "/v1/hosts/host-1"},
            {"DELETE", "/v1/hosts/host-1"},
            {"GET", "/v1/agents"},
            {"GET", agent},
            {"DELETE", agent},
            {"GET", "/v1/hosts/host-nobody"},
            {"DELETE", "/v1/hosts/host-nobody"},
        };
        g_autofree gchar *other_tls = g_build_filename(f->dir, "other-tls", NULL);
        g_autofree gchar *ca_crt = g_build_filename(f->tls, "ca.crt", NULL);
        g_autofree gchar *other_crt = g_build_filename(other_tls, "admin.crt", NULL);
        g_autofree gchar *other_key = g_build_filename(other_tls, "admin.key", NULL);
        g_autoptr(SoupSession) stranger = NULL;
        g_autoptr(GError) error = NULL;

        for (guint i = 0; i < G_N_ELEMENTS(calls); i++)
                fixture_assert_rejected(f,
                                        f->enroll,
                                        calls[i][0],
                                        calls[i][1],
                                        NULL,
                                        401,
                                        "unauthorized");

        /* a client certificate from another deployment's CA is no better */
        g_assert_true(vtc_itest_tls_init(other_tls, "registrar", &error));
        g_assert_no_error(error);
        stranger = vtc_http_client_new(ca_crt, other_crt, other_key, &error);
        g_assert_no_error(error);
        for (guint i = 0; i < G_N_ELEMENTS(calls); i++)
                fixture_assert_rejected(f,
                                        stranger,
                                        calls[i][0],
                                        calls[i][1],
                                        NULL,
                                        401,
                                        "unauthorized");

        /* with the deployment's admin certificate the same calls work */
        {
                g_autoptr(VtcItestReply) r = fixture_ok(f, f->admin, "GET", agent, NULL);
                g_assert_cmpstr(vtc_itest_reply_get_string(r, "host_id"), ==, "host-1");
        }
}

/* ---- restarts, concurrency, the rest of the API ------------------------------------------ */

static void
restart_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(Host) h = host_new(f, "host-1");
        g_autofree gchar *proof = host_register(f, h);
        g_autoptr(Guest) g = NULL;
        g_autofree gchar *guest_proof = NULL;
        g_autofree gchar *agent_path = NULL;
        g_autoptr(VtcItestReply) reply = NULL;
        g_autofree gchar *before = NULL;
        g_autofree gchar *after = NULL;

        /* a crash between register and activate */
        before = fixture_dump(f);
        vtc_itest_daemon_kill(f->registrar);
        g_clear_pointer(&f->registrar, vtc_itest_daemon_free);
        fixture_start_registrar(f);
        after = fixture_dump(f);
        g_assert_cmpstr(before, ==, after);
        host_activate(f, h, proof);
        host_certify_ca(f, h);

        /* an orderly restart between an agent's register and activate */
        g = guest_new(f, h, VTC_TPM_KEY_ECC_P256);
        guest_proof = guest_register(f, g, "host-1");
        fixture_stop_registrar(f);
        fixture_start_registrar(f);
        guest_activate(f, g, guest_proof);

        reply = fixture_ok(f, f->admin, "GET", "/v1/hosts/host-1", NULL);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "state"), ==, "active");
        assert_member_b64(reply, "vtpm_ca_public", h->ca_public_bytes);
        g_clear_pointer(&reply, vtc_itest_reply_free);
        agent_path = g_strdup_printf("/v1/agents/%s", g->id);
        reply = fixture_ok(f, f->admin, "GET", agent_path, NULL);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "state"), ==, "active");
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "host_id"), ==, "host-1");
}

static gint
compare_strings(gconstpointer a, gconstpointer b)
{
        return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

static void
concurrent_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(Host) h = host_enroll(f, "host-1");
        g_autoptr(Guest) g = guest_new(f, h, VTC_TPM_KEY_ECC_P256);
        g_autofree gchar *ca_crt = g_build_filename(f->tls, "ca.crt", NULL);
        g_autoptr(SoupSession) session =
            vtc_itest_session_new(ca_crt, CONCURRENT_ENROLLMENTS, &error);
        g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) urls = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) bodies = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) replies = NULL;
        g_autoptr(GPtrArray) listed = NULL;
        g_autofree gchar *dump = NULL;
        g_autoptr(GTimer) timer = g_timer_new();
        gdouble t_register, t_tpm, t_activate;
        guint rows = 0;

        g_assert_no_error(error);
        /* distinct agents sharing one vTPM's keys: the registrar does not forbid that at
         * enrollment (telling clones apart is the verifier's job), and it keeps the TPM side
         * to one swtpm */
        for (guint i = 0; i < CONCURRENT_ENROLLMENTS; i++) {
                gchar *id = g_uuid_string_random();
                g_ptr_array_add(ids, id);
                g_ptr_array_add(urls, fixture_url(f, "/v1/agents"));
                g_ptr_array_add(bodies,
                                vtc_itest_registration_json(id,
                                                            g->tpm->ek_public_bytes,
                                                            g->ek_cert,
                                                            g->tpm->ak_public_bytes,
                                                            NULL));
        }
        g_timer_start(timer);
        replies = vtc_itest_request_all(session, "POST", urls, bodies, &error);
        g_assert_no_error(error);
        t_register = g_timer_elapsed(timer, NULL);
        g_assert_cmpuint(replies->len, ==, CONCURRENT_ENROLLMENTS);

        /* the TPM side, one challenge after the other */
        g_timer_start(timer);
        g_ptr_array_set_size(urls, 0);
        g_ptr_array_set_size(bodies, 0);
        for (guint i = 0; i < CONCURRENT_ENROLLMENTS; i++) {
                VtcItestReply *r = g_ptr_array_index(replies, i);
                const gchar *id = g_ptr_array_index(ids, i);
                g_autoptr(GBytes) blob = NULL;
                g_autoptr(GBytes) enc = NULL;
                g_autofree gchar *proof = NULL;
                g_autofree gchar *path = g_strdup_printf("/v1/agents/%s/activate", id);

                if (r->status != 200)
                        g_error("registration %u: %u %s", i, r->status, r->text);
                g_assert_cmpstr(vtc_itest_reply_get_string(r, "id"), ==, id);
                g_assert_cmpstr(vtc_itest_reply_get_string(r, "host_id"), ==, "host-1");
                blob = vtc_itest_reply_get_base64(r, "credential_blob");
                enc = vtc_itest_reply_get_base64(r, "encrypted_secret");
                proof = vtc_itest_tpm_activation_proof(g->tpm, id, blob, enc, &error);
                g_assert_no_error(error);
                g_ptr_array_add(urls, fixture_url(f, path));
                g_ptr_array_add(bodies, proof_json(proof));
        }
        t_tpm = g_timer_elapsed(timer, NULL);
        g_clear_pointer(&replies, g_ptr_array_unref);

        g_timer_start(timer);
        replies = vtc_itest_request_all(session, "POST", urls, bodies, &error);
        g_assert_no_error(error);
        t_activate = g_timer_elapsed(timer, NULL);
        for (guint i = 0; i < replies->len; i++) {
                VtcItestReply *r = g_ptr_array_index(replies, i);
                if (r->status != 200)
                        g_error("activation %u: %u %s", i, r->status, r->text);
                g_assert_cmpstr(vtc_itest_reply_get_string(r, "state"), ==, "active");
        }

        /* every one there, active, exactly once */
        listed = list_ids(f, "agents", "active", "host-1");
        g_assert_cmpuint(listed->len, ==, CONCURRENT_ENROLLMENTS);
        g_ptr_array_sort(ids, compare_strings);
        for (guint i = 0; i < CONCURRENT_ENROLLMENTS; i++)
                g_assert_cmpstr(g_ptr_array_index(listed, i), ==, g_ptr_array_index(ids, i));
        dump = fixture_dump(f);
        for (const gchar *p = dump; (p = strstr(p, "\nagents: ")) != NULL; p++)
                rows++;
        g_assert_cmpuint(rows, ==, CONCURRENT_ENROLLMENTS);
        g_test_message("%u concurrent registrations %.2f s, %u ActivateCredential in the swtpm "
                       "%.2f s, %u concurrent activations %.2f s",
                       CONCURRENT_ENROLLMENTS,
                       t_register,
                       CONCURRENT_ENROLLMENTS,
                       t_tpm,
                       CONCURRENT_ENROLLMENTS,
                       t_activate);
}

static void
reregister_same_keys_test(Fixture *f, gconstpointer user_data)
{
        populate(f, NULL);
        g_autoptr(Host) h = host_new_b(f, "host-2");
        g_autofree gchar *body = vtc_itest_registration_json("host-2",
                                                             h->tpm->ek_public_bytes,
                                                             h->tpm->ek_cert,
                                                             h->tpm->ak_public_bytes,
                                                             NULL);
        g_autoptr(VtcItestReply) first = fixture_ok(f, f->enroll, "POST", "/v1/hosts", body);
        g_autoptr(VtcItestReply) second = fixture_ok(f, f->enroll, "POST", "/v1/hosts", body);
        g_autoptr(GBytes) blob1 = vtc_itest_reply_get_base64(first, "credential_blob");
        g_autoptr(GBytes) blob2 = vtc_itest_reply_get_base64(second, "credential_blob");
        g_autoptr(GBytes) enc1 = vtc_itest_reply_get_base64(first, "encrypted_secret");
        g_autoptr(GBytes) enc2 = vtc_itest_reply_get_base64(second, "encrypted_secret");
        g_autoptr(GError) error = NULL;
        g_autofree gchar *proof1 = NULL;
        g_autofree gchar *proof2 = NULL;
        g_autoptr(GPtrArray) ids = NULL;

        /* a fresh challenge, and only the latest counts */
        g_assert_false(g_bytes_equal(blob1, blob2));
        g_assert_false(g_bytes_equal(enc1, enc2));
        proof1 = vtc_itest_tpm_activation_proof(h->tpm, "host-2", blob1, enc1, &error);
        g_assert_no_error(error);
        proof2 = vtc_itest_tpm_activation_proof(h->tpm, "host-2", blob2, enc2, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(proof1, !=, proof2);
        {
                g_autofree gchar *stale = proof_json(proof1);
                fixture_assert_rejected(f,
                                        f->enroll,
                                        "POST",
                                        "/v1/hosts/host-2/activate",
                                        stale,
                                        403,
                                        "forbidden");
        }
        host_activate(f, h, proof2);
        /* still one record */
        ids = list_ids(f, "hosts", "active", NULL);
        g_assert_cmpuint(ids->len, ==, 2);
        g_assert_cmpstr(g_ptr_array_index(ids, 0), ==, "host-1");
        g_assert_cmpstr(g_ptr_array_index(ids, 1), ==, "host-2");
}

/* An active agent's registration does not change without a proof: the same EK and AK with
 * another TLS certificate only renew the challenge; the certificate on record stays. */
static void
reregister_active_keeps_values_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(Host) h = host_enroll(f, "host-1");
        g_autoptr(Guest) g = guest_new(f, h, VTC_TPM_KEY_RSA2048);
        g_autoptr(Guest) other = guest_new(f, h, VTC_TPM_KEY_RSA2048);
        g_autofree gchar *proof = guest_register(f, g, "host-1");
        g_autofree gchar *path = g_strdup_printf("/v1/agents/%s", g->id);
        g_autofree gchar *body = NULL;
        g_autoptr(VtcItestReply) before = NULL;
        g_autoptr(VtcItestReply) again = NULL;
        g_autoptr(VtcItestReply) after = NULL;
        g_autoptr(GBytes) tls_before = NULL;
        g_autoptr(GBytes) tls_after = NULL;

        guest_activate(f, g, proof);
        before = fixture_ok(f, f->admin, "GET", path, NULL);
        tls_before = vtc_itest_reply_get_base64(before, "tls_cert");
        g_assert_nonnull(tls_before);
        /* someone who knows the public registration data sends it with their own TLS cert */
        body = vtc_itest_registration_json(g->id,
                                           g->tpm->ek_public_bytes,
                                           g->ek_cert,
                                           g->tpm->ak_public_bytes,
                                           other->tls_cert_pem);
        again = fixture_ok(f, f->enroll, "POST", "/v1/agents", body);
        after = fixture_ok(f, f->admin, "GET", path, NULL);
        g_assert_cmpstr(vtc_itest_reply_get_string(after, "state"), ==, "active");
        tls_after = vtc_itest_reply_get_base64(after, "tls_cert");
        g_assert_true(g_bytes_equal(tls_before, tls_after));
}

static void
not_found_test(Fixture *f, gconstpointer user_data)
{
        populate(f, NULL);
        g_autofree gchar *uuid = g_uuid_string_random();
        g_autofree gchar *agent = g_strdup_printf("/v1/agents/%s", uuid);
        g_autofree gchar *agent_activate = g_strdup_printf("/v1/agents/%s/activate", uuid);
        g_autofree gchar *proof =
            proof_json("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
        const gchar *admin_calls[][2] = {
            {"GET", "/v1/hosts/host-nobody"},
            {"DELETE", "/v1/hosts/host-nobody"},
            {"GET", agent},
            {"DELETE", agent},
            {"GET", "/v1/nothing"},
            {"GET", "/v2/hosts"},
            {"GET", "/"},
            {"GET", "/v1"},
            {"GET", "/v1/hosts/host-1/activate"},
            {"GET", "/v1/hosts/host-1/a/b"},
            {"PUT", "/v1/hosts/host-1"},
            {"PATCH", "/v1/hosts"},
            {"POST", "/v1/version"},
        };

        for (guint i = 0; i < G_N_ELEMENTS(admin_calls); i++) {
                const gchar *body = g_strcmp0(admin_calls[i][0], "GET") == 0 ||
                                            g_strcmp0(admin_calls[i][0], "DELETE") == 0
                                        ? NULL
                                        : "{}";
                fixture_assert_rejected(f,
                                        f->admin,
                                        admin_calls[i][0],
                                        admin_calls[i][1],
                                        body,
                                        404,
                                        "not_found");
        }
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/hosts/host-nobody/activate",
                                proof,
                                404,
                                "not_found");
        fixture_assert_rejected(f, f->enroll, "POST", agent_activate, proof, 404, "not_found");
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/agents/host-1/vtpm-ca",
                                "{}",
                                400,
                                "invalid_argument");
        fixture_assert_rejected(f,
                                f->enroll,
                                "POST",
                                "/v1/hosts/host-1/nothing",
                                "{}",
                                404,
                                "not_found");
        /* malformed ids */
        fixture_assert_rejected(f,
                                f->admin,
                                "GET",
                                "/v1/hosts/-host",
                                NULL,
                                400,
                                "invalid_argument");
        fixture_assert_rejected(f,
                                f->admin,
                                "GET",
                                "/v1/agents/not-a-uuid",
                                NULL,
                                400,
                                "invalid_argument");
}

static void
delete_test(Fixture *f, gconstpointer user_data)
{
        Guest *g = NULL;
        populate(f, &g);
        g_autofree gchar *agent = g_strdup_printf("/v1/agents/%s", g->id);
        g_autoptr(VtcItestReply) reply = NULL;
        g_autoptr(GPtrArray) ids = NULL;
        g_autofree gchar *dump = NULL;

        reply = fixture_ok(f, f->admin, "DELETE", agent, NULL);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "deleted"), ==, g->id);
        g_clear_pointer(&reply, vtc_itest_reply_free);
        fixture_assert_rejected(f, f->admin, "GET", agent, NULL, 404, "not_found");
        fixture_assert_rejected(f, f->admin, "DELETE", agent, NULL, 404, "not_found");
        ids = list_ids(f, "agents", "registered", NULL);
        g_assert_cmpuint(ids->len, ==, 0);
        g_clear_pointer(&ids, g_ptr_array_unref);

        reply = fixture_ok(f, f->admin, "DELETE", "/v1/hosts/host-1", NULL);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "deleted"), ==, "host-1");
        fixture_assert_rejected(f, f->admin, "GET", "/v1/hosts/host-1", NULL, 404, "not_found");
        ids = list_ids(f, "hosts", "active", NULL);
        g_assert_cmpuint(ids->len, ==, 0);
        dump = fixture_dump(f);
        g_assert_null(strstr(dump, "\nhosts: "));
        g_assert_null(strstr(dump, "\nagents: "));
}

/* ---- main ------------------------------------------------------------------------------- */

/* Read by ASan at start-up, below ASAN_OPTIONS: the same LeakSanitizer crash as in the daemons
 * (vtc-itest-common.c) hits this process, whose TLS client threads use gnutls too. */
const char *__asan_default_options(void);
__attribute__((used)) const char *
__asan_default_options(void)
{
        return "intercept_tls_get_addr=0";
}

static void
factory_free(Factory *factory)
{
        g_free(factory->state);
        g_free(factory->state_b);
        g_free(factory->ca);
        vtc_test_tmpdir_free(factory->dir);
}

int
main(int argc, char **argv)
{
        g_autoptr(GError) error = NULL;
        Factory factory = {0};
        int rc;

        g_setenv("TSS2_LOG", "all+none", FALSE);
        vtc_test_require_program("swtpm");
        vtc_test_require_program("swtpm_setup");
        g_test_init(&argc, &argv, NULL);

        /* two TPMs from the same vendor (the swtpm-localca in factory.ca) */
        factory.dir = vtc_test_tmpdir_new();
        factory.state = g_build_filename(factory.dir, "tpm-a", NULL);
        factory.state_b = g_build_filename(factory.dir, "tpm-b", NULL);
        factory.ca = g_build_filename(factory.dir, "vendor-ca", NULL);
        if (!vtc_swtpm_manufacture(factory.state, factory.ca, &error) ||
            !vtc_swtpm_manufacture(factory.state_b, factory.ca, &error))
                g_error("manufacturing the test TPMs: %s", error->message);

#define ADD(path, fn) \
        g_test_add("/registrar/" path, Fixture, &factory, fixture_setup, fn, fixture_teardown)
        g_test_add_func("/registrar/cli/help", cli_help_test);
        g_test_add_func("/registrar/cli/print-config", cli_print_config_test);
        g_test_add_func("/registrar/cli/bad-config", cli_bad_config_test);
        ADD("enroll/host", host_enroll_test);
        ADD("enroll/agent", agent_enroll_test);
        ADD("enroll/restart", restart_test);
        ADD("enroll/concurrent", concurrent_test);
        ADD("enroll/reregister-same-keys", reregister_same_keys_test);
        ADD("enroll/reregister-active-keeps-values", reregister_active_keeps_values_test);
        ADD("reject/malformed-json", reject_malformed_json_test);
        ADD("reject/wrong-types", reject_wrong_types_test);
        ADD("reject/oversized-body", reject_oversized_body_test);
        ADD("reject/no-content-length", reject_no_content_length_test);
        ADD("reject/bad-base64", reject_bad_base64_test);
        ADD("reject/bad-tpm2b", reject_bad_tpm2b_test);
        ADD("reject/bad-certificate", reject_bad_cert_test);
        ADD("reject/ek-cert-untrusted", reject_ek_cert_untrusted_test);
        ADD("reject/vtpm-ek-cert-unknown-ca", reject_vtpm_ek_cert_unknown_ca_test);
        ADD("reject/vtpm-ca-wrong-signer", reject_vtpm_ca_wrong_signer_test);
        ADD("reject/vtpm-ca-name-mismatch", reject_vtpm_ca_name_mismatch_test);
        ADD("reject/vtpm-ca-restricted-key", reject_vtpm_ca_restricted_test);
        ADD("reject/vtpm-ca-decrypt-key", reject_vtpm_ca_decrypt_test);
        ADD("reject/vtpm-ca-not-active", reject_vtpm_ca_not_active_test);
        ADD("reject/wrong-proof", reject_wrong_proof_test);
        ADD("reject/reregister-other-keys", reject_reregister_other_keys_test);
        ADD("reject/admin-without-cert", reject_admin_without_cert_test);
        ADD("api/not-found", not_found_test);
        ADD("api/delete", delete_test);
#undef ADD
        rc = g_test_run();
        factory_free(&factory);
        return rc;
}
