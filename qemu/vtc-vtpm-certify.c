/* SPDX-License-Identifier: Apache-2.0 */
/*
 * swtpm_setup's create_certs_tool: swtpm_setup runs it (as the tss user, under libvirt) once
 * per certificate it wants while it manufactures a vTPM, with the interface of swtpm_localca(8).
 * This tool asks vtc-hostd for the certificate and writes what comes back into --dir, where
 * swtpm_setup picks it up and stores it in the vTPM's NV. Any failure exits non-zero, so
 * swtpm_setup fails and libvirt does not start a VM with an uncertified vTPM.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/asn1.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "vtc-error.h"
#include "vtc-hostd-proto.h"
#include "vtc-util.h"

#define VTC_CERTIFY_TIMEOUT_MS 30000

#define VTC_CERTIFY_EXIT_OK     0
#define VTC_CERTIFY_EXIT_FAILED 1
#define VTC_CERTIFY_EXIT_USAGE  2

static const gchar vtc_certify_summary[] =
    "Asks vtc-hostd for a vTPM's EK or platform certificate and writes it where swtpm_setup\n"
    "expects it. This is swtpm_setup's create_certs_tool (see swtpm_setup.conf(5)): it takes\n"
    "the same arguments as swtpm_localca(8), which swtpm_setup passes; it is not meant to be\n"
    "run by hand except to test a host's set-up.\n"
    "\n"
    "swtpm_setup calls it once per certificate while it manufactures a vTPM, e.g. with\n"
    "  --type ek --ek <RSA modulus hex>            (the RSA EK)\n"
    "  --type platform --ek <RSA modulus hex>      (the platform certificate)\n"
    "  --type ek --ek x=<hex>,y=<hex>,id=secp384r1 (the ECC EK)\n"
    "each time with --dir DIR --vmid NAME:UUID --tpm-manufacturer id:XXXXXXXX --tpm-model M\n"
    "--tpm-version id:XXXXXXXX --tpm2 and, from swtpm_setup.conf, --configfile and --optsfile.\n"
    "The tool checks every argument, sends {\"op\":\"certify\",...} to vtc-hostd over its local\n"
    "socket, checks the answer (a DER certificate; for an EK, one for exactly the EK given), and\n"
    "writes it atomically, mode 0644, as DIR/ek.cert or DIR/platform.cert. One line on standard\n"
    "output says what it wrote (swtpm_setup logs it); errors go to standard error in one line.\n"
    "Unknown options are ignored with a warning, so that a newer swtpm_setup still works.";

static const gchar vtc_certify_description[] =
    "Configuration:\n"
    "  The file given with --configfile (create_certs_tool_config in swtpm_setup.conf), when\n"
    "  present, is read as 'key = value' lines with '#' comments. Two keys are used, all others\n"
    "  are ignored (the file may be shared with swtpm_localca):\n"
    "    socket  = PATH     the vtc-hostd socket (default " VTC_HOSTD_SOCKET_DEFAULT ")\n"
    "    timeout = SECONDS  how long to wait for vtc-hostd (default 30)\n"
    "  The environment overrides the file: VTC_HOSTD_SOCKET and VTC_CERTIFY_TIMEOUT; --socket and\n"
    "  --timeout override both.\n"
    "\n"
    "Exit status:\n"
    "  0  the certificate was written\n"
    "  1  vtc-hostd could not be reached, refused, or answered with something unusable, or the\n"
    "     certificate could not be written (swtpm_setup then fails, and so does the VM start)\n"
    "  2  arguments missing, malformed, or asking for what vtc does not do (a TPM 1.2, a\n"
    "     certificate type other than ek and platform)\n"
    "\n"
    "Example (as swtpm_setup would call it):\n"
    "  vtc-vtpm-certify --type ek --ek x=1a..,y=7c..,id=secp384r1 --dir /tmp/swtpm_setup.X \\\n"
    "      --vmid guest1:6f1c2b3a-1d2e-4f5a-8b9c-0d1e2f3a4b5c --tpm-spec-family 2.0 \\\n"
    "      --tpm-spec-level 0 --tpm-spec-revision 164 --tpm-manufacturer id:00001014 \\\n"
    "      --tpm-model swtpm --tpm-version id:20191023 --tpm2 \\\n"
    "      --configfile /etc/vtc/certify.conf --optsfile /etc/swtpm-localca.options\n"
    "\n"
    "  and in /etc/swtpm_setup.conf (and ~tss/.config/swtpm_setup.conf, which wins when present):\n"
    "    create_certs_tool = /usr/local/bin/vtc-vtpm-certify   (where vtc is installed)\n"
    "\n"
    "See also: swtpm_setup(8), swtpm_localca(8), swtpm_setup.conf(5), vtc-hostd(8).";

typedef struct {
        gchar *type;
        gchar *ek;
        gchar *key;
        gchar *dir;
        gchar *vmid;
        gchar *logfile;
        gchar *configfile;
        gchar *optsfile;
        gchar *tpm_spec_family;
        gint tpm_spec_level;
        gint tpm_spec_revision;
        gchar *tpm_manufacturer;
        gchar *tpm_model;
        gchar *tpm_version;
        gchar *tpm_serial_num;
        gboolean tpm2;
        gboolean allow_signing;
        gboolean decryption;
        gchar *socket_path;
        gchar *timeout;
} VtcCertifyOptions;

static void
vtc_certify_options_clear(VtcCertifyOptions *o)
{
        g_free(o->type);
        g_free(o->ek);
        g_free(o->key);
        g_free(o->dir);
        g_free(o->vmid);
        g_free(o->logfile);
        g_free(o->configfile);
        g_free(o->optsfile);
        g_free(o->tpm_spec_family);
        g_free(o->tpm_manufacturer);
        g_free(o->tpm_model);
        g_free(o->tpm_version);
        g_free(o->tpm_serial_num);
        g_free(o->socket_path);
        g_free(o->timeout);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcCertifyOptions, vtc_certify_options_clear)

/* How swtpm_setup's flags map to a request, and where the configuration comes from. */
typedef struct {
        gchar *socket_path;
        guint timeout_ms;
} VtcCertifyConfig;

static void
vtc_certify_config_clear(VtcCertifyConfig *cfg)
{
        g_free(cfg->socket_path);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcCertifyConfig, vtc_certify_config_clear)

static gboolean
vtc_certify_config_load(const VtcCertifyOptions *o, VtcCertifyConfig *cfg, GError **error)
{
        const gchar *socket_path = VTC_HOSTD_SOCKET_DEFAULT;
        const gchar *timeout = NULL;
        const gchar *timeout_from = NULL;
        g_autoptr(GHashTable) table = NULL;

        if (o->configfile != NULL) {
                g_autoptr(GBytes) data = vtc_file_read(o->configfile, 64 * 1024, error);
                if (data == NULL) {
                        g_prefix_error(error, "--configfile: ");
                        return FALSE;
                }
                table = vtc_hostd_proto_conf_parse(g_bytes_get_data(data, NULL),
                                                   g_bytes_get_size(data),
                                                   o->configfile,
                                                   error);
                if (table == NULL)
                        return FALSE;
                if (g_hash_table_contains(table, "socket"))
                        socket_path = g_hash_table_lookup(table, "socket");
                if (g_hash_table_contains(table, "timeout")) {
                        timeout = g_hash_table_lookup(table, "timeout");
                        timeout_from = o->configfile;
                }
        }
        if (g_getenv("VTC_HOSTD_SOCKET") != NULL)
                socket_path = g_getenv("VTC_HOSTD_SOCKET");
        if (g_getenv("VTC_CERTIFY_TIMEOUT") != NULL) {
                timeout = g_getenv("VTC_CERTIFY_TIMEOUT");
                timeout_from = "VTC_CERTIFY_TIMEOUT";
        }
        if (o->socket_path != NULL)
                socket_path = o->socket_path;
        if (o->timeout != NULL) {
                timeout = o->timeout;
                timeout_from = "--timeout";
        }
        if (socket_path[0] != '/') {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "the socket path '%s' is not absolute",
                            socket_path);
                return FALSE;
        }
        cfg->socket_path = g_strdup(socket_path);
        cfg->timeout_ms = VTC_CERTIFY_TIMEOUT_MS;
        if (timeout != NULL && !vtc_hostd_proto_timeout_parse(timeout, &cfg->timeout_ms, error)) {
                g_prefix_error(error, "%s: ", timeout_from);
                return FALSE;
        }
        return TRUE;
}

/* Checks the arguments and builds the request; *out_type and *out_ek for checking the answer. */
static gchar *
vtc_certify_request_new(const VtcCertifyOptions *o,
                        VtcHostdCertType *out_type,
                        EVP_PKEY **out_ek,
                        GError **error)
{
        const struct {
                const gchar *option;
                const gchar *value;
        } required[] = {
            {"--type", o->type},
            {"--ek", o->ek},
            {"--dir", o->dir},
            {"--vmid", o->vmid},
            {"--tpm-manufacturer", o->tpm_manufacturer},
            {"--tpm-model", o->tpm_model},
            {"--tpm-version", o->tpm_version},
        };
        VtcHostdCertifyArgs args = {
            .ek = o->ek,
            .vmid = o->vmid,
            .tpm_manufacturer = o->tpm_manufacturer,
            .tpm_model = o->tpm_model,
            .tpm_version = o->tpm_version,
            .tpm_spec_family = o->tpm_spec_family,
            .tpm_spec_level = o->tpm_spec_level,
            .tpm_spec_revision = o->tpm_spec_revision,
            .allow_signing = o->allow_signing,
            .decryption = o->decryption,
        };
        g_autoptr(EVP_PKEY) ek = NULL;
        g_autofree gchar *name = NULL;
        g_autofree gchar *uuid = NULL;
        gchar *json;

        for (guint i = 0; i < G_N_ELEMENTS(required); i++) {
                if (required[i].value == NULL || required[i].value[0] == '\0') {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "%s is required",
                                    required[i].option);
                        return NULL;
                }
        }
        if (!vtc_hostd_cert_type_from_string(o->type, &args.type)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "--type %.32s: vtc issues only ek and platform certificates",
                            o->type);
                return NULL;
        }
        if (!o->tpm2) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_NOT_SUPPORTED,
                                    "vtc certifies TPM 2 vTPMs only (swtpm_setup passes --tpm2)");
                return NULL;
        }
        if (o->decryption && !o->allow_signing) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "--decryption needs --allow-signing");
                return NULL;
        }
        if (!g_file_test(o->dir, G_FILE_TEST_IS_DIR)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "--dir %s is not a directory",
                            o->dir);
                return NULL;
        }
        ek = vtc_hostd_proto_ek_parse(o->ek, error);
        if (ek == NULL) {
                g_prefix_error(error, "--ek: ");
                return NULL;
        }
        if (!vtc_hostd_proto_vmid_parse(o->vmid, &name, &uuid, error)) {
                g_prefix_error(error, "--vmid: ");
                return NULL;
        }
        json = vtc_hostd_request_certify_to_json(&args, error);
        if (json == NULL)
                return NULL;
        *out_type = args.type;
        *out_ek = g_steal_pointer(&ek);
        return json;
}

/* The certificate must be one whole DER object; an EK certificate must carry exactly @ek. */
static gboolean
vtc_certify_check_cert(GBytes *cert, VtcHostdCertType type, EVP_PKEY *ek, GError **error)
{
        gsize len = 0;
        const guint8 *data = g_bytes_get_data(cert, &len);
        const guint8 *p = data;
        long obj_len = 0;
        int tag = 0;
        int cls = 0;
        int ret = ASN1_get_object(&p, &obj_len, &tag, &cls, (long)len);

        if ((ret & 0x80) != 0 || ret != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE ||
            cls != V_ASN1_UNIVERSAL || (gsize)(p - data) + (gsize)obj_len != len) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "vtc-hostd's certificate is not one DER SEQUENCE");
                return FALSE;
        }
        if (type == VTC_HOSTD_CERT_EK) {
                const guint8 *q = data;
                g_autoptr(X509) x509 = d2i_X509(NULL, &q, (long)len);
                EVP_PKEY *key;

                if (x509 == NULL || q != data + len) {
                        vtc_ossl_set_error(error,
                                           VTC_ERROR_INVALID_DATA,
                                           "vtc-hostd's EK certificate is not X.509 DER");
                        return FALSE;
                }
                key = X509_get0_pubkey(x509);
                if (key == NULL || EVP_PKEY_eq(key, ek) != 1) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_VERIFY_FAILED,
                                            "vtc-hostd's EK certificate is for another key");
                        return FALSE;
                }
        }
        return TRUE;
}

/* DIR/NAME with mode 0644 whatever the umask; a temporary file renamed over, never half a file. */
static gboolean
vtc_certify_write(const gchar *dir, const gchar *name, GBytes *data, GError **error)
{
        g_autofree gchar *path = g_build_filename(dir, name, NULL);
        g_autofree gchar *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, name);
        vtc_autofd int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
        gsize len = 0;
        const guint8 *buf = g_bytes_get_data(data, &len);
        gsize done = 0;

        if (fd < 0) {
                int e = errno;
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "creating %s: %s", tmp, g_strerror(e));
                return FALSE;
        }
        while (done < len) {
                ssize_t n = write(fd, buf + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "writing %s: %s",
                                    tmp,
                                    g_strerror(e));
                        unlink(tmp);
                        return FALSE;
                }
                done += (gsize)n;
        }
        if (fchmod(fd, 0644) != 0 || fsync(fd) != 0 || rename(tmp, path) != 0) {
                int e = errno;
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "saving %s: %s", path, g_strerror(e));
                unlink(tmp);
                return FALSE;
        }
        return TRUE;
}

/* *out_usage says whether a failure lies in the arguments (exit 2) or later (exit 1). */
static gboolean
vtc_certify_run(const VtcCertifyOptions *o, gboolean *out_usage, GError **error)
{
        g_auto(VtcCertifyConfig) cfg = {0};
        VtcHostdCertType type = VTC_HOSTD_CERT_EK;
        g_autoptr(EVP_PKEY) ek = NULL;
        g_autofree gchar *request = NULL;
        g_autoptr(GBytes) payload = NULL;
        g_autoptr(VtcHostdAnswer) answer = NULL;
        const gchar *file;

        *out_usage = TRUE;
        request = vtc_certify_request_new(o, &type, &ek, error);
        if (request == NULL)
                return FALSE;
        if (!vtc_certify_config_load(o, &cfg, error))
                return FALSE;
        *out_usage = FALSE;
        payload =
            vtc_hostd_proto_call(cfg.socket_path, request, strlen(request), cfg.timeout_ms, error);
        if (payload == NULL)
                return FALSE;
        answer = vtc_hostd_answer_parse(g_bytes_get_data(payload, NULL),
                                        g_bytes_get_size(payload),
                                        error);
        if (answer == NULL) {
                g_prefix_error(error, "vtc-hostd's answer: ");
                return FALSE;
        }
        if (!vtc_hostd_answer_check(answer, error))
                return FALSE;
        if (answer->cert == NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "vtc-hostd answered without a certificate");
                return FALSE;
        }
        if (!vtc_certify_check_cert(answer->cert, type, ek, error))
                return FALSE;
        file = type == VTC_HOSTD_CERT_EK ? "ek.cert" : "platform.cert";
        if (!vtc_certify_write(o->dir, file, answer->cert, error))
                return FALSE;
        g_print("vtc-vtpm-certify: wrote %s/%s (%" G_GSIZE_FORMAT " bytes) for %s\n",
                o->dir,
                file,
                g_bytes_get_size(answer->cert),
                o->vmid);
        return TRUE;
}

static gchar *
vtc_certify_one_line(const gchar *text)
{
        gchar *line = g_strdup(text);

        for (gchar *p = line; *p != '\0'; p++) {
                if ((guchar)*p < 0x20 || *p == 0x7f)
                        *p = ' ';
        }
        return line;
}

int
main(int argc, char **argv)
{
        g_auto(VtcCertifyOptions) o = {.tpm_spec_level = -1, .tpm_spec_revision = -1};
        const GOptionEntry entries[] = {
            {"type",
             0,
             0,
             G_OPTION_ARG_STRING,
             &o.type,
             "Certificate to make: ek or platform",
             "TYPE"},
            {"ek",
             0,
             0,
             G_OPTION_ARG_STRING,
             &o.ek,
             "The EK: RSA modulus in hex, or x=HEX,y=HEX[,id=secp256r1|secp384r1]",
             "EK"},
            {"key",
             0,
             0,
             G_OPTION_ARG_STRING,
             &o.key,
             "Key of an IAK or IDevID request (refused: vtc issues ek and platform only)",
             "KEY"},
            {"dir",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &o.dir,
             "Directory to write ek.cert or platform.cert into",
             "DIR"},
            {"vmid",
             0,
             0,
             G_OPTION_ARG_STRING,
             &o.vmid,
             "The VM as libvirt names it: NAME:UUID",
             "NAME:UUID"},
            {"tpm-manufacturer",
             0,
             0,
             G_OPTION_ARG_STRING,
             &o.tpm_manufacturer,
             "TPM manufacturer, id:XXXXXXXX",
             "ID"},
            {"tpm-model",
             0,
             0,
             G_OPTION_ARG_STRING,
             &o.tpm_model,
             "TPM model, e.g. swtpm",
             "MODEL"},
            {"tpm-version",
             0,
             0,
             G_OPTION_ARG_STRING,
             &o.tpm_version,
             "TPM firmware version, id:XXXXXXXX",
             "ID"},
            {"tpm-spec-family",
             0,
             0,
             G_OPTION_ARG_STRING,
             &o.tpm_spec_family,
             "TPM specification family, e.g. 2.0 (passed on)",
             "FAMILY"},
            {"tpm-spec-level",
             0,
             0,
             G_OPTION_ARG_INT,
             &o.tpm_spec_level,
             "TPM specification level (passed on)",
             "N"},
            {"tpm-spec-revision",
             0,
             0,
             G_OPTION_ARG_INT,
             &o.tpm_spec_revision,
             "TPM specification revision (passed on)",
             "N"},
            {"tpm2",
             0,
             0,
             G_OPTION_ARG_NONE,
             &o.tpm2,
             "The vTPM is a TPM 2 (required: vtc does not certify TPM 1.2)",
             NULL},
            {"allow-signing",
             0,
             0,
             G_OPTION_ARG_NONE,
             &o.allow_signing,
             "The EK may sign (passed on to vtc-hostd)",
             NULL},
            {"decryption",
             0,
             0,
             G_OPTION_ARG_NONE,
             &o.decryption,
             "With --allow-signing: the EK also decrypts",
             NULL},
            {"configfile",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &o.configfile,
             "Configuration file (create_certs_tool_config); see below",
             "FILE"},
            {"optsfile",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &o.optsfile,
             "Options file (create_certs_tool_options); accepted and not read",
             "FILE"},
            {"logfile",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &o.logfile,
             "swtpm_setup's log file; accepted and not written (swtpm_setup logs this tool's output)",
             "FILE"},
            {"tpm-serial-num",
             0,
             0,
             G_OPTION_ARG_STRING,
             &o.tpm_serial_num,
             "TPM serial number of an IAK or IDevID request; accepted and not used",
             "SERIAL"},
            {"socket",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &o.socket_path,
             "vtc: the vtc-hostd socket (default " VTC_HOSTD_SOCKET_DEFAULT ")",
             "PATH"},
            {"timeout",
             0,
             0,
             G_OPTION_ARG_STRING,
             &o.timeout,
             "vtc: seconds to wait for vtc-hostd (default 30)",
             "SECONDS"},
            {NULL},
        };
        g_autoptr(GOptionContext) ctx =
            g_option_context_new("- swtpm_setup's create_certs_tool for vtc");
        g_autoptr(GError) error = NULL;
        g_autofree gchar *message = NULL;
        gboolean usage = FALSE;

        g_option_context_set_summary(ctx, vtc_certify_summary);
        g_option_context_set_description(ctx, vtc_certify_description);
        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_ignore_unknown_options(ctx, TRUE);
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                message = vtc_certify_one_line(error->message);
                g_printerr("vtc-vtpm-certify: %s (see --help)\n", message);
                return VTC_CERTIFY_EXIT_USAGE;
        }
        for (int i = 1; i < argc; i++) {
                g_autofree gchar *arg = vtc_certify_one_line(argv[i]);
                g_printerr("vtc-vtpm-certify: warning: ignoring unknown argument '%.128s'\n", arg);
        }
        if (vtc_certify_run(&o, &usage, &error))
                return VTC_CERTIFY_EXIT_OK;
        message = vtc_certify_one_line(error->message);
        g_printerr("vtc-vtpm-certify: %s certificate for %s not made: %s\n",
                   o.type != NULL ? o.type : "a",
                   o.vmid != NULL ? o.vmid : "a VM",
                   message);
        return usage ? VTC_CERTIFY_EXIT_USAGE : VTC_CERTIFY_EXIT_FAILED;
}
