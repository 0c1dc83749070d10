/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IMA measurement list, ascii and binary, parsed and replayed into PCR 10.
 *
 * The replay is the verifier's hot loop (millions of entries per attestation round on a busy
 * host), so it streams: each entry is a borrowed view into the log buffer (or one reused
 * scratch buffer when the template data has to be rebuilt from an ascii line), its digests are
 * computed on stack contexts, and nothing is allocated per entry.
 *
 * The hot path hashes with OpenSSL's low-level SHA1_* and SHA256_* functions, which 3.0
 * deprecates, instead of EVP. Each entry needs three or four short hashes (SHA-1 of the template
 * data for the template hash check, SHA-256 of it, SHA-256 of the running PCR || that digest,
 * and SHA-1 for the SHA-1 bank), and with 3.0 EVP costs nearly as much as the hashing itself:
 * every EVP_DigestInit_ex2, even on a reused context, frees and re-creates the provider's digest
 * context (a malloc/free pair per hash in the profile), and the one-shot SHA256() goes through
 * EVP_Q_digest, fetching the algorithm on every call. Measured on the project's build machine
 * (AMD EPYC VM with SHA-NI, shared, load average 5-7): 120-byte inputs, SHA256_Init/Update/Final
 * 4.0 M hashes/s and SHA1_* 5.0 M/s, against 2.9 M/s for a reused EVP_MD_CTX and 1.2 M/s for
 * SHA256(); the replay of the SHA-256 bank with the template hash check (bench/bench-ima.c,
 * without the allowlist, per CPU second) 2.5 M entries/s with EVP, 3.2-3.6 M with these. The
 * low-level functions are OpenSSL's own code for the same algorithms (SHA-NI included) without
 * the provider layer, so they bypass a FIPS provider: acceptable for SHA-1 and SHA-256 of
 * public measurement data. Everything else (the boot_aggregate, whose bank may be any
 * algorithm) stays on EVP. OPENSSL_NO_DEPRECATED, set for the whole project, hides the
 * declarations (sha.h tests OPENSSL_NO_DEPRECATED_3_0, which macros.h derives from it), so it is
 * undone here, before the first header includes macros.h, for this file only;
 * OPENSSL_SUPPRESS_DEPRECATED silences the deprecation warnings that -Werror would make fatal.
 */
#undef OPENSSL_NO_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED

#include "vtc-ima.h"

#include <openssl/sha.h>
#include <string.h>

/* Template names are short ("ima-sig"); the kernel caps them at 15 characters. */
#define VTC_IMA_MAX_TEMPLATE_NAME 32
/* "sha256", "sha3-512", "streebog512": hash names in d-ng fields */
#define VTC_IMA_MAX_ALG_NAME 32
#define VTC_IMA_MAX_DIGEST   64
/* A TPM has 24 PCRs; IMA's pcr= policy option cannot name any other. */
#define VTC_IMA_MAX_PCR 23
/* The "ima" template hashes its name padded to this size. */
#define VTC_IMA_NAME_PADDED      (VTC_IMA_EVENT_NAME_LEN_MAX + 1)
#define VTC_IMA_TEMPLATE_IMA_LEN (20 + VTC_IMA_NAME_PADDED)
/* An ascii line holds the template data in hex plus a little framing. */
#define VTC_IMA_MAX_LINE (2 * VTC_IMA_MAX_TEMPLATE_DATA + 256)

static const guint8 vtc_ima_ones[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/* The names' lengths are stored: the lookup for every entry would otherwise strlen() them. */
static const struct {
        const gchar *name;
        gsize name_len;
        VtcImaTemplate kind;
} vtc_ima_templates[] = {
    {"ima", 3, VTC_IMA_TEMPLATE_IMA},
    {"ima-ng", 6, VTC_IMA_TEMPLATE_IMA_NG},
    {"ima-sig", 7, VTC_IMA_TEMPLATE_IMA_SIG},
    {"ima-buf", 7, VTC_IMA_TEMPLATE_IMA_BUF},
};

/* Everything one replay reuses from entry to entry. */
typedef struct {
        VtcImaReplayFlags flags;
        /* template data rebuilt from an ascii line, or the padded "ima" template data */
        guint8 *scratch;
        gsize scratch_size;
} VtcImaReplayer;

static void
vtc_ima_replayer_clear(VtcImaReplayer *r)
{
        g_free(r->scratch);
        memset(r, 0, sizeof(*r));
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcImaReplayer, vtc_ima_replayer_clear)

/* Where an entry sits, for error messages. */
typedef struct {
        guint64 index;
        gsize offset;
        guint line; /* 0 for a binary log */
} VtcImaPos;

static void
vtc_ima_replayer_init(VtcImaReplayer *r, VtcImaReplayFlags flags)
{
        r->flags = flags;
}

/* The scratch buffer only ever grows, and only up to the bound on one entry. */
static guint8 *
vtc_ima_replayer_scratch(VtcImaReplayer *r, gsize size)
{
        if (size > r->scratch_size) {
                gsize n = MAX(size, 4096);
                g_free(r->scratch);
                r->scratch = g_malloc0(n);
                r->scratch_size = n;
        }
        return r->scratch;
}

/*
 * out = SHA-1(a || b) and out = SHA-256(a || b) (@b may be NULL), on stack contexts: see the
 * top of the file for why not EVP. @out may alias @b. OpenSSL 3.0's low-level functions cannot
 * fail on valid arguments; their results are checked all the same.
 */
static gboolean
vtc_ima_sha1(const guint8 *a, gsize alen, const guint8 *b, gsize blen, guint8 *out, GError **error)
{
        SHA_CTX c;

        if (SHA1_Init(&c) != 1 || SHA1_Update(&c, a, alen) != 1 ||
            (b != NULL && SHA1_Update(&c, b, blen) != 1) || SHA1_Final(out, &c) != 1) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_FAILED, "computing a SHA-1 digest");
                return FALSE;
        }
        return TRUE;
}

static gboolean
vtc_ima_sha256(const guint8 *a,
               gsize alen,
               const guint8 *b,
               gsize blen,
               guint8 *out,
               GError **error)
{
        SHA256_CTX c;

        if (SHA256_Init(&c) != 1 || SHA256_Update(&c, a, alen) != 1 ||
            (b != NULL && SHA256_Update(&c, b, blen) != 1) || SHA256_Final(out, &c) != 1) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_FAILED,
                                    "computing a SHA-256 digest");
                return FALSE;
        }
        return TRUE;
}

static inline guint32
vtc_ima_le32(const guint8 *p)
{
        return (guint32)p[0] | ((guint32)p[1] << 8) | ((guint32)p[2] << 16) | ((guint32)p[3] << 24);
}

static inline void
vtc_ima_put_le32(guint8 *p, guint32 v)
{
        p[0] = v & 0xff;
        p[1] = (v >> 8) & 0xff;
        p[2] = (v >> 16) & 0xff;
        p[3] = (v >> 24) & 0xff;
}

static inline gint
vtc_ima_hex_value(gchar c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decodes @hexlen hex digits into @out; FALSE on an odd length or a non-hex digit. */
static gboolean
vtc_ima_hex_decode(const gchar *hex, gsize hexlen, guint8 *out)
{
        if (hexlen % 2 != 0)
                return FALSE;
        for (gsize i = 0; i < hexlen; i += 2) {
                gint hi = vtc_ima_hex_value(hex[i]);
                gint lo = vtc_ima_hex_value(hex[i + 1]);
                if (hi < 0 || lo < 0)
                        return FALSE;
                out[i / 2] = (guint8)((hi << 4) | lo);
        }
        return TRUE;
}

/* Sets the entry's template kind and name from the name in the log. */
static gboolean
vtc_ima_template_from_name(const gchar *name, gsize len, VtcImaEntry *e)
{
        for (gsize i = 0; i < G_N_ELEMENTS(vtc_ima_templates); i++) {
                if (vtc_ima_templates[i].name_len == len &&
                    memcmp(vtc_ima_templates[i].name, name, len) == 0) {
                        e->template_kind = vtc_ima_templates[i].kind;
                        e->template_name = (gchar *)vtc_ima_templates[i].name;
                        return TRUE;
                }
        }
        return FALSE;
}

static const gchar *
vtc_ima_template_name(VtcImaTemplate kind)
{
        for (gsize i = 0; i < G_N_ELEMENTS(vtc_ima_templates); i++) {
                if (vtc_ima_templates[i].kind == kind)
                        return vtc_ima_templates[i].name;
        }
        return "?";
}

static void
vtc_ima_set_unsupported_template(GError **error, const gchar *name, gsize len)
{
        g_autofree gchar *copy = g_strndup(name, MIN(len, VTC_IMA_MAX_TEMPLATE_NAME));
        g_autofree gchar *escaped = g_strescape(copy, NULL);

        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_NOT_SUPPORTED,
                    "unsupported template '%s' (ima, ima-ng, ima-sig and ima-buf are)",
                    escaped);
}

/* A hash name as the kernel writes it in a d-ng field ("sha256", "sha3-256", "sm3"). */
static const VtcHashAlg *
vtc_ima_hash_alg_from_name(const guint8 *name, gsize len)
{
        gchar buf[VTC_IMA_MAX_ALG_NAME + 1];

        if (len == 6 && memcmp(name, "sha256", 6) == 0)
                return vtc_hash_alg_from_id(TPM2_ALG_SHA256);
        if (len == 4 && memcmp(name, "sha1", 4) == 0)
                return vtc_hash_alg_from_id(TPM2_ALG_SHA1);
        if (len > VTC_IMA_MAX_ALG_NAME)
                return NULL;
        for (gsize i = 0; i < len; i++)
                buf[i] = name[i] == '-' ? '_' : (gchar)name[i];
        buf[len] = '\0';
        return vtc_hash_alg_from_name(buf);
}

/* Reads one length-prefixed template field. */
static gboolean
vtc_ima_read_field(const guint8 *data,
                   gsize len,
                   gsize *pos,
                   const gchar *what,
                   const guint8 **out_field,
                   guint32 *out_len,
                   GError **error)
{
        guint32 flen;

        if (len - *pos < 4) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "template data ends before the %s field",
                            what);
                return FALSE;
        }
        flen = vtc_ima_le32(data + *pos);
        if (flen > len - *pos - 4) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s field of %u bytes overruns the template data",
                            what,
                            flen);
                return FALSE;
        }
        *out_field = data + *pos + 4;
        *out_len = flen;
        *pos += 4 + (gsize)flen;
        return TRUE;
}

/*
 * Decodes the fields of an ima-ng, ima-sig or ima-buf template (d-ng, n-ng, then sig or buf)
 * into @e, whose pointers then reach into @data.
 */
static gboolean
vtc_ima_decode_ng(VtcImaEntry *e, const guint8 *data, gsize len, GError **error)
{
        gsize pos = 0;
        const guint8 *f = NULL;
        guint32 flen = 0;
        const guint8 *colon;
        const VtcHashAlg *alg;
        gsize alg_len;
        gsize digest_len;

        /* d-ng: "<hash name>:\0<digest>" */
        if (!vtc_ima_read_field(data, len, &pos, "d-ng", &f, &flen, error))
                return FALSE;
        colon = memchr(f, ':', MIN(flen, VTC_IMA_MAX_ALG_NAME + 1));
        if (colon == NULL || colon == f || (gsize)(colon - f) + 2 > flen || colon[1] != '\0') {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "d-ng field lacks its \"<hash>:\" prefix");
                return FALSE;
        }
        alg_len = (gsize)(colon - f);
        digest_len = flen - alg_len - 2;
        if (digest_len == 0 || digest_len > VTC_IMA_MAX_DIGEST) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "d-ng digest of %" G_GSIZE_FORMAT " bytes",
                            digest_len);
                return FALSE;
        }
        alg = vtc_ima_hash_alg_from_name(f, alg_len);
        if (alg != NULL && alg->size != digest_len) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s digest of %" G_GSIZE_FORMAT " bytes",
                            alg->name,
                            digest_len);
                return FALSE;
        }
        e->file_hash_alg = alg;
        e->file_hash = (guint8 *)colon + 2;
        e->file_hash_len = digest_len;

        /* n-ng: the name with its NUL; an inner NUL would let a path pass for another */
        if (!vtc_ima_read_field(data, len, &pos, "n-ng", &f, &flen, error))
                return FALSE;
        if (flen == 0 || f[flen - 1] != '\0' || memchr(f, '\0', flen - 1) != NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "n-ng field is not one NUL-terminated string");
                return FALSE;
        }
        e->path = (gchar *)f;

        if (e->template_kind == VTC_IMA_TEMPLATE_IMA_SIG ||
            e->template_kind == VTC_IMA_TEMPLATE_IMA_BUF) {
                gboolean sig = e->template_kind == VTC_IMA_TEMPLATE_IMA_SIG;
                if (!vtc_ima_read_field(data, len, &pos, sig ? "sig" : "buf", &f, &flen, error))
                        return FALSE;
                if (sig) {
                        e->sig = flen > 0 ? (guint8 *)f : NULL;
                        e->sig_len = flen;
                } else {
                        e->buf = flen > 0 ? (guint8 *)f : NULL;
                        e->buf_len = flen;
                }
        }
        if (pos != len) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%" G_GSIZE_FORMAT " bytes after the last field of %s template data",
                            len - pos,
                            vtc_ima_template_name(e->template_kind));
                return FALSE;
        }
        return TRUE;
}

/* The "ima" template hashes digest || name NUL-padded to 256 bytes: rebuild that. */
static gboolean
vtc_ima_build_ima(VtcImaReplayer *r,
                  VtcImaEntry *e,
                  const guint8 *digest,
                  const gchar *name,
                  gsize name_len,
                  GError **error)
{
        guint8 *t;

        if (name_len > VTC_IMA_EVENT_NAME_LEN_MAX || memchr(name, '\0', name_len) != NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "ima template name of %" G_GSIZE_FORMAT
                            " bytes (at most %u, without NUL bytes)",
                            name_len,
                            (guint)VTC_IMA_EVENT_NAME_LEN_MAX);
                return FALSE;
        }
        t = vtc_ima_replayer_scratch(r, VTC_IMA_TEMPLATE_IMA_LEN);
        memcpy(t, digest, 20);
        memcpy(t + 20, name, name_len);
        memset(t + 20 + name_len, 0, VTC_IMA_NAME_PADDED - name_len);
        e->file_hash_alg = vtc_hash_alg_from_id(TPM2_ALG_SHA1);
        e->file_hash = t;
        e->file_hash_len = 20;
        e->path = (gchar *)t + 20;
        e->template_data = t;
        e->template_data_len = VTC_IMA_TEMPLATE_IMA_LEN;
        return TRUE;
}

static gboolean
vtc_ima_is_zero(const guint8 *p, gsize len)
{
        for (gsize i = 0; i < len; i++) {
                if (p[i] != 0)
                        return FALSE;
        }
        return TRUE;
}

/*
 * Parses one binary entry at @data + *pos into the borrowed view @e and advances *pos. With
 * @r NULL only the framing is checked (for skipping). When the entry is well-formed so far but
 * runs past the end of @data, *out_truncated is set as well as @error.
 */
static gboolean
vtc_ima_parse_binary(VtcImaReplayer *r,
                     const guint8 *data,
                     gsize len,
                     gsize *pos,
                     VtcImaEntry *e,
                     gboolean *out_truncated,
                     GError **error)
{
        const guint8 *p = data + *pos;
        gsize left = len - *pos;
        guint32 name_len;
        guint32 data_len;
        VtcImaTemplate kind;

        if (left < 4 + 20 + 4) {
                *out_truncated = TRUE;
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "truncated entry header (%" G_GSIZE_FORMAT " bytes left)",
                            left);
                return FALSE;
        }
        e->pcr = vtc_ima_le32(p);
        if (e->pcr > VTC_IMA_MAX_PCR) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "PCR index %u", e->pcr);
                return FALSE;
        }
        memcpy(e->template_hash, p + 4, 20);
        name_len = vtc_ima_le32(p + 24);
        p += 28;
        left -= 28;
        if (name_len == 0 || name_len > VTC_IMA_MAX_TEMPLATE_NAME) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "template name length %u (at most %u)",
                            name_len,
                            (guint)VTC_IMA_MAX_TEMPLATE_NAME);
                return FALSE;
        }
        if (name_len > left) {
                *out_truncated = TRUE;
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "truncated template name (%u bytes, %" G_GSIZE_FORMAT " left)",
                            name_len,
                            left);
                return FALSE;
        }
        if (!vtc_ima_template_from_name((const gchar *)p, name_len, e)) {
                vtc_ima_set_unsupported_template(error, (const gchar *)p, name_len);
                return FALSE;
        }
        kind = e->template_kind;
        e->violation = vtc_ima_is_zero(e->template_hash, 20);
        p += name_len;
        left -= name_len;

        if (kind == VTC_IMA_TEMPLATE_IMA) {
                /* no template data length: digest[20], then a length-prefixed name without NUL */
                const guint8 *digest = p;
                guint32 nlen;
                if (left < 24) {
                        *out_truncated = TRUE;
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "truncated ima template data");
                        return FALSE;
                }
                nlen = vtc_ima_le32(p + 20);
                if (nlen > VTC_IMA_EVENT_NAME_LEN_MAX) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "ima template name of %u bytes (at most %u)",
                                    nlen,
                                    (guint)VTC_IMA_EVENT_NAME_LEN_MAX);
                        return FALSE;
                }
                if (nlen > left - 24) {
                        *out_truncated = TRUE;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "truncated ima template name (%u bytes, %" G_GSIZE_FORMAT
                                    " left)",
                                    nlen,
                                    left - 24);
                        return FALSE;
                }
                *pos = (gsize)(p + 24 + nlen - data);
                if (r == NULL)
                        return TRUE;
                return vtc_ima_build_ima(r, e, digest, (const gchar *)p + 24, nlen, error);
        }

        if (left < 4) {
                *out_truncated = TRUE;
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "truncated template data length");
                return FALSE;
        }
        data_len = vtc_ima_le32(p);
        if (data_len > VTC_IMA_MAX_TEMPLATE_DATA) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "template data of %u bytes (at most %u)",
                            data_len,
                            (guint)VTC_IMA_MAX_TEMPLATE_DATA);
                return FALSE;
        }
        if (data_len > left - 4) {
                *out_truncated = TRUE;
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "truncated template data (%u bytes, %" G_GSIZE_FORMAT " left)",
                            data_len,
                            left - 4);
                return FALSE;
        }
        e->template_data = (guint8 *)p + 4;
        e->template_data_len = data_len;
        *pos = (gsize)(p + 4 + data_len - data);
        if (r == NULL)
                return TRUE;
        return vtc_ima_decode_ng(e, e->template_data, data_len, error);
}

/* Splits off the next space-separated token of [*p, end). */
static gboolean
vtc_ima_ascii_token(const gchar **p, const gchar *end, const gchar **out_tok, gsize *out_len)
{
        const gchar *s = *p;
        const gchar *sp = memchr(s, ' ', (gsize)(end - s));

        if (sp == NULL || sp == s)
                return FALSE;
        *out_tok = s;
        *out_len = (gsize)(sp - s);
        *p = sp + 1;
        return TRUE;
}

/*
 * Parses one ascii line ([line, end), no newline) into @e, rebuilding the template data exactly
 * as the kernel hashed it into the scratch buffer.
 */
static gboolean
vtc_ima_parse_ascii(VtcImaReplayer *r,
                    const gchar *line,
                    const gchar *end,
                    VtcImaEntry *e,
                    GError **error)
{
        const gchar *p = line;
        const gchar *tok = NULL;
        gsize tok_len = 0;
        guint64 pcr = 0;
        VtcImaTemplate kind;
        const gchar *digest_hex;
        gsize digest_hex_len;
        const gchar *name;
        gsize name_len;
        const gchar *extra = NULL; /* ima-sig / ima-buf: the last field, in hex */
        gsize extra_len = 0;

        if (memchr(line, '\0', (gsize)(end - line)) != NULL) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "NUL byte in line");
                return FALSE;
        }
        /* "%2d": one-digit PCRs are padded with a space */
        while (p < end && *p == ' ')
                p++;
        if (!vtc_ima_ascii_token(&p, end, &tok, &tok_len) || tok_len > 2 ||
            !g_ascii_isdigit(tok[0]) || (tok_len == 2 && !g_ascii_isdigit(tok[1]))) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "not an IMA measurement line: no PCR number");
                return FALSE;
        }
        for (gsize i = 0; i < tok_len; i++)
                pcr = pcr * 10 + (guint64)(tok[i] - '0');
        if (pcr > VTC_IMA_MAX_PCR) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "PCR index %u", (guint)pcr);
                return FALSE;
        }
        e->pcr = (guint32)pcr;
        if (!vtc_ima_ascii_token(&p, end, &tok, &tok_len) || tok_len != 40 ||
            !vtc_ima_hex_decode(tok, tok_len, e->template_hash)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "no 40-digit hex template hash");
                return FALSE;
        }
        e->violation = vtc_ima_is_zero(e->template_hash, 20);
        if (!vtc_ima_ascii_token(&p, end, &tok, &tok_len)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "no template name and fields");
                return FALSE;
        }
        if (!vtc_ima_template_from_name(tok, tok_len, e)) {
                vtc_ima_set_unsupported_template(error, tok, tok_len);
                return FALSE;
        }
        kind = e->template_kind;
        if (!vtc_ima_ascii_token(&p, end, &digest_hex, &digest_hex_len)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "no file digest and name");
                return FALSE;
        }
        /*
         * The name runs to the end of the line, or for ima-sig/ima-buf to the last space: the
         * kernel prints the last field (possibly empty) after one space, and a name may itself
         * contain spaces on kernels that did not replace them.
         */
        name = p;
        name_len = (gsize)(end - p);
        if (kind == VTC_IMA_TEMPLATE_IMA_SIG || kind == VTC_IMA_TEMPLATE_IMA_BUF) {
                const gchar *sp = memrchr(p, ' ', (gsize)(end - p));
                if (sp != NULL) {
                        name_len = (gsize)(sp - p);
                        extra = sp + 1;
                        extra_len = (gsize)(end - extra);
                }
        }

        if (kind == VTC_IMA_TEMPLATE_IMA) {
                guint8 digest[20];
                if (digest_hex_len != 40 || !vtc_ima_hex_decode(digest_hex, 40, digest)) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "ima template digest is not 40 hex digits");
                        return FALSE;
                }
                return vtc_ima_build_ima(r, e, digest, name, name_len, error);
        }

        {
                const gchar *colon = memchr(digest_hex, ':', digest_hex_len);
                gsize alg_len;
                gsize hex_len;
                gsize dng_len;
                gsize total;
                guint8 *t;
                guint8 *w;

                if (colon == NULL || colon == digest_hex ||
                    (gsize)(colon - digest_hex) > VTC_IMA_MAX_ALG_NAME) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "file digest is not \"<hash>:<hex>\"");
                        return FALSE;
                }
                alg_len = (gsize)(colon - digest_hex);
                hex_len = digest_hex_len - alg_len - 1;
                if (hex_len == 0 || hex_len > 2 * VTC_IMA_MAX_DIGEST || hex_len % 2 != 0 ||
                    extra_len % 2 != 0) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "bad hex digest or last field length");
                        return FALSE;
                }
                dng_len = alg_len + 2 + hex_len / 2;
                total = 4 + dng_len + 4 + name_len + 1;
                if (kind != VTC_IMA_TEMPLATE_IMA_NG)
                        total += 4 + extra_len / 2;
                if (total > VTC_IMA_MAX_TEMPLATE_DATA) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "template data of %" G_GSIZE_FORMAT " bytes (at most %u)",
                                    total,
                                    (guint)VTC_IMA_MAX_TEMPLATE_DATA);
                        return FALSE;
                }
                t = vtc_ima_replayer_scratch(r, total);
                w = t;
                vtc_ima_put_le32(w, (guint32)dng_len);
                w += 4;
                memcpy(w, digest_hex, alg_len + 1);
                w += alg_len + 1;
                *w++ = '\0';
                if (!vtc_ima_hex_decode(colon + 1, hex_len, w)) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "file digest is not hex");
                        return FALSE;
                }
                w += hex_len / 2;
                vtc_ima_put_le32(w, (guint32)(name_len + 1));
                w += 4;
                memcpy(w, name, name_len);
                w += name_len;
                *w++ = '\0';
                if (kind != VTC_IMA_TEMPLATE_IMA_NG) {
                        vtc_ima_put_le32(w, (guint32)(extra_len / 2));
                        w += 4;
                        if (!vtc_ima_hex_decode(extra, extra_len, w)) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "%s field is not hex",
                                            kind == VTC_IMA_TEMPLATE_IMA_SIG ? "sig" : "buf");
                                return FALSE;
                        }
                        w += extra_len / 2;
                }
                e->template_data = t;
                e->template_data_len = total;
                return vtc_ima_decode_ng(e, t, total, error);
        }
}

/* Names the entry in @error: index, line or byte offset, and path when known. */
static void
vtc_ima_prefix_error(GError **error, const VtcImaPos *pos, const VtcImaEntry *e)
{
        g_autofree gchar *where = NULL;
        g_autofree gchar *path = NULL;

        if (error == NULL || *error == NULL)
                return;
        if (pos->line > 0)
                where = g_strdup_printf("line %u", pos->line);
        else
                where = g_strdup_printf("byte offset %" G_GSIZE_FORMAT, pos->offset);
        if (e != NULL && e->path != NULL)
                path = g_strescape(e->path, NULL);
        if (path != NULL)
                g_prefix_error(error,
                               "IMA log entry %" G_GUINT64_FORMAT " (%s, %s): ",
                               pos->index,
                               where,
                               path);
        else
                g_prefix_error(error,
                               "IMA log entry %" G_GUINT64_FORMAT " (%s): ",
                               pos->index,
                               where);
}

/* Checks one parsed entry, hands it to @func and extends it. */
static gboolean
vtc_ima_process(VtcImaReplayer *r,
                VtcImaReplayState *st,
                const VtcImaEntry *e,
                VtcImaEntryFunc func,
                gpointer user_data,
                GError **error)
{
        guint8 digest[32];

        if (e->violation) {
                if (r->flags & VTC_IMA_REPLAY_FLAG_REJECT_VIOLATIONS) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_POLICY,
                                            "measurement violation (template hash all zeros)");
                        return FALSE;
                }
        } else if ((r->flags & VTC_IMA_REPLAY_FLAG_NO_TEMPLATE_HASH_CHECK) == 0) {
                if (!vtc_ima_sha1(e->template_data, e->template_data_len, NULL, 0, digest, error))
                        return FALSE;
                if (memcmp(digest, e->template_hash, 20) != 0) {
                        g_autofree gchar *logged = vtc_hex_encode(e->template_hash, 20);
                        g_autofree gchar *computed = vtc_hex_encode(digest, 20);
                        g_set_error(
                            error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "template hash %s does not match its %s template data (SHA-1 %s)",
                            logged,
                            e->template_name,
                            computed);
                        return FALSE;
                }
        }
        if (func != NULL && !func(e, st->count, user_data, error))
                return FALSE;
        if (e->pcr == VTC_IMA_PCR) {
                if ((r->flags & VTC_IMA_REPLAY_FLAG_NO_SHA1) == 0) {
                        if (!vtc_ima_sha1(st->sha1,
                                          20,
                                          e->violation ? vtc_ima_ones : e->template_hash,
                                          20,
                                          digest,
                                          error))
                                return FALSE;
                        memcpy(st->sha1, digest, 20);
                }
                if ((r->flags & VTC_IMA_REPLAY_FLAG_NO_SHA256) == 0) {
                        if (e->violation) {
                                memcpy(digest, vtc_ima_ones, 32);
                        } else if (!vtc_ima_sha256(e->template_data,
                                                   e->template_data_len,
                                                   NULL,
                                                   0,
                                                   digest,
                                                   error)) {
                                return FALSE;
                        }
                        if (!vtc_ima_sha256(st->sha256, 32, digest, 32, digest, error))
                                return FALSE;
                        memcpy(st->sha256, digest, 32);
                }
        }
        if (e->violation)
                st->violations++;
        st->count++;
        return TRUE;
}

void
vtc_ima_replay_state_init(VtcImaReplayState *state)
{
        memset(state, 0, sizeof(*state));
}

VtcImaFormat
vtc_ima_format_detect(const guint8 *data, gsize len)
{
        /* A binary log starts with a little-endian PCR index (< 24): three zero bytes follow. */
        if (len >= 4 && data[1] == 0 && data[2] == 0 && data[3] == 0)
                return VTC_IMA_FORMAT_BINARY;
        return VTC_IMA_FORMAT_ASCII;
}

/* The end of the line starting at @p (newline excluded, a CR before it too). */
static const gchar *
vtc_ima_line_end(const gchar *p, const gchar *end, const gchar **out_next)
{
        const gchar *nl = memchr(p, '\n', (gsize)(end - p));
        const gchar *e = nl != NULL ? nl : end;

        *out_next = nl != NULL ? nl + 1 : end;
        if (e > p && e[-1] == '\r')
                e--;
        return e;
}

static gboolean
vtc_ima_check_count(const VtcImaReplayState *st, GError **error)
{
        if (st->count >= VTC_IMA_MAX_ENTRIES) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "IMA log has more than %" G_GUINT64_FORMAT " entries",
                            VTC_IMA_MAX_ENTRIES);
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_ima_replay(const guint8 *data,
               gsize len,
               VtcImaFormat format,
               VtcImaReplayFlags flags,
               VtcImaReplayState *state,
               VtcImaEntryFunc func,
               gpointer user_data,
               gsize *out_consumed,
               GError **error)
{
        g_auto(VtcImaReplayer) r = {0};
        VtcImaReplayState st = *state;
        gsize consumed = 0;

        g_return_val_if_fail(data != NULL || len == 0, FALSE);
        vtc_ima_replayer_init(&r, flags);
        if (len == 0) {
                /* an empty log (data may be NULL): zero entries */
                if (out_consumed != NULL)
                        *out_consumed = 0;
                return TRUE;
        }
        if (format == VTC_IMA_FORMAT_AUTO)
                format = vtc_ima_format_detect(data, len);

        if (format == VTC_IMA_FORMAT_BINARY) {
                while (consumed < len) {
                        VtcImaEntry e = {0};
                        VtcImaPos where = {st.count, consumed, 0};
                        gsize pos = consumed;
                        gboolean truncated = FALSE;
                        g_autoptr(GError) error_local = NULL;
                        if (!vtc_ima_check_count(&st, error))
                                return FALSE;
                        if (!vtc_ima_parse_binary(&r,
                                                  data,
                                                  len,
                                                  &pos,
                                                  &e,
                                                  &truncated,
                                                  &error_local)) {
                                if (truncated && (flags & VTC_IMA_REPLAY_FLAG_PARTIAL) != 0)
                                        break;
                                g_propagate_error(error, g_steal_pointer(&error_local));
                                vtc_ima_prefix_error(error, &where, &e);
                                return FALSE;
                        }
                        if (!vtc_ima_process(&r, &st, &e, func, user_data, error)) {
                                vtc_ima_prefix_error(error, &where, &e);
                                return FALSE;
                        }
                        consumed = pos;
                }
        } else {
                const gchar *p = (const gchar *)data;
                const gchar *end = p + len;
                guint line = 0;
                while (p < end) {
                        const gchar *next = NULL;
                        const gchar *le = vtc_ima_line_end(p, end, &next);
                        VtcImaEntry e = {0};
                        VtcImaPos where = {st.count, (gsize)(p - (const gchar *)data), ++line};
                        /* a last line without its newline may be cut short */
                        if (next == end && end[-1] != '\n' &&
                            (flags & VTC_IMA_REPLAY_FLAG_PARTIAL) != 0)
                                break;
                        if (le == p) {
                                /* an empty line carries no entry */
                                p = next;
                                continue;
                        }
                        if ((gsize)(le - p) > VTC_IMA_MAX_LINE) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_TOO_LARGE,
                                            "line longer than %u bytes",
                                            (guint)VTC_IMA_MAX_LINE);
                                vtc_ima_prefix_error(error, &where, NULL);
                                return FALSE;
                        }
                        if (!vtc_ima_check_count(&st, error) ||
                            !vtc_ima_parse_ascii(&r, p, le, &e, error) ||
                            !vtc_ima_process(&r, &st, &e, func, user_data, error)) {
                                vtc_ima_prefix_error(error, &where, &e);
                                return FALSE;
                        }
                        p = next;
                }
                consumed = (gsize)(p - (const gchar *)data);
        }
        *state = st;
        if (out_consumed != NULL)
                *out_consumed = consumed;
        return TRUE;
}

gboolean
vtc_ima_log_skip(const guint8 *data,
                 gsize len,
                 VtcImaFormat format,
                 guint64 n_entries,
                 gsize *out_offset,
                 GError **error)
{
        gsize pos = 0;
        guint64 n = 0;

        if (format == VTC_IMA_FORMAT_AUTO)
                format = vtc_ima_format_detect(data, len);
        while (n < n_entries) {
                if (pos >= len) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "IMA log has %" G_GUINT64_FORMAT
                                    " entries, fewer than %" G_GUINT64_FORMAT,
                                    n,
                                    n_entries);
                        return FALSE;
                }
                if (format == VTC_IMA_FORMAT_BINARY) {
                        VtcImaEntry e = {0};
                        VtcImaPos where = {n, pos, 0};
                        gboolean truncated = FALSE;
                        if (!vtc_ima_parse_binary(NULL, data, len, &pos, &e, &truncated, error)) {
                                vtc_ima_prefix_error(error, &where, NULL);
                                return FALSE;
                        }
                        n++;
                } else {
                        const gchar *p = (const gchar *)data + pos;
                        const gchar *next = NULL;
                        const gchar *le = vtc_ima_line_end(p, (const gchar *)data + len, &next);
                        if (le != p)
                                n++;
                        pos = (gsize)(next - (const gchar *)data);
                }
        }
        *out_offset = pos;
        return TRUE;
}

static gboolean
vtc_ima_collect_cb(const VtcImaEntry *entry, guint64 index, gpointer user_data, GError **error)
{
        g_ptr_array_add(user_data, vtc_ima_entry_copy(entry));
        return TRUE;
}

GPtrArray *
vtc_ima_log_parse(const guint8 *data, gsize len, VtcImaFormat format, GError **error)
{
        g_autoptr(GPtrArray) entries =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_ima_entry_free);
        VtcImaReplayState st;

        vtc_ima_replay_state_init(&st);
        if (!vtc_ima_replay(data,
                            len,
                            format,
                            VTC_IMA_REPLAY_FLAG_NO_SHA1 | VTC_IMA_REPLAY_FLAG_NO_SHA256,
                            &st,
                            vtc_ima_collect_cb,
                            entries,
                            NULL,
                            error))
                return NULL;
        return g_steal_pointer(&entries);
}

static guint8 *
vtc_ima_memdup(const guint8 *p, gsize len)
{
        return p != NULL ? g_memdup2(p, len) : NULL;
}

VtcImaEntry *
vtc_ima_entry_copy(const VtcImaEntry *entry)
{
        VtcImaEntry *c = g_new0(VtcImaEntry, 1);
        guint8 *t = vtc_ima_memdup(entry->template_data, entry->template_data_len);

        *c = *entry;
        c->template_name = g_strdup(entry->template_name);
        c->path = g_strdup(entry->path);
        c->template_data = t;
        /* fields that point into the template data are duplicated on their own, for simplicity */
        c->file_hash = vtc_ima_memdup(entry->file_hash, entry->file_hash_len);
        c->sig = vtc_ima_memdup(entry->sig, entry->sig_len);
        c->buf = vtc_ima_memdup(entry->buf, entry->buf_len);
        return c;
}

void
vtc_ima_entry_free(VtcImaEntry *entry)
{
        if (entry == NULL)
                return;
        g_free(entry->template_name);
        g_free(entry->path);
        g_free(entry->template_data);
        g_free(entry->file_hash);
        g_free(entry->sig);
        g_free(entry->buf);
        g_free(entry);
}

gboolean
vtc_ima_entry_is_boot_aggregate(const VtcImaEntry *entry)
{
        return g_strcmp0(entry->path, "boot_aggregate") == 0;
}

gboolean
vtc_ima_boot_aggregate_compute(const VtcHashAlg *bank,
                               const guint8 *pcrs,
                               guint n_pcrs,
                               guint8 *out,
                               GError **error)
{
        if (n_pcrs != 8 && n_pcrs != 10) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "boot_aggregate covers PCRs 0-7 or 0-9, not %u PCRs",
                            n_pcrs);
                return FALSE;
        }
        return vtc_hash(bank, pcrs, (gsize)n_pcrs * bank->size, out, error);
}

gboolean
vtc_ima_boot_aggregate_verify(const VtcImaEntry *entry,
                              const VtcHashAlg *bank,
                              const guint8 *pcrs,
                              GError **error)
{
        guint8 agg8[VTC_IMA_MAX_DIGEST];
        guint8 agg10[VTC_IMA_MAX_DIGEST];
        g_autofree gchar *logged = NULL;
        g_autofree gchar *hex8 = NULL;
        g_autofree gchar *hex10 = NULL;

        if (entry->file_hash_alg != bank || entry->file_hash_len != bank->size) {
                g_set_error(
                    error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_ARGUMENT,
                    "boot_aggregate is a %s digest: it needs the PCRs of the %s bank, not %s",
                    entry->file_hash_alg != NULL ? entry->file_hash_alg->name : "unknown",
                    entry->file_hash_alg != NULL ? entry->file_hash_alg->name : "same",
                    bank->name);
                return FALSE;
        }
        if (!vtc_ima_boot_aggregate_compute(bank, pcrs, 8, agg8, error) ||
            !vtc_ima_boot_aggregate_compute(bank, pcrs, 10, agg10, error))
                return FALSE;
        if (memcmp(entry->file_hash, agg8, bank->size) == 0 ||
            memcmp(entry->file_hash, agg10, bank->size) == 0)
                return TRUE;
        logged = vtc_hex_encode(entry->file_hash, bank->size);
        hex8 = vtc_hex_encode(agg8, bank->size);
        hex10 = vtc_hex_encode(agg10, bank->size);
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_VERIFY_FAILED,
                    "boot_aggregate %s matches neither %s PCRs 0-7 (%s) nor PCRs 0-9 (%s)",
                    logged,
                    bank->name,
                    hex8,
                    hex10);
        return FALSE;
}
