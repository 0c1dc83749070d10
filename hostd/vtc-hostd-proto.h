/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/evp.h>

#include <glib.h>

#include "vtc-util.h"

G_BEGIN_DECLS

/*
 * The local socket protocol between vtc-hostd, the libvirt hook and the certify tool
 * (doc/hostd.md): a message is a 4-byte big-endian length and that many bytes of one JSON
 * object, at most VTC_HOSTD_PROTO_MAX_MESSAGE. One request, one answer, then the client closes.
 *
 * Everything here is a pure function over buffers, except the blocking client helpers
 * (vtc_hostd_proto_connect/_write_frame/_read_frame/_call), which poll() against a deadline
 * (g_get_monotonic_time() microseconds). hostd reads frames with GIO and hands the bytes to
 * vtc_hostd_proto_header_parse() and vtc_hostd_request_parse().
 */

#define VTC_HOSTD_SOCKET_DEFAULT         "/run/vtc/hostd.sock"
#define VTC_HOSTD_PROTO_HEADER_SIZE      4
#define VTC_HOSTD_PROTO_MAX_MESSAGE      (1024 * 1024)
#define VTC_HOSTD_PROTO_MAX_CERT         (16 * 1024)       /* decoded certificate in an answer */
#define VTC_HOSTD_PROTO_MAX_MESSAGE_TEXT 4096              /* the "message" of an error answer */
#define VTC_HOSTD_DOMAIN_XML_MAX         (4 * 1024 * 1024) /* what the hook reads from libvirt */
#define VTC_HOSTD_AGENT_CHANNEL          "org.vtc.agent.0"

/* Framing */

/* The payload length a 4-byte header announces: 1..VTC_HOSTD_PROTO_MAX_MESSAGE. @len must be 4. */
gboolean vtc_hostd_proto_header_parse(const guint8 *hdr, gsize len, gsize *out_len, GError **error);
/* Header + payload, refusing an empty or oversized payload. */
GBytes *vtc_hostd_proto_frame_new(const gchar *payload, gsize len, GError **error);
/* The payload of @buf, which must hold exactly one whole frame (no more, no less). */
GBytes *vtc_hostd_proto_frame_parse(const guint8 *buf, gsize len, GError **error);

/* Blocking client side: a connected non-blocking SOCK_CLOEXEC unix stream socket, or -1 with @error
 * (VTC_ERROR_UNAVAILABLE when nobody listens, VTC_ERROR_TIMEOUT past @deadline). */
int vtc_hostd_proto_connect(const gchar *path, gint64 deadline, GError **error);
/* Sends one frame on @fd (no SIGPIPE); VTC_ERROR_TIMEOUT past @deadline. */
gboolean vtc_hostd_proto_write_frame(int fd,
                                     const gchar *payload,
                                     gsize len,
                                     gint64 deadline,
                                     GError **error);
/* Reads one frame from @fd; the payload is followed by a NUL byte not counted in the GBytes. */
GBytes *vtc_hostd_proto_read_frame(int fd, gint64 deadline, GError **error);
/* Connects to @path, sends @request and returns the answer's payload, all within @timeout_ms. */
GBytes *vtc_hostd_proto_call(const gchar *path,
                             const gchar *request,
                             gsize request_len,
                             guint timeout_ms,
                             GError **error);

/* Requests */

typedef enum {
        VTC_HOSTD_OP_HOOK,
        VTC_HOSTD_OP_CERTIFY,
        VTC_HOSTD_OP_PROTECT,
} VtcHostdOp;

/* The libvirt qemu hook events hostd is told about (the others are not forwarded). */
typedef enum {
        VTC_HOSTD_EVENT_PREPARE,
        VTC_HOSTD_EVENT_START,
        VTC_HOSTD_EVENT_STARTED,
        VTC_HOSTD_EVENT_STOPPED,
        VTC_HOSTD_EVENT_RELEASE,
        VTC_HOSTD_EVENT_RECONNECT,
        VTC_HOSTD_EVENT_LAST
} VtcHostdEvent;

typedef enum {
        VTC_HOSTD_PHASE_BEGIN,
        VTC_HOSTD_PHASE_END,
        VTC_HOSTD_PHASE_NONE, /* "-" */
        VTC_HOSTD_PHASE_LAST
} VtcHostdPhase;

typedef enum { VTC_HOSTD_CERT_EK, VTC_HOSTD_CERT_PLATFORM, VTC_HOSTD_CERT_LAST } VtcHostdCertType;

const gchar *vtc_hostd_event_to_string(VtcHostdEvent event);
gboolean vtc_hostd_event_from_string(const gchar *str, VtcHostdEvent *out_event);
const gchar *vtc_hostd_phase_to_string(VtcHostdPhase phase);
gboolean vtc_hostd_phase_from_string(const gchar *str, VtcHostdPhase *out_phase);
const gchar *vtc_hostd_cert_type_to_string(VtcHostdCertType type);
gboolean vtc_hostd_cert_type_from_string(const gchar *str, VtcHostdCertType *out_type);

/* What vtc needs from a libvirt domain XML (inactive or live). */
typedef struct {
        gchar *name;
        gchar *uuid;         /* lower case, 8-4-4-4-12 */
        gint64 id;           /* <domain id=...> of a running domain, -1 otherwise */
        gboolean has_tpm;    /* a <tpm> with <backend type='emulator'> */
        gchar *tpm_version;  /* that backend's version attribute ("2.0"), or NULL */
        gchar *tpm_secret;   /* that backend's <encryption secret=UUID>, or NULL */
        gchar *channel_path; /* host path of the unix channel 'org.vtc.agent.0', or NULL */
} VtcHostdDomain;

void vtc_hostd_domain_free(VtcHostdDomain *domain);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdDomain, vtc_hostd_domain_free)

/* Reads a domain XML of at most VTC_HOSTD_DOMAIN_XML_MAX bytes; needs <name> and <uuid>. */
VtcHostdDomain *vtc_hostd_domain_parse(const gchar *xml, gsize len, GError **error);

/* swtpm_setup's --ek: the RSA modulus in hex (2048, 3072 or 4096 bits; exponent 65537), or
 * "x=<hex>,y=<hex>[,id=secp256r1|secp384r1]" (no id means secp256r1). A checked public key. */
EVP_PKEY *vtc_hostd_proto_ek_parse(const gchar *ek, GError **error);
/* swtpm_setup's --vmid as libvirt passes it: "<name>:<uuid>" (split at the last colon). */
gboolean
vtc_hostd_proto_vmid_parse(const gchar *vmid, gchar **out_name, gchar **out_uuid, GError **error);

typedef struct {
        VtcHostdEvent event;
        VtcHostdPhase phase;
        gchar *domain_xml;
        VtcHostdDomain *domain; /* domain_xml, read */
} VtcHostdHookRequest;

typedef struct {
        VtcHostdCertType type;
        gchar *ek_param; /* as swtpm_setup gave it */
        EVP_PKEY *ek;    /* ek_param, read */
        gchar *vm_name;
        gchar *vm_uuid;          /* lower case */
        gchar *tpm_manufacturer; /* "id:XXXXXXXX" */
        gchar *tpm_model;
        gchar *tpm_version; /* "id:XXXXXXXX" */
        /* optional: what swtpm_setup also passes (-1 / NULL / FALSE when absent) */
        gchar *tpm_spec_family;
        gint64 tpm_spec_level;
        gint64 tpm_spec_revision;
        gboolean allow_signing;
        gboolean decryption;
} VtcHostdCertifyRequest;

/* `vtc-hostd vm protect|unprotect` (root only):
 * {"op":"protect","action":"add","uuid":U,"name":N,"secret":S}: seal a new key for domain U
 * whose TPM backend names the libvirt secret S;
 * {"op":"protect","action":"remove","uuid":U}: delete it. */
typedef enum { VTC_HOSTD_PROTECT_ADD, VTC_HOSTD_PROTECT_REMOVE } VtcHostdProtectAction;

typedef struct {
        VtcHostdProtectAction action;
        gchar *uuid;   /* lower case */
        gchar *name;   /* add only */
        gchar *secret; /* add only, lower case */
} VtcHostdProtectRequest;

typedef struct {
        VtcHostdOp op;
        VtcHostdHookRequest hook;       /* op == VTC_HOSTD_OP_HOOK */
        VtcHostdCertifyRequest certify; /* op == VTC_HOSTD_OP_CERTIFY */
        VtcHostdProtectRequest protect; /* op == VTC_HOSTD_OP_PROTECT */
} VtcHostdRequest;

void vtc_hostd_request_free(VtcHostdRequest *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdRequest, vtc_hostd_request_free)

/* Parses and checks one request payload: unknown members, wrong types, bad values and oversized
 * fields are VTC_ERROR_INVALID_DATA / _NOT_SUPPORTED / _TOO_LARGE naming the member. */
VtcHostdRequest *vtc_hostd_request_parse(const gchar *data, gsize len, GError **error);

/* Client side: the request payloads, checked with vtc_hostd_request_parse() before they are
 * returned, so a client never sends what hostd would refuse for its form. */
gchar *vtc_hostd_request_hook_to_json(VtcHostdEvent event,
                                      VtcHostdPhase phase,
                                      const gchar *domain_xml,
                                      GError **error);

typedef struct {
        VtcHostdCertType type;
        const gchar *ek;
        const gchar *vmid;
        const gchar *tpm_manufacturer;
        const gchar *tpm_model;
        const gchar *tpm_version;
        const gchar *tpm_spec_family; /* NULL: not sent */
        gint64 tpm_spec_level;        /* < 0: not sent */
        gint64 tpm_spec_revision;     /* < 0: not sent */
        gboolean allow_signing;
        gboolean decryption;
} VtcHostdCertifyArgs;

gchar *vtc_hostd_request_certify_to_json(const VtcHostdCertifyArgs *args, GError **error);
/* @name and @secret only with VTC_HOSTD_PROTECT_ADD. */
gchar *vtc_hostd_request_protect_to_json(VtcHostdProtectAction action,
                                         const gchar *uuid,
                                         const gchar *name,
                                         const gchar *secret,
                                         GError **error);

/* Answers */

typedef struct {
        gboolean ok;
        GBytes *cert;      /* DER, certify answers only */
        gchar *error_code; /* the vtc error string ("unavailable"), when !ok */
        gchar *message;    /* when !ok */
} VtcHostdAnswer;

void vtc_hostd_answer_free(VtcHostdAnswer *answer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdAnswer, vtc_hostd_answer_free)

/* {"ok":true} or, with @cert, {"ok":true,"cert":"<base64>"}. */
gchar *vtc_hostd_answer_ok_to_json(GBytes *cert);
/* {"ok":false,"error":"<vtc_error_to_string()>","message":"<error->message>"}. */
gchar *vtc_hostd_answer_error_to_json(const GError *error);
VtcHostdAnswer *vtc_hostd_answer_parse(const gchar *data, gsize len, GError **error);
/* TRUE for an ok answer; otherwise FALSE with @error carrying hostd's code and message
 * (control characters replaced, so it prints on one line). */
gboolean vtc_hostd_answer_check(const VtcHostdAnswer *answer, GError **error);

/* Client configuration files: "key = value" lines, '#' or ';' comments, no groups, each key
 * once, at most 64 KiB. A table of key -> value, or NULL with @error naming file and line. */
GHashTable *
vtc_hostd_proto_conf_parse(const gchar *text, gsize len, const gchar *filename, GError **error);

/* A timeout in seconds ("5", "0.25"), 0.001 to 3600, as milliseconds. */
gboolean vtc_hostd_proto_timeout_parse(const gchar *str, guint *out_ms, GError **error);

G_END_DECLS
