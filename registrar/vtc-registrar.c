/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-registrar.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include "vtc-certify.h"
#include "vtc-credential.h"
#include "vtc-ekcert.h"
#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-json.h"
#include "vtc-registrar-store.h"
#include "vtc-util.h"

#define VTC_REGISTRAR_SECRET_SIZE 32
#define VTC_REGISTRAR_MAX_ID      64
/* a marshalled TPM2B_PUBLIC is at most this big */
#define VTC_REGISTRAR_MAX_PUBLIC sizeof(TPM2B_PUBLIC)
#define VTC_REGISTRAR_MAX_ATTEST sizeof(TPM2B_ATTEST)
#define VTC_REGISTRAR_MAX_SIG    sizeof(TPMT_SIGNATURE)

const VtcConfigKey vtc_registrar_config_schema[] = {
    {"server",
     "address",
     VTC_CONFIG_TYPE_STRING,
     "127.0.0.1",
     0,
     0,
     NULL,
     "IP address to listen on (0.0.0.0 or :: for all)"},
    {"server", "port", VTC_CONFIG_TYPE_INT, "8891", 0, 65535, NULL, "HTTPS port (0: any free)"},
    {"tls",
     "cert",
     VTC_CONFIG_TYPE_PATH,
     "/etc/vtc/tls/registrar.crt",
     0,
     0,
     NULL,
     "the registrar's TLS certificate (vtc ca issue registrar)"},
    {"tls", "key", VTC_CONFIG_TYPE_PATH, "/etc/vtc/tls/registrar.key", 0, 0, NULL, "its key"},
    {"tls",
     "client_ca",
     VTC_CONFIG_TYPE_PATH,
     "/etc/vtc/tls/ca.crt",
     0,
     0,
     NULL,
     "the deployment's CA: admin calls need a client certificate it issued"},
    {"database",
     "path",
     VTC_CONFIG_TYPE_PATH,
     "/var/lib/vtc/registrar.db",
     0,
     0,
     NULL,
     "the sqlite database (created, migrated in place, never deleted)"},
    {"ek",
     "trust_store",
     VTC_CONFIG_TYPE_PATH,
     "/etc/vtc/ek-ca",
     0,
     0,
     NULL,
     "directory of TPM vendor CA and intermediate certificates (PEM or DER) that hardware "
     "EK certificates must chain to"},
    {"ek",
     "check_validity",
     VTC_CONFIG_TYPE_BOOL,
     "true",
     0,
     0,
     NULL,
     "check notBefore/notAfter of EK certificate chains (some TPM vendors' are odd)"},
    {"limits",
     "max_body",
     VTC_CONFIG_TYPE_INT,
     "262144",
     1024,
     16777216,
     NULL,
     "largest request body in bytes"},
    {"limits",
     "max_json_depth",
     VTC_CONFIG_TYPE_INT,
     "8",
     2,
     64,
     NULL,
     "deepest nesting of a JSON request"},
    {"limits",
     "max_string",
     VTC_CONFIG_TYPE_INT,
     "131072",
     256,
     16777216,
     NULL,
     "longest JSON string in bytes"},
    {"limits",
     "max_items",
     VTC_CONFIG_TYPE_INT,
     "1000",
     1,
     1000000,
     NULL,
     "most members of a JSON object or elements of an array"},
    {NULL}};

struct _VtcRegistrar {
        VtcConfig *config;
        VtcRegistrarStore *store;
        VtcEkTrustStore *ek_store; /* NULL when the directory has no certificate */
        VtcEkVerifyFlags ek_flags;
        VtcJsonLimits limits;
        SoupServer *server;
};

void
vtc_registrar_free(VtcRegistrar *self)
{
        if (self == NULL)
                return;
        g_clear_object(&self->server);
        vtc_registrar_store_free(self->store);
        vtc_ek_trust_store_free(self->ek_store);
        g_free(self);
}

VtcRegistrar *
vtc_registrar_new(VtcConfig *config, GError **error)
{
        g_autoptr(VtcRegistrar) self = g_new0(VtcRegistrar, 1);
        const gchar *trust = vtc_config_get_string(config, "ek", "trust_store");
        g_autoptr(GError) error_local = NULL;

        self->config = config;
        self->limits.max_size = (gsize)vtc_config_get_int(config, "limits", "max_body");
        self->limits.max_depth = (guint)vtc_config_get_int(config, "limits", "max_json_depth");
        self->limits.max_string = (gsize)vtc_config_get_int(config, "limits", "max_string");
        self->limits.max_items = (guint)vtc_config_get_int(config, "limits", "max_items");
        if (!vtc_config_get_bool(config, "ek", "check_validity"))
                self->ek_flags |= VTC_EK_VERIFY_IGNORE_TIME;
        self->store =
            vtc_registrar_store_open(vtc_config_get_string(config, "database", "path"), error);
        if (self->store == NULL)
                return NULL;
        /* An empty or missing store is allowed (hosts then cannot enroll, and say why); an
         * unreadable one is not. */
        self->ek_store = vtc_ek_trust_store_new_from_dir(trust, &error_local);
        if (self->ek_store == NULL &&
            !g_error_matches(error_local, VTC_ERROR, VTC_ERROR_NOT_FOUND)) {
                g_propagate_prefixed_error(error,
                                           g_steal_pointer(&error_local),
                                           "EK trust store %s: ",
                                           trust);
                return NULL;
        }
        return g_steal_pointer(&self);
}

/* ---- helpers ---------------------------------------------------------------------------- */

static gboolean
vtc_registrar_check_host_id(const gchar *id, GError **error)
{
        gsize len = strlen(id);

        if (len == 0 || len > VTC_REGISTRAR_MAX_ID || !g_ascii_isalnum(id[0])) {
                g_set_error(
                    error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_ARGUMENT,
                    "a host id is 1 to %u letters, digits, '.', '_' or '-', starting with a "
                    "letter or digit",
                    VTC_REGISTRAR_MAX_ID);
                return FALSE;
        }
        for (gsize i = 0; i < len; i++) {
                if (!g_ascii_isalnum(id[i]) && id[i] != '.' && id[i] != '_' && id[i] != '-') {
                        /* one byte of a multi-byte character would make the JSON error
                         * body invalid UTF-8 */
                        if (g_ascii_isprint(id[i]))
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_ARGUMENT,
                                            "a host id may not contain '%c'",
                                            id[i]);
                        else
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_ARGUMENT,
                                            "a host id may not contain the byte 0x%02x",
                                            (guint)(guint8)id[i]);
                        return FALSE;
                }
        }
        return TRUE;
}

static gboolean
vtc_registrar_check_id(VtcRegistrarKind kind, const gchar *id, GError **error)
{
        if (kind == VTC_REGISTRAR_KIND_HOST)
                return vtc_registrar_check_host_id(id, error);
        if (!g_uuid_string_is_valid(id)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "an agent id is the VM's UUID");
                return FALSE;
        }
        return TRUE;
}

static gboolean
vtc_registrar_unmarshal_public(GBytes *data, const gchar *what, TPM2B_PUBLIC *out, GError **error)
{
        if (!vtc_tpm_public_unmarshal(g_bytes_get_data(data, NULL),
                                      g_bytes_get_size(data),
                                      out,
                                      error)) {
                g_prefix_error(error, "%s: ", what);
                return FALSE;
        }
        return TRUE;
}

/* An AK must be a restricted signing key that cannot leave its TPM. */
static gboolean
vtc_registrar_check_ak(const TPM2B_PUBLIC *ak, GError **error)
{
        TPMA_OBJECT a = ak->publicArea.objectAttributes;
        const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED |
                                 TPMA_OBJECT_SIGN_ENCRYPT;

        if ((a & need) != need || (a & TPMA_OBJECT_DECRYPT) != 0) {
                g_set_error(
                    error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_DATA,
                    "ak_public: an AK must be a restricted, fixedTPM, fixedParent signing key "
                    "(attributes 0x%08x)",
                    (guint)a);
                return FALSE;
        }
        return TRUE;
}

static GBytes *
vtc_registrar_name_bytes(const TPM2B_PUBLIC *pub, GError **error)
{
        TPM2B_NAME name = {0};

        if (!vtc_tpm_public_get_name(pub, &name, error))
                return NULL;
        return g_bytes_new(name.name, name.size);
}

/* HMAC-SHA256(key = secret, message = id): the proof of ActivateCredential. */
static void
vtc_registrar_proof(GBytes *secret, const gchar *id, guint8 out[32])
{
        unsigned int len = 32;

        HMAC(EVP_sha256(),
             g_bytes_get_data(secret, NULL),
             (int)g_bytes_get_size(secret),
             (const guint8 *)id,
             strlen(id),
             out,
             &len);
}

/* SHA-1 of the subjectPublicKey bits: what authorityKeyIdentifier carries (RFC 5280 4.2.1.2). */
static GBytes *
vtc_registrar_key_id(EVP_PKEY *pkey, GError **error)
{
        X509_PUBKEY *xpk = NULL;
        const unsigned char *pk = NULL;
        int pklen = 0;
        guint8 md[20];

        if (X509_PUBKEY_set(&xpk, pkey) != 1 ||
            X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xpk) != 1) {
                X509_PUBKEY_free(xpk);
                vtc_ossl_set_error(error, VTC_ERROR_INVALID_DATA, "encoding the vTPM CA key");
                return NULL;
        }
        EVP_Digest(pk, (size_t)pklen, md, NULL, EVP_sha1(), NULL);
        X509_PUBKEY_free(xpk);
        return g_bytes_new(md, sizeof(md));
}

static void
vtc_registrar_add_b64(JsonBuilder *b, const gchar *member, GBytes *data)
{
        json_builder_set_member_name(b, member);
        if (data == NULL) {
                json_builder_add_null_value(b);
                return;
        }
        {
                g_autofree gchar *s =
                    g_base64_encode(g_bytes_get_data(data, NULL), g_bytes_get_size(data));
                json_builder_add_string_value(b, s);
        }
}

static gchar *
vtc_registrar_error_body(const GError *error)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, vtc_error_to_string(error));
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, error->message);
        json_builder_end_object(b);
        return vtc_json_builder_to_string(b);
}

/* ---- enrollment ----------------------------------------------------------------------- */

/* A vTPM EK certificate is issued by the vTPM CA key inside some host's hardware TPM: find the
 * active host whose certified key signed it. */
static gchar *
vtc_registrar_find_vtpm_maker(VtcRegistrar *self, X509 *cert, GError **error)
{
        const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(cert);
        g_autoptr(GBytes) key_id = NULL;
        g_autoptr(GPtrArray) hosts = NULL;

        if (aki == NULL)
                return NULL;
        key_id = g_bytes_new(ASN1_STRING_get0_data(aki), (gsize)ASN1_STRING_length(aki));
        hosts = vtc_registrar_store_find_vtpm_ca(self->store, key_id, error);
        if (hosts == NULL)
                return NULL;
        for (guint i = 0; i < hosts->len; i++) {
                VtcRegistrarRecord *host = g_ptr_array_index(hosts, i);
                TPM2B_PUBLIC pub = {0};
                g_autoptr(EVP_PKEY) ca = NULL;

                if (!vtc_registrar_unmarshal_public(host->vtpm_ca_public,
                                                    "vTPM CA key",
                                                    &pub,
                                                    NULL))
                        continue;
                ca = vtc_tpm_public_to_pkey(&pub, NULL);
                if (ca != NULL && X509_verify(cert, ca) == 1)
                        return g_strdup(host->id);
                ERR_clear_error();
        }
        return NULL;
}

static gboolean
vtc_registrar_check_vtpm_ek_cert(VtcRegistrar *self,
                                 GBytes *cert_der,
                                 GBytes *ek_public,
                                 gchar **out_host_id,
                                 GError **error)
{
        g_autoptr(X509) cert =
            vtc_ek_cert_parse(g_bytes_get_data(cert_der, NULL), g_bytes_get_size(cert_der), error);
        g_autoptr(EVP_PKEY) ek = NULL;
        g_autofree gchar *host_id = NULL;
        g_autoptr(GError) error_local = NULL;

        if (cert == NULL) {
                g_prefix_error(error, "ek_cert: ");
                return FALSE;
        }
        ek = vtc_ek_public_parse(g_bytes_get_data(ek_public, NULL),
                                 g_bytes_get_size(ek_public),
                                 error);
        if (ek == NULL) {
                g_prefix_error(error, "ek_public: ");
                return FALSE;
        }
        host_id = vtc_registrar_find_vtpm_maker(self, cert, &error_local);
        if (error_local != NULL) {
                g_propagate_error(error, g_steal_pointer(&error_local));
                return FALSE;
        }
        if (host_id == NULL) {
                /* not a vTPM of ours: a TPM with a vendor certificate (a bare-metal agent) */
                if (self->ek_store == NULL) {
                        g_set_error_literal(
                            error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "ek_cert: not issued by the vTPM CA key of any active host, "
                            "and no vendor EK trust store is configured");
                        return FALSE;
                }
                if (!vtc_ek_cert_verify_x509(self->ek_store,
                                             cert,
                                             NULL,
                                             ek,
                                             self->ek_flags,
                                             NULL,
                                             error)) {
                        g_prefix_error(error,
                                       "ek_cert: not issued by the vTPM CA key of any active host, "
                                       "nor by a TPM vendor: ");
                        return FALSE;
                }
                *out_host_id = NULL;
                return TRUE;
        }
        if (EVP_PKEY_eq(X509_get0_pubkey(cert), ek) != 1) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "ek_cert: the certificate's key is not the EK");
                return FALSE;
        }
        if ((self->ek_flags & VTC_EK_VERIFY_IGNORE_TIME) == 0 &&
            (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0 ||
             X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "ek_cert: outside its validity period");
                return FALSE;
        }
        *out_host_id = g_steal_pointer(&host_id);
        return TRUE;
}

static GBytes *
vtc_registrar_read_tls_cert(JsonObject *body, GError **error)
{
        const gchar *pem = vtc_json_get_string(body, "tls_cert", FALSE, error);
        g_autoptr(BIO) bio = NULL;
        g_autoptr(X509) cert = NULL;
        guint8 *der = NULL;
        int len;
        GBytes *out;

        if (pem == NULL)
                return NULL;
        bio = BIO_new_mem_buf(pem, (int)strlen(pem));
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert == NULL) {
                vtc_ossl_set_error(error,
                                   VTC_ERROR_INVALID_DATA,
                                   "tls_cert: not a PEM certificate");
                return NULL;
        }
        len = i2d_X509(cert, &der);
        if (len <= 0) {
                vtc_ossl_set_error(error, VTC_ERROR_INVALID_DATA, "tls_cert: cannot encode");
                return NULL;
        }
        out = g_bytes_new(der, (gsize)len);
        OPENSSL_free(der);
        return out;
}

static JsonNode *
vtc_registrar_register(VtcRegistrar *self, VtcRegistrarKind kind, JsonObject *body, GError **error)
{
        g_autoptr(VtcRegistrarRecord) rec = g_new0(VtcRegistrarRecord, 1);
        const gchar *id = vtc_json_get_string(body, "id", TRUE, error);
        TPM2B_PUBLIC ek = {0};
        TPM2B_PUBLIC ak = {0};
        guint8 secret[VTC_REGISTRAR_SECRET_SIZE];
        g_autoptr(GBytes) credential = NULL;
        g_autoptr(GBytes) encrypted_secret = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();

        if (id == NULL || !vtc_registrar_check_id(kind, id, error))
                return NULL;
        rec->kind = kind;
        rec->id = kind == VTC_REGISTRAR_KIND_AGENT ? g_ascii_strdown(id, -1) : g_strdup(id);
        rec->ek_public =
            vtc_json_get_base64(body, "ek_public", VTC_REGISTRAR_MAX_PUBLIC, TRUE, error);
        if (rec->ek_public == NULL)
                return NULL;
        rec->ak_public =
            vtc_json_get_base64(body, "ak_public", VTC_REGISTRAR_MAX_PUBLIC, TRUE, error);
        if (rec->ak_public == NULL)
                return NULL;
        rec->ek_cert = vtc_json_get_base64(body, "ek_cert", VTC_EK_CERT_MAX_SIZE, TRUE, error);
        if (rec->ek_cert == NULL)
                return NULL;
        if (kind == VTC_REGISTRAR_KIND_AGENT) {
                g_autoptr(GError) error_local = NULL;
                rec->tls_cert = vtc_registrar_read_tls_cert(body, &error_local);
                if (error_local != NULL) {
                        g_propagate_error(error, g_steal_pointer(&error_local));
                        return NULL;
                }
        }
        if (!vtc_registrar_unmarshal_public(rec->ek_public, "ek_public", &ek, error) ||
            !vtc_registrar_unmarshal_public(rec->ak_public, "ak_public", &ak, error) ||
            !vtc_registrar_check_ak(&ak, error))
                return NULL;
        rec->ak_name = vtc_registrar_name_bytes(&ak, error);
        if (rec->ak_name == NULL)
                return NULL;

        /* the EK certificate: vendor CA for hosts, a host's vTPM CA for agents */
        if (kind == VTC_REGISTRAR_KIND_HOST) {
                if (self->ek_store == NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "ek_cert: the registrar has no TPM vendor CA in %s",
                                    vtc_config_get_string(self->config, "ek", "trust_store"));
                        return NULL;
                }
                if (!vtc_ek_cert_verify(self->ek_store,
                                        rec->ek_cert,
                                        NULL,
                                        rec->ek_public,
                                        self->ek_flags,
                                        NULL,
                                        error)) {
                        g_prefix_error(error, "ek_cert: ");
                        return NULL;
                }
        } else if (!vtc_registrar_check_vtpm_ek_cert(self,
                                                     rec->ek_cert,
                                                     rec->ek_public,
                                                     &rec->host_id,
                                                     error)) {
                return NULL;
        }

        if (RAND_bytes(secret, sizeof(secret)) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "drawing the credential secret");
                return NULL;
        }
        if (!vtc_credential_make_marshalled(rec->ek_public,
                                            rec->ak_name,
                                            secret,
                                            sizeof(secret),
                                            &credential,
                                            &encrypted_secret,
                                            error)) {
                explicit_bzero(secret, sizeof(secret));
                g_prefix_error(error, "MakeCredential: ");
                return NULL;
        }
        rec->secret = g_bytes_new(secret, sizeof(secret));
        explicit_bzero(secret, sizeof(secret));
        if (!vtc_registrar_store_register(self->store, rec, error))
                return NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, rec->id);
        vtc_registrar_add_b64(b, "credential_blob", credential);
        vtc_registrar_add_b64(b, "encrypted_secret", encrypted_secret);
        if (rec->host_id != NULL) {
                json_builder_set_member_name(b, "host_id");
                json_builder_add_string_value(b, rec->host_id);
        }
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

static JsonNode *
vtc_registrar_activate(VtcRegistrar *self,
                       VtcRegistrarKind kind,
                       const gchar *id,
                       JsonObject *body,
                       GError **error)
{
        const gchar *proof_hex = vtc_json_get_string(body, "proof", TRUE, error);
        guint8 proof[32];
        guint8 expect[32];
        g_autoptr(VtcRegistrarRecord) rec = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();

        if (proof_hex == NULL)
                return NULL;
        if (!vtc_hex_decode_fixed(proof_hex, proof, sizeof(proof), error)) {
                g_prefix_error(error, "proof: ");
                return NULL;
        }
        rec = vtc_registrar_store_get(self->store, kind, id, error);
        if (rec == NULL)
                return NULL;
        if (rec->secret == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "'%s' is already active: register again for a new credential",
                            id);
                return NULL;
        }
        vtc_registrar_proof(rec->secret, rec->id, expect);
        if (CRYPTO_memcmp(proof, expect, sizeof(proof)) != 0) {
                explicit_bzero(expect, sizeof(expect));
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_FORBIDDEN,
                                    "proof: does not match the credential's secret");
                return NULL;
        }
        explicit_bzero(expect, sizeof(expect));
        if (!vtc_registrar_store_activate(self->store, kind, rec->id, rec->secret, error))
                return NULL;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, rec->id);
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, "active");
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

static JsonNode *
vtc_registrar_set_vtpm_ca(VtcRegistrar *self, const gchar *id, JsonObject *body, GError **error)
{
        g_autoptr(VtcRegistrarRecord) host = NULL;
        g_autoptr(GBytes) ca = NULL;
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) sig = NULL;
        g_autoptr(GBytes) key_id = NULL;
        g_autoptr(EVP_PKEY) pkey = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree gchar *key_id_hex = NULL;
        TPM2B_PUBLIC pub = {0};

        ca = vtc_json_get_base64(body, "public", VTC_REGISTRAR_MAX_PUBLIC, TRUE, error);
        if (ca == NULL)
                return NULL;
        attest = vtc_json_get_base64(body, "certify_attest", VTC_REGISTRAR_MAX_ATTEST, TRUE, error);
        if (attest == NULL)
                return NULL;
        sig = vtc_json_get_base64(body, "certify_signature", VTC_REGISTRAR_MAX_SIG, TRUE, error);
        if (sig == NULL)
                return NULL;
        if (!vtc_registrar_unmarshal_public(ca, "public", &pub, error) ||
            !vtc_certify_check_ca_key_attributes(&pub, error))
                return NULL;
        pkey = vtc_tpm_public_to_pkey(&pub, error);
        if (pkey == NULL) {
                g_prefix_error(error, "public: ");
                return NULL;
        }
        host = vtc_registrar_store_get(self->store, VTC_REGISTRAR_KIND_HOST, id, error);
        if (host == NULL)
                return NULL;
        if (g_strcmp0(host->state, "active") != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "host '%s' must be activated before its vTPM CA key is certified",
                            id);
                return NULL;
        }
        if (!vtc_certify_check(host->ak_public, ca, attest, sig, NULL, error)) {
                g_prefix_error(error, "certify: ");
                return NULL;
        }
        key_id = vtc_registrar_key_id(pkey, error);
        if (key_id == NULL || !vtc_registrar_store_set_vtpm_ca(self->store, id, ca, key_id, error))
                return NULL;
        key_id_hex = vtc_hex_encode(g_bytes_get_data(key_id, NULL), g_bytes_get_size(key_id));
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, id);
        json_builder_set_member_name(b, "vtpm_ca_key_id");
        json_builder_add_string_value(b, key_id_hex);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

static void
vtc_registrar_add_record(JsonBuilder *b, VtcRegistrarRecord *rec, gboolean full)
{
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, rec->id);
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, rec->state);
        if (rec->kind == VTC_REGISTRAR_KIND_AGENT) {
                json_builder_set_member_name(b, "host_id");
                if (rec->host_id != NULL)
                        json_builder_add_string_value(b, rec->host_id);
                else
                        json_builder_add_null_value(b);
        }
        if (full) {
                g_autofree gchar *name = vtc_hex_encode(g_bytes_get_data(rec->ak_name, NULL),
                                                        g_bytes_get_size(rec->ak_name));
                vtc_registrar_add_b64(b, "ek_public", rec->ek_public);
                vtc_registrar_add_b64(b, "ek_cert", rec->ek_cert);
                vtc_registrar_add_b64(b, "ak_public", rec->ak_public);
                json_builder_set_member_name(b, "ak_name");
                json_builder_add_string_value(b, name);
                if (rec->kind == VTC_REGISTRAR_KIND_HOST)
                        vtc_registrar_add_b64(b, "vtpm_ca_public", rec->vtpm_ca_public);
                else
                        vtc_registrar_add_b64(b, "tls_cert", rec->tls_cert);
                json_builder_set_member_name(b, "created");
                json_builder_add_int_value(b, rec->created);
                json_builder_set_member_name(b, "activated");
                json_builder_add_int_value(b, rec->activated);
        }
        json_builder_end_object(b);
}

static JsonNode *
vtc_registrar_get(VtcRegistrar *self, VtcRegistrarKind kind, const gchar *id, GError **error)
{
        g_autoptr(VtcRegistrarRecord) rec = vtc_registrar_store_get(self->store, kind, id, error);
        g_autoptr(JsonBuilder) b = json_builder_new();

        if (rec == NULL)
                return NULL;
        vtc_registrar_add_record(b, rec, TRUE);
        return json_builder_get_root(b);
}

static JsonNode *
vtc_registrar_list(VtcRegistrar *self, VtcRegistrarKind kind, GError **error)
{
        g_autoptr(GPtrArray) recs = vtc_registrar_store_list(self->store, kind, error);
        g_autoptr(JsonBuilder) b = json_builder_new();

        if (recs == NULL)
                return NULL;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, kind == VTC_REGISTRAR_KIND_HOST ? "hosts" : "agents");
        json_builder_begin_array(b);
        for (guint i = 0; i < recs->len; i++)
                vtc_registrar_add_record(b, g_ptr_array_index(recs, i), FALSE);
        json_builder_end_array(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

static JsonNode *
vtc_registrar_delete(VtcRegistrar *self, VtcRegistrarKind kind, const gchar *id, GError **error)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        if (!vtc_registrar_store_delete(self->store, kind, id, error))
                return NULL;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "deleted");
        json_builder_add_string_value(b, id);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

/* ---- routing -------------------------------------------------------------------------- */

static JsonNode *
vtc_registrar_route(VtcRegistrar *self,
                    const gchar *method,
                    const gchar *path,
                    GBytes *body,
                    gboolean admin,
                    GError **error)
{
        g_auto(GStrv) parts = NULL;
        guint n;
        VtcRegistrarKind kind;
        g_autoptr(JsonObject) obj = NULL;
        g_autofree gchar *id = NULL;
        gboolean is_post = g_strcmp0(method, "POST") == 0;

        if (!g_str_has_prefix(path, "/v1/")) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND, "no such resource: %s", path);
                return NULL;
        }
        parts = g_strsplit(path + 4, "/", 4);
        n = g_strv_length(parts);
        if (n > 0 && parts[n - 1][0] == '\0') /* a trailing slash */
                n--;
        if (n == 1 && g_strcmp0(parts[0], "version") == 0 && g_strcmp0(method, "GET") == 0) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "api");
                json_builder_add_string_value(b, "v1");
                json_builder_end_object(b);
                return json_builder_get_root(b);
        }
        if (n == 0 || n > 3 ||
            (g_strcmp0(parts[0], "hosts") != 0 && g_strcmp0(parts[0], "agents") != 0)) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND, "no such resource: %s", path);
                return NULL;
        }
        kind =
            g_strcmp0(parts[0], "hosts") == 0 ? VTC_REGISTRAR_KIND_HOST : VTC_REGISTRAR_KIND_AGENT;
        if (n >= 2) {
                if (!vtc_registrar_check_id(kind, parts[1], error))
                        return NULL;
                id = kind == VTC_REGISTRAR_KIND_AGENT ? g_ascii_strdown(parts[1], -1)
                                                      : g_strdup(parts[1]);
        }
        if (is_post) {
                if (body == NULL || g_bytes_get_size(body) == 0) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "the request has no JSON body");
                        return NULL;
                }
                obj = vtc_json_parse_object(g_bytes_get_data(body, NULL),
                                            g_bytes_get_size(body),
                                            &self->limits,
                                            error);
                if (obj == NULL)
                        return NULL;
        }

        /* enrollment: server-authenticated only */
        if (n == 1 && is_post)
                return vtc_registrar_register(self, kind, obj, error);
        if (n == 3 && is_post && g_strcmp0(parts[2], "activate") == 0)
                return vtc_registrar_activate(self, kind, id, obj, error);
        if (n == 3 && is_post && kind == VTC_REGISTRAR_KIND_HOST &&
            g_strcmp0(parts[2], "vtpm-ca") == 0)
                return vtc_registrar_set_vtpm_ca(self, id, obj, error);

        /* reading and deleting: a client certificate of the deployment's CA */
        if (n <= 2 && (g_strcmp0(method, "GET") == 0 || g_strcmp0(method, "DELETE") == 0)) {
                if (!admin) {
                        g_set_error_literal(
                            error,
                            VTC_ERROR,
                            VTC_ERROR_UNAUTHORIZED,
                            "this call needs a client certificate of the deployment's "
                            "CA");
                        return NULL;
                }
                if (n == 1 && g_strcmp0(method, "GET") == 0)
                        return vtc_registrar_list(self, kind, error);
                if (n == 2 && g_strcmp0(method, "GET") == 0)
                        return vtc_registrar_get(self, kind, id, error);
                if (n == 2)
                        return vtc_registrar_delete(self, kind, id, error);
        }
        g_set_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND, "no such resource: %s %s", method, path);
        return NULL;
}

guint
vtc_registrar_dispatch(VtcRegistrar *self,
                       const gchar *method,
                       const gchar *path,
                       GBytes *body,
                       gboolean admin,
                       gchar **out_body)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = vtc_registrar_route(self, method, path, body, admin, &error);

        if (node == NULL) {
                *out_body = vtc_registrar_error_body(error);
                return vtc_error_to_http_status(error);
        }
        *out_body = vtc_json_node_to_string(node);
        return 200;
}

/* ---- HTTP: each request runs in a worker thread, the loop never waits on sqlite or crypto */

typedef struct {
        VtcRegistrar *self;
        SoupServerMessage *msg;
        gchar *method;
        gchar *path;
        GBytes *body;
        gboolean admin;
        guint status;
        gchar *reply;
} VtcRegistrarJob;

static void
vtc_registrar_job_free(VtcRegistrarJob *job)
{
        g_object_unref(job->msg);
        g_free(job->method);
        g_free(job->path);
        g_clear_pointer(&job->body, g_bytes_unref);
        g_free(job->reply);
        g_free(job);
}

static void
vtc_registrar_job_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
        VtcRegistrarJob *job = data;

        job->status = vtc_registrar_dispatch(job->self,
                                             job->method,
                                             job->path,
                                             job->body,
                                             job->admin,
                                             &job->reply);
        g_task_return_boolean(task, TRUE);
}

static void
vtc_registrar_job_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcRegistrarJob *job = g_task_get_task_data(G_TASK(res));
        gchar *reply = g_steal_pointer(&job->reply);

        soup_server_message_set_status(job->msg, job->status, NULL);
        soup_server_message_set_response(job->msg,
                                         "application/json",
                                         SOUP_MEMORY_TAKE,
                                         reply,
                                         strlen(reply));
        soup_server_message_unpause(job->msg);
}

static void
vtc_registrar_http_cb(SoupServer *server,
                      SoupServerMessage *msg,
                      const char *path,
                      GHashTable *query,
                      gpointer user_data)
{
        VtcRegistrar *self = user_data;
        VtcRegistrarJob *job = g_new0(VtcRegistrarJob, 1);
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(GTask) task = g_task_new(NULL, NULL, vtc_registrar_job_done, NULL);

        job->self = self;
        job->msg = g_object_ref(msg);
        job->method = g_strdup(soup_server_message_get_method(msg));
        job->path = g_strdup(path);
        job->body = body != NULL ? soup_message_body_flatten(body) : NULL;
        /* remembered per connection: a kept-alive connection stays authenticated */
        job->admin = vtc_http_is_authenticated(msg);
        g_task_set_task_data(task, job, (GDestroyNotify)vtc_registrar_job_free);
        soup_server_message_pause(msg);
        g_task_run_in_thread(task, vtc_registrar_job_thread);
}

gboolean
vtc_registrar_listen(VtcRegistrar *self, guint *out_port, GError **error)
{
        VtcConfig *c = self->config;
        GSList *listeners;

        self->server = vtc_http_server_new(vtc_config_get_string(c, "tls", "cert"),
                                           vtc_config_get_string(c, "tls", "key"),
                                           vtc_config_get_string(c, "tls", "client_ca"),
                                           self->limits.max_size,
                                           error);
        if (self->server == NULL)
                return FALSE;
        vtc_http_server_add_handler(self->server, "/v1", vtc_registrar_http_cb, self);
        if (!vtc_http_server_listen(self->server,
                                    vtc_config_get_string(c, "server", "address"),
                                    (guint)vtc_config_get_int(c, "server", "port"),
                                    out_port,
                                    error))
                return FALSE;
        /* GLib listens with a backlog of 10: a burst of enrollments (hosts booting their VMs)
         * overflows it and the dropped connections retry only after 1, 3, 7... seconds. Linux
         * takes a new backlog from a second listen() (GLib refuses to set it once listening). */
        listeners = soup_server_get_listeners(self->server);
        for (GSList *l = listeners; l != NULL; l = l->next) {
                if (listen(g_socket_get_fd(l->data), SOMAXCONN) != 0) {
                        int e = errno;
                        g_slist_free(listeners);
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "raising the listen backlog: %s",
                                    g_strerror(e));
                        return FALSE;
                }
        }
        g_slist_free(listeners);
        return TRUE;
}
