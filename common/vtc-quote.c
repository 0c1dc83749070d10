/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-quote.h"

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "vtc-credential.h"
#include "vtc-error.h"
#include "vtc-util.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ECDSA_SIG, ECDSA_SIG_free)

/* The largest digest a PCR bank or a signature hash may have (sha512). */
#define VTC_QUOTE_DIGEST_MAX 64

/*
 * tpm2-tools' "serialized" PCR file is its in-memory structs written with fwrite() on a
 * little-endian host (lib/pcr.c pcr_fwrite_serialized()), not TPM-marshalled data, so
 * Tss2_MU_* cannot read it: it is parsed here by hand, with these fixed sizes.
 */
#define VTC_SER_SELECTION_SIZE   (4 + TPM2_NUM_PCR_BANKS * 8) /* TPML_PCR_SELECTION: 132 */
#define VTC_SER_DIGEST_SIZE      (2 + 64)                     /* TPM2B_DIGEST: 66 */
#define VTC_SER_DIGESTS_PER_LIST 8
#define VTC_SER_LIST_SIZE \
        (4 + VTC_SER_DIGESTS_PER_LIST * VTC_SER_DIGEST_SIZE) /* TPML_DIGEST: 532 */
/* tpm2-tools' tpm2_pcrs holds at most TPM2_MAX_PCRS lists. */
#define VTC_SER_LISTS_MAX TPM2_MAX_PCRS

typedef struct {
        const VtcHashAlg *alg;
        guint32 mask;
        guint8 values[VTC_PCR_MAX][VTC_QUOTE_DIGEST_MAX];
} VtcPcrBank;

struct _VtcPcrValues {
        guint n_banks;
        VtcPcrBank *banks[TPM2_NUM_PCR_BANKS];
};

struct _VtcQuote {
        TPMS_ATTEST attest;
        guint8 *data;
        gsize len;
};

struct _VtcQuoteAk {
        EVP_PKEY *pkey;
        gboolean is_rsa;
        gboolean has_public;
        TPMT_PUBLIC pub;
};

/* PCR values */

VtcPcrValues *
vtc_pcr_values_new(void)
{
        return g_new0(VtcPcrValues, 1);
}

void
vtc_pcr_values_free(VtcPcrValues *self)
{
        if (self == NULL)
                return;
        for (guint i = 0; i < self->n_banks; i++)
                g_free(self->banks[i]);
        g_free(self);
}

VtcPcrValues *
vtc_pcr_values_copy(const VtcPcrValues *self)
{
        VtcPcrValues *copy = vtc_pcr_values_new();

        copy->n_banks = self->n_banks;
        for (guint i = 0; i < self->n_banks; i++)
                copy->banks[i] = g_memdup2(self->banks[i], sizeof(VtcPcrBank));
        return copy;
}

static VtcPcrBank *
vtc_pcr_values_find_bank(const VtcPcrValues *self, TPM2_ALG_ID alg)
{
        for (guint i = 0; i < self->n_banks; i++) {
                if (self->banks[i]->alg->alg == alg)
                        return self->banks[i];
        }
        return NULL;
}

gboolean
vtc_pcr_values_set(VtcPcrValues *self,
                   TPM2_ALG_ID bank,
                   guint index,
                   const guint8 *digest,
                   gsize len,
                   GError **error)
{
        const VtcHashAlg *alg = vtc_hash_alg_from_id(bank);
        VtcPcrBank *b = NULL;

        if (alg == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "PCR bank 0x%04x is not a known hash algorithm",
                            bank);
                return FALSE;
        }
        if (index >= VTC_PCR_MAX) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "PCR index %u is out of range",
                            index);
                return FALSE;
        }
        if (len != alg->size) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "PCR %s:%u: digest of %" G_GSIZE_FORMAT " bytes, expected %u",
                            alg->name,
                            index,
                            len,
                            alg->size);
                return FALSE;
        }
        b = vtc_pcr_values_find_bank(self, bank);
        if (b == NULL) {
                if (self->n_banks >= TPM2_NUM_PCR_BANKS) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "more than %d PCR banks",
                                    TPM2_NUM_PCR_BANKS);
                        return FALSE;
                }
                b = g_new0(VtcPcrBank, 1);
                b->alg = alg;
                self->banks[self->n_banks++] = b;
        }
        memcpy(b->values[index], digest, len);
        b->mask |= 1u << index;
        return TRUE;
}

const guint8 *
vtc_pcr_values_get(const VtcPcrValues *self, TPM2_ALG_ID bank, guint index, gsize *out_len)
{
        VtcPcrBank *b = vtc_pcr_values_find_bank(self, bank);

        if (b == NULL || index >= VTC_PCR_MAX || (b->mask & (1u << index)) == 0)
                return NULL;
        if (out_len != NULL)
                *out_len = b->alg->size;
        return b->values[index];
}

guint
vtc_pcr_values_get_n_banks(const VtcPcrValues *self)
{
        return self->n_banks;
}

TPM2_ALG_ID
vtc_pcr_values_get_bank(const VtcPcrValues *self, guint i)
{
        if (i >= self->n_banks)
                return TPM2_ALG_ERROR;
        return self->banks[i]->alg->alg;
}

guint32
vtc_pcr_values_get_mask(const VtcPcrValues *self, TPM2_ALG_ID bank)
{
        VtcPcrBank *b = vtc_pcr_values_find_bank(self, bank);

        return b != NULL ? b->mask : 0;
}

void
vtc_pcr_values_get_selection(const VtcPcrValues *self, TPML_PCR_SELECTION *out_selection)
{
        memset(out_selection, 0, sizeof(*out_selection));
        out_selection->count = self->n_banks;
        for (guint i = 0; i < self->n_banks; i++) {
                TPMS_PCR_SELECTION *s = &out_selection->pcrSelections[i];
                guint32 mask = self->banks[i]->mask;
                s->hash = self->banks[i]->alg->alg;
                /* 3 bytes as TPMs with 24 PCRs expect, 4 only when PCR 24..31 are present */
                s->sizeofSelect = (mask >> 24) != 0 ? 4 : 3;
                for (guint j = 0; j < s->sizeofSelect; j++)
                        s->pcrSelect[j] = (mask >> (8 * j)) & 0xff;
        }
}

/* Checks the parts of a selection that Tss2_MU and the file parser do not all check. */
static gboolean
vtc_pcr_selection_validate(const TPML_PCR_SELECTION *selection, GError **error)
{
        if (selection->count > TPM2_NUM_PCR_BANKS) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "PCR selection of %u banks (at most %d)",
                            selection->count,
                            TPM2_NUM_PCR_BANKS);
                return FALSE;
        }
        for (guint i = 0; i < selection->count; i++) {
                if (selection->pcrSelections[i].sizeofSelect > TPM2_PCR_SELECT_MAX) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "PCR selection of %u bytes (at most %d)",
                                    selection->pcrSelections[i].sizeofSelect,
                                    TPM2_PCR_SELECT_MAX);
                        return FALSE;
                }
        }
        return TRUE;
}

static guint32
vtc_pcr_selection_mask(const TPMS_PCR_SELECTION *s)
{
        guint32 mask = 0;

        for (guint j = 0; j < s->sizeofSelect && j < TPM2_PCR_SELECT_MAX; j++)
                mask |= (guint32)s->pcrSelect[j] << (8 * j);
        return mask;
}

gboolean
vtc_pcr_values_compute_digest(const VtcPcrValues *self,
                              const TPML_PCR_SELECTION *selection,
                              TPM2_ALG_ID hash_alg,
                              guint8 *out,
                              gsize *out_len,
                              GError **error)
{
        const VtcHashAlg *alg = vtc_hash_alg_from_id(hash_alg);
        const EVP_MD *md = vtc_hash_alg_get_md(alg);
        g_autoptr(EVP_MD_CTX) ctx = NULL;
        unsigned int len = 0;

        if (md == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "hash algorithm 0x%04x is not supported",
                            hash_alg);
                return FALSE;
        }
        if (!vtc_pcr_selection_validate(selection, error))
                return FALSE;
        ctx = EVP_MD_CTX_new();
        if (ctx == NULL || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "starting %s", alg->name);
                return FALSE;
        }
        for (guint i = 0; i < selection->count; i++) {
                const TPMS_PCR_SELECTION *s = &selection->pcrSelections[i];
                guint32 mask = vtc_pcr_selection_mask(s);
                VtcPcrBank *b = NULL;

                if (mask == 0)
                        continue;
                b = vtc_pcr_values_find_bank(self, s->hash);
                for (guint j = 0; j < VTC_PCR_MAX; j++) {
                        if ((mask & (1u << j)) == 0)
                                continue;
                        if (b == NULL || (b->mask & (1u << j)) == 0) {
                                const VtcHashAlg *bank = vtc_hash_alg_from_id(s->hash);
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_NOT_FOUND,
                                            "no value for PCR %s:%u",
                                            bank != NULL ? bank->name : "unknown",
                                            j);
                                return FALSE;
                        }
                        if (EVP_DigestUpdate(ctx, b->values[j], b->alg->size) != 1) {
                                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "hashing PCRs");
                                return FALSE;
                        }
                }
        }
        if (EVP_DigestFinal_ex(ctx, out, &len) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "finishing %s", alg->name);
                return FALSE;
        }
        *out_len = len;
        return TRUE;
}

static guint16
vtc_le16(const guint8 *p)
{
        return (guint16)(p[0] | (p[1] << 8));
}

static guint32
vtc_le32(const guint8 *p)
{
        return (guint32)p[0] | ((guint32)p[1] << 8) | ((guint32)p[2] << 16) | ((guint32)p[3] << 24);
}

static void
vtc_put_le16(guint8 *p, guint16 v)
{
        p[0] = v & 0xff;
        p[1] = v >> 8;
}

static void
vtc_put_le32(guint8 *p, guint32 v)
{
        for (guint i = 0; i < 4; i++)
                p[i] = (v >> (8 * i)) & 0xff;
}

VtcPcrValues *
vtc_pcr_values_parse_serialized(const guint8 *buf, gsize len, GError **error)
{
        g_autoptr(VtcPcrValues) self = vtc_pcr_values_new();
        guint32 n_banks;
        guint32 n_lists;
        guint32 n_digests = 0;
        guint32 n_selected = 0;
        guint32 list = 0;
        guint32 in_list = 0;
        const guint8 *lists;

        if (len < VTC_SER_SELECTION_SIZE + 4) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "PCR file of %" G_GSIZE_FORMAT " bytes is too short",
                            len);
                return NULL;
        }
        n_banks = vtc_le32(buf);
        if (n_banks > TPM2_NUM_PCR_BANKS) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "PCR file selects %u banks (at most %d)",
                            n_banks,
                            TPM2_NUM_PCR_BANKS);
                return NULL;
        }
        n_lists = vtc_le32(buf + VTC_SER_SELECTION_SIZE);
        if (n_lists > VTC_SER_LISTS_MAX ||
            len != VTC_SER_SELECTION_SIZE + 4 + (gsize)n_lists * VTC_SER_LIST_SIZE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "PCR file of %" G_GSIZE_FORMAT " bytes does not hold %u digest lists",
                            len,
                            n_lists);
                return NULL;
        }
        lists = buf + VTC_SER_SELECTION_SIZE + 4;
        for (guint32 l = 0; l < n_lists; l++) {
                guint32 count = vtc_le32(lists + (gsize)l * VTC_SER_LIST_SIZE);
                if (count > VTC_SER_DIGESTS_PER_LIST) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "PCR file: digest list %u holds %u digests (at most %d)",
                                    l,
                                    count,
                                    VTC_SER_DIGESTS_PER_LIST);
                        return NULL;
                }
                n_digests += count;
        }
        for (guint32 i = 0; i < n_banks; i++) {
                const guint8 *sel = buf + 4 + i * 8;
                guint16 hash = vtc_le16(sel);
                guint8 size_of_select = sel[2];
                guint32 mask = 0;

                if (size_of_select > TPM2_PCR_SELECT_MAX) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "PCR file: selection of %u bytes (at most %d)",
                                    size_of_select,
                                    TPM2_PCR_SELECT_MAX);
                        return NULL;
                }
                for (guint j = 0; j < size_of_select; j++)
                        mask |= (guint32)sel[3 + j] << (8 * j);
                if ((vtc_pcr_values_get_mask(self, hash) & mask) != 0) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "PCR file selects a PCR of bank 0x%04x twice",
                                    hash);
                        return NULL;
                }
                for (guint j = 0; j < VTC_PCR_MAX; j++) {
                        const guint8 *digest;
                        guint16 dsize;
                        if ((mask & (1u << j)) == 0)
                                continue;
                        /* the digests run on across lists, whatever each list's count */
                        while (list < n_lists &&
                               in_list >= vtc_le32(lists + (gsize)list * VTC_SER_LIST_SIZE)) {
                                list++;
                                in_list = 0;
                        }
                        if (list >= n_lists) {
                                g_set_error(
                                    error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "PCR file selects more PCRs than the %u digests it holds",
                                    n_digests);
                                return NULL;
                        }
                        digest = lists + (gsize)list * VTC_SER_LIST_SIZE + 4 +
                                 (gsize)in_list * VTC_SER_DIGEST_SIZE;
                        dsize = vtc_le16(digest);
                        if (dsize > VTC_QUOTE_DIGEST_MAX) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "PCR file: digest of %u bytes",
                                            dsize);
                                return NULL;
                        }
                        if (!vtc_pcr_values_set(self, hash, j, digest + 2, dsize, error)) {
                                g_prefix_error(error, "PCR file: ");
                                return NULL;
                        }
                        in_list++;
                        n_selected++;
                }
        }
        if (n_selected != n_digests) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "PCR file selects %u PCRs but holds %u digests",
                            n_selected,
                            n_digests);
                return NULL;
        }
        return g_steal_pointer(&self);
}

GBytes *
vtc_pcr_values_to_serialized(const VtcPcrValues *self,
                             const TPML_PCR_SELECTION *selection,
                             GError **error)
{
        TPML_PCR_SELECTION all;
        guint n = 0;
        guint n_lists;
        gsize len;
        g_autofree guint8 *buf = NULL;
        guint8 *lists;

        if (selection == NULL) {
                vtc_pcr_values_get_selection(self, &all);
                selection = &all;
        }
        if (!vtc_pcr_selection_validate(selection, error))
                return NULL;
        for (guint i = 0; i < selection->count; i++)
                n +=
                    (guint)__builtin_popcount(vtc_pcr_selection_mask(&selection->pcrSelections[i]));
        n_lists = (n + VTC_SER_DIGESTS_PER_LIST - 1) / VTC_SER_DIGESTS_PER_LIST;
        if (n_lists > VTC_SER_LISTS_MAX) {
                /* tpm2-tools cannot read more (its tpm2_pcrs holds TPM2_MAX_PCRS lists) */
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "%u PCR values do not fit in a serialized PCR file",
                            n);
                return NULL;
        }
        len = VTC_SER_SELECTION_SIZE + 4 + (gsize)n_lists * VTC_SER_LIST_SIZE;
        buf = g_malloc0(len);
        vtc_put_le32(buf, selection->count);
        for (guint i = 0; i < selection->count; i++) {
                const TPMS_PCR_SELECTION *s = &selection->pcrSelections[i];
                guint8 *sel = buf + 4 + i * 8;
                vtc_put_le16(sel, s->hash);
                sel[2] = s->sizeofSelect;
                memcpy(sel + 3, s->pcrSelect, s->sizeofSelect);
        }
        vtc_put_le32(buf + VTC_SER_SELECTION_SIZE, n_lists);
        lists = buf + VTC_SER_SELECTION_SIZE + 4;
        n = 0;
        for (guint i = 0; i < selection->count; i++) {
                const TPMS_PCR_SELECTION *s = &selection->pcrSelections[i];
                guint32 mask = vtc_pcr_selection_mask(s);
                for (guint j = 0; j < VTC_PCR_MAX; j++) {
                        const guint8 *value;
                        gsize vlen = 0;
                        guint8 *list;
                        guint8 *digest;
                        if ((mask & (1u << j)) == 0)
                                continue;
                        value = vtc_pcr_values_get(self, s->hash, j, &vlen);
                        if (value == NULL) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_NOT_FOUND,
                                            "no value for PCR 0x%04x:%u",
                                            s->hash,
                                            j);
                                return NULL;
                        }
                        list = lists + (gsize)(n / VTC_SER_DIGESTS_PER_LIST) * VTC_SER_LIST_SIZE;
                        digest = list + 4 + (n % VTC_SER_DIGESTS_PER_LIST) * VTC_SER_DIGEST_SIZE;
                        vtc_put_le32(list, n % VTC_SER_DIGESTS_PER_LIST + 1);
                        vtc_put_le16(digest, (guint16)vlen);
                        memcpy(digest + 2, value, vlen);
                        n++;
                }
        }
        return g_bytes_new_take(g_steal_pointer(&buf), len);
}

/* Quote */

/* Malformed input, not a TPM failure: VTC_ERROR_INVALID_DATA, with the TSS2 code decoded. */
static void
vtc_quote_set_mu_error(GError **error, TSS2_RC rc, const gchar *operation)
{
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_DATA,
                    "%s: 0x%08x: %s",
                    operation,
                    (guint)rc,
                    Tss2_RC_Decode(rc));
}

VtcQuote *
vtc_quote_parse(const guint8 *buf, gsize len, GError **error)
{
        g_autoptr(VtcQuote) self = g_new0(VtcQuote, 1);
        size_t offset = 0;
        TSS2_RC rc;

        if (len == 0 || len > sizeof(((TPM2B_ATTEST *)NULL)->attestationData)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "TPMS_ATTEST of %" G_GSIZE_FORMAT " bytes",
                            len);
                return NULL;
        }
        rc = Tss2_MU_TPMS_ATTEST_Unmarshal(buf, len, &offset, &self->attest);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_quote_set_mu_error(error, rc, "Tss2_MU_TPMS_ATTEST_Unmarshal");
                return NULL;
        }
        if (offset != len) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "TPMS_ATTEST is followed by %" G_GSIZE_FORMAT " trailing bytes",
                            len - offset);
                return NULL;
        }
        if (self->attest.magic != TPM2_GENERATED_VALUE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "attest magic is 0x%08x, not TPM_GENERATED_VALUE: not made by a TPM",
                            self->attest.magic);
                return NULL;
        }
        if (self->attest.type != TPM2_ST_ATTEST_QUOTE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "attest type is 0x%04x, not TPM_ST_ATTEST_QUOTE",
                            self->attest.type);
                return NULL;
        }
        if (!vtc_pcr_selection_validate(&self->attest.attested.quote.pcrSelect, error)) {
                g_prefix_error(error, "quote: ");
                return NULL;
        }
        self->data = g_memdup2(buf, len);
        self->len = len;
        return g_steal_pointer(&self);
}

void
vtc_quote_free(VtcQuote *self)
{
        if (self == NULL)
                return;
        g_free(self->data);
        g_free(self);
}

const TPMS_ATTEST *
vtc_quote_get_attest(const VtcQuote *self)
{
        return &self->attest;
}

const guint8 *
vtc_quote_get_data(const VtcQuote *self, gsize *out_len)
{
        *out_len = self->len;
        return self->data;
}

const guint8 *
vtc_quote_get_nonce(const VtcQuote *self, gsize *out_len)
{
        *out_len = self->attest.extraData.size;
        return self->attest.extraData.buffer;
}

const guint8 *
vtc_quote_get_qualified_signer(const VtcQuote *self, gsize *out_len)
{
        *out_len = self->attest.qualifiedSigner.size;
        return self->attest.qualifiedSigner.name;
}

guint64
vtc_quote_get_clock(const VtcQuote *self)
{
        return self->attest.clockInfo.clock;
}

guint32
vtc_quote_get_reset_count(const VtcQuote *self)
{
        return self->attest.clockInfo.resetCount;
}

guint32
vtc_quote_get_restart_count(const VtcQuote *self)
{
        return self->attest.clockInfo.restartCount;
}

gboolean
vtc_quote_get_safe(const VtcQuote *self)
{
        return self->attest.clockInfo.safe == TPM2_YES;
}

guint64
vtc_quote_get_firmware_version(const VtcQuote *self)
{
        return self->attest.firmwareVersion;
}

const TPML_PCR_SELECTION *
vtc_quote_get_pcr_selection(const VtcQuote *self)
{
        return &self->attest.attested.quote.pcrSelect;
}

const guint8 *
vtc_quote_get_pcr_digest(const VtcQuote *self, gsize *out_len)
{
        *out_len = self->attest.attested.quote.pcrDigest.size;
        return self->attest.attested.quote.pcrDigest.buffer;
}

gboolean
vtc_quote_signature_parse(const guint8 *buf, gsize len, TPMT_SIGNATURE *out_sig, GError **error)
{
        TPMT_SIGNATURE sig = {0};
        size_t offset = 0;
        TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(buf, len, &offset, &sig);

        if (rc != TSS2_RC_SUCCESS) {
                vtc_quote_set_mu_error(error, rc, "Tss2_MU_TPMT_SIGNATURE_Unmarshal");
                return FALSE;
        }
        if (offset != len) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "TPMT_SIGNATURE is followed by %" G_GSIZE_FORMAT " trailing bytes",
                            len - offset);
                return FALSE;
        }
        *out_sig = sig;
        return TRUE;
}

/* AK */

static VtcQuoteAk *
vtc_quote_ak_new_take(EVP_PKEY *pkey, GError **error)
{
        g_autoptr(EVP_PKEY) key = pkey;
        VtcQuoteAk *self;
        gboolean is_rsa = EVP_PKEY_is_a(key, "RSA");

        if (!is_rsa && !EVP_PKEY_is_a(key, "EC")) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "AK is a %s key, not RSA or EC",
                            EVP_PKEY_get0_type_name(key));
                return NULL;
        }
        self = g_new0(VtcQuoteAk, 1);
        self->pkey = g_steal_pointer(&key);
        self->is_rsa = is_rsa;
        return self;
}

VtcQuoteAk *
vtc_quote_ak_new_from_public(const guint8 *buf, gsize len, GError **error)
{
        TPM2B_PUBLIC pub2b = {0};
        TPMT_PUBLIC pub = {0};
        size_t offset = 0;
        TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &offset, &pub2b);
        EVP_PKEY *pkey = NULL;
        VtcQuoteAk *self;

        if (rc == TSS2_RC_SUCCESS && offset == len) {
                pub = pub2b.publicArea;
        } else {
                offset = 0;
                rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(buf, len, &offset, &pub);
                if (rc != TSS2_RC_SUCCESS || offset != len) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "AK is neither a TPM2B_PUBLIC nor a TPMT_PUBLIC");
                        return NULL;
                }
        }
        if (pub.type == TPM2_ALG_RSA || pub.type == TPM2_ALG_ECC) {
                TPM2B_PUBLIC wrapped = {.publicArea = pub};
                /* the one TPM-public-to-OpenSSL conversion (vtc-credential) */
                pkey = vtc_tpm_public_to_pkey(&wrapped, error);
        } else {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "AK of type 0x%04x, not RSA or ECC",
                            pub.type);
        }
        if (pkey == NULL)
                return NULL;
        self = vtc_quote_ak_new_take(pkey, error);
        if (self == NULL)
                return NULL;
        self->has_public = TRUE;
        self->pub = pub;
        return self;
}

VtcQuoteAk *
vtc_quote_ak_new_from_pem(const guint8 *buf, gsize len, GError **error)
{
        g_autoptr(BIO) bio = NULL;
        EVP_PKEY *pkey = NULL;

        if (len > G_MAXINT) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE, "AK PEM is too large");
                return NULL;
        }
        bio = BIO_new_mem_buf(buf, (int)len);
        if (bio != NULL)
                pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        if (pkey == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_INVALID_DATA, "reading the AK PEM public key");
                return NULL;
        }
        return vtc_quote_ak_new_take(pkey, error);
}

VtcQuoteAk *
vtc_quote_ak_new_from_data(const guint8 *buf, gsize len, GError **error)
{
        static const gchar pem[] = "-----BEGIN";

        if (len >= strlen(pem) && memcmp(buf, pem, strlen(pem)) == 0)
                return vtc_quote_ak_new_from_pem(buf, len, error);
        return vtc_quote_ak_new_from_public(buf, len, error);
}

VtcQuoteAk *
vtc_quote_ak_new_from_pkey(EVP_PKEY *pkey, GError **error)
{
        if (EVP_PKEY_up_ref(pkey) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "referencing the AK");
                return NULL;
        }
        return vtc_quote_ak_new_take(pkey, error);
}

void
vtc_quote_ak_free(VtcQuoteAk *self)
{
        if (self == NULL)
                return;
        EVP_PKEY_free(self->pkey);
        g_free(self);
}

EVP_PKEY *
vtc_quote_ak_get_pkey(const VtcQuoteAk *self)
{
        return self->pkey;
}

const TPMT_PUBLIC *
vtc_quote_ak_get_public(const VtcQuoteAk *self)
{
        return self->has_public ? &self->pub : NULL;
}

/* Signature */

static const gchar *
vtc_quote_sig_alg_name(TPM2_ALG_ID alg)
{
        switch (alg) {
        case TPM2_ALG_RSASSA:
                return "rsassa";
        case TPM2_ALG_RSAPSS:
                return "rsapss";
        case TPM2_ALG_ECDSA:
                return "ecdsa";
        default:
                return "unsupported";
        }
}

/* The AK's fixed scheme and hash, TPM2_ALG_NULL when it has none. */
static void
vtc_quote_ak_scheme(const VtcQuoteAk *self, TPM2_ALG_ID *out_scheme, TPM2_ALG_ID *out_hash)
{
        if (self->pub.type == TPM2_ALG_RSA) {
                *out_scheme = self->pub.parameters.rsaDetail.scheme.scheme;
                *out_hash = self->pub.parameters.rsaDetail.scheme.details.anySig.hashAlg;
        } else {
                *out_scheme = self->pub.parameters.eccDetail.scheme.scheme;
                *out_hash = self->pub.parameters.eccDetail.scheme.details.anySig.hashAlg;
        }
}

/* The DER ECDSA-Sig-Value OpenSSL verifies, from the TPM's r and s. */
static gboolean
vtc_quote_ecdsa_to_der(const TPMS_SIGNATURE_ECC *ecc,
                       guint8 **out_der,
                       gsize *out_len,
                       GError **error)
{
        g_autoptr(ECDSA_SIG) sig = ECDSA_SIG_new();
        g_autoptr(BIGNUM) r = BN_bin2bn(ecc->signatureR.buffer, ecc->signatureR.size, NULL);
        g_autoptr(BIGNUM) s = BN_bin2bn(ecc->signatureS.buffer, ecc->signatureS.size, NULL);
        guint8 *der = NULL;
        int len;

        if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "building the ECDSA signature");
                return FALSE;
        }
        /* owned by sig now */
        r = NULL;
        s = NULL;
        len = i2d_ECDSA_SIG(sig, &der);
        if (len <= 0) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding the ECDSA signature");
                return FALSE;
        }
        *out_der = der;
        *out_len = (gsize)len;
        return TRUE;
}

gboolean
vtc_quote_ak_verify_data(const VtcQuoteAk *ak,
                         const guint8 *data,
                         gsize len,
                         const TPMT_SIGNATURE *sig,
                         GError **error)
{
        TPM2_ALG_ID hash;
        const VtcHashAlg *alg;
        const EVP_MD *md;
        guint8 digest[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        g_autoptr(EVP_PKEY_CTX) ctx = NULL;
        const guint8 *sigbuf;
        gsize siglen;
        guint8 *der = NULL;
        gsize derlen = 0;
        int rc;

        switch (sig->sigAlg) {
        case TPM2_ALG_RSASSA:
        case TPM2_ALG_RSAPSS:
                /* rsassa and rsapss share TPMS_SIGNATURE_RSA */
                hash = sig->signature.rsassa.hash;
                sigbuf = sig->signature.rsassa.sig.buffer;
                siglen = sig->signature.rsassa.sig.size;
                if (!ak->is_rsa) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "signature scheme %s needs an RSA key, the AK is EC",
                                    vtc_quote_sig_alg_name(sig->sigAlg));
                        return FALSE;
                }
                break;
        case TPM2_ALG_ECDSA:
                hash = sig->signature.ecdsa.hash;
                sigbuf = NULL;
                siglen = 0;
                if (ak->is_rsa) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "signature scheme ecdsa needs an EC key, the AK is RSA");
                        return FALSE;
                }
                break;
        default:
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "signature scheme 0x%04x is not supported (rsassa, rsapss, ecdsa)",
                            sig->sigAlg);
                return FALSE;
        }
        alg = vtc_hash_alg_from_id(hash);
        if (alg == NULL || (hash != TPM2_ALG_SHA1 && hash != TPM2_ALG_SHA256 &&
                            hash != TPM2_ALG_SHA384 && hash != TPM2_ALG_SHA512)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "signature hash 0x%04x is not supported (sha1, sha256, sha384, sha512)",
                            hash);
                return FALSE;
        }
        if (ak->has_public) {
                TPM2_ALG_ID scheme = TPM2_ALG_NULL;
                TPM2_ALG_ID scheme_hash = TPM2_ALG_NULL;
                TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
                if ((ak->pub.objectAttributes & need) != need) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "AK attributes 0x%08x: not a restricted signing key, so its "
                                    "signature does not prove the TPM made the quote",
                                    ak->pub.objectAttributes);
                        return FALSE;
                }
                vtc_quote_ak_scheme(ak, &scheme, &scheme_hash);
                if (scheme != TPM2_ALG_NULL && (scheme != sig->sigAlg || scheme_hash != hash)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "signature is %s-%s but the AK's fixed scheme is 0x%04x-0x%04x",
                                    vtc_quote_sig_alg_name(sig->sigAlg),
                                    alg->name,
                                    scheme,
                                    scheme_hash);
                        return FALSE;
                }
        }
        md = vtc_hash_alg_get_md(alg);
        if (md == NULL || EVP_Digest(data, len, digest, &dlen, md, NULL) != 1) {
                vtc_ossl_set_error(error,
                                   VTC_ERROR_FAILED,
                                   "hashing the signed data with %s",
                                   alg->name);
                return FALSE;
        }
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ak->pkey, NULL);
        if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1 ||
            EVP_PKEY_CTX_set_signature_md(ctx, md) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "preparing the verification");
                return FALSE;
        }
        if (sig->sigAlg == TPM2_ALG_RSASSA) {
                rc = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
        } else if (sig->sigAlg == TPM2_ALG_RSAPSS) {
                /* the salt length is the TPM's choice (hash size on most, the maximum on some) */
                rc = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING);
                if (rc == 1)
                        rc = EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_AUTO);
                if (rc == 1)
                        rc = EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md);
        } else {
                rc = vtc_quote_ecdsa_to_der(&sig->signature.ecdsa, &der, &derlen, error) ? 1 : -1;
                if (rc != 1)
                        return FALSE;
                sigbuf = der;
                siglen = derlen;
        }
        if (rc != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "setting the RSA padding");
                return FALSE;
        }
        rc = EVP_PKEY_verify(ctx, sigbuf, siglen, digest, dlen);
        OPENSSL_free(der);
        if (rc != 1) {
                ERR_clear_error();
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "the %s-%s signature does not verify with the AK",
                            vtc_quote_sig_alg_name(sig->sigAlg),
                            alg->name);
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_quote_verify_signature(const VtcQuote *quote,
                           const TPMT_SIGNATURE *sig,
                           const VtcQuoteAk *ak,
                           GError **error)
{
        return vtc_quote_ak_verify_data(ak, quote->data, quote->len, sig, error);
}

/* Full check */

const gchar *
vtc_quote_failure_to_string(VtcQuoteFailure failure)
{
        switch (failure) {
        case VTC_QUOTE_FAILURE_NONE:
                return "none";
        case VTC_QUOTE_FAILURE_SIGNATURE:
                return "signature";
        case VTC_QUOTE_FAILURE_NONCE:
                return "nonce";
        case VTC_QUOTE_FAILURE_PCRS:
                return "pcrs";
        }
        return "unknown";
}

void
vtc_quote_result_clear(VtcQuoteResult *result)
{
        g_clear_pointer(&result->reason, g_free);
        g_clear_pointer(&result->pcrs, vtc_pcr_values_free);
        memset(result, 0, sizeof(*result));
}

static void
vtc_quote_result_fail(VtcQuoteResult *result, VtcQuoteFailure failure, gchar *reason)
{
        result->valid = FALSE;
        result->failure = failure;
        result->reason = reason;
}

gboolean
vtc_quote_check(const VtcQuote *quote,
                const TPMT_SIGNATURE *sig,
                const VtcQuoteAk *ak,
                const guint8 *nonce,
                gsize nonce_len,
                const VtcPcrValues *pcrs,
                TPM2_ALG_ID required_hash_alg,
                VtcQuoteCheckFlags flags,
                VtcQuoteResult *out_result,
                GError **error)
{
        const TPMS_QUOTE_INFO *info = &quote->attest.attested.quote;
        const TPML_PCR_SELECTION *sel = &info->pcrSelect;
        VtcQuoteResult result = {0};
        g_autoptr(GError) error_local = NULL;
        g_autoptr(VtcPcrValues) quoted = NULL;
        guint8 digest[VTC_QUOTE_DIGEST_MAX];
        gsize dlen = 0;

        result.clock = quote->attest.clockInfo.clock;
        result.reset_count = quote->attest.clockInfo.resetCount;
        result.restart_count = quote->attest.clockInfo.restartCount;
        result.safe = quote->attest.clockInfo.safe == TPM2_YES;
        result.firmware_version = quote->attest.firmwareVersion;
        result.hash_alg =
            sig->sigAlg == TPM2_ALG_ECDSA ? sig->signature.ecdsa.hash : sig->signature.rsassa.hash;

        /* 1. the signature */
        if ((flags & VTC_QUOTE_CHECK_SIGNATURE_KNOWN) == 0 &&
            !vtc_quote_verify_signature(quote, sig, ak, &error_local)) {
                if (!g_error_matches(error_local, VTC_ERROR, VTC_ERROR_VERIFY_FAILED)) {
                        g_propagate_error(error, g_steal_pointer(&error_local));
                        return FALSE;
                }
                vtc_quote_result_fail(&result,
                                      VTC_QUOTE_FAILURE_SIGNATURE,
                                      g_strdup(error_local->message));
                *out_result = result;
                return TRUE;
        }
        if ((required_hash_alg != TPM2_ALG_NULL && result.hash_alg != required_hash_alg) ||
            ((flags & VTC_QUOTE_CHECK_NO_SHA1) != 0 && result.hash_alg == TPM2_ALG_SHA1)) {
                const VtcHashAlg *got = vtc_hash_alg_from_id(result.hash_alg);
                const VtcHashAlg *want = vtc_hash_alg_from_id(required_hash_alg);
                vtc_quote_result_fail(
                    &result,
                    VTC_QUOTE_FAILURE_SIGNATURE,
                    g_strdup_printf("the signature uses %s, %s is required",
                                    got != NULL ? got->name : "?",
                                    want != NULL ? want->name : "a hash stronger than sha1"));
                *out_result = result;
                return TRUE;
        }

        /* 2. the nonce: only a fresh quote answers our challenge */
        if (quote->attest.extraData.size != nonce_len ||
            (nonce_len > 0 &&
             CRYPTO_memcmp(quote->attest.extraData.buffer, nonce, nonce_len) != 0)) {
                g_autofree gchar *got =
                    vtc_hex_encode(quote->attest.extraData.buffer, quote->attest.extraData.size);
                g_autofree gchar *want = vtc_hex_encode(nonce, nonce_len);
                vtc_quote_result_fail(
                    &result,
                    VTC_QUOTE_FAILURE_NONCE,
                    g_strdup_printf("the quote's nonce (extraData) is '%s', expected '%s'",
                                    got,
                                    want));
                *out_result = result;
                return TRUE;
        }

        /* 3. the PCR composite, hashed with the signing scheme's hash as the TPM does */
        if (!vtc_pcr_values_compute_digest(pcrs,
                                           sel,
                                           result.hash_alg,
                                           digest,
                                           &dlen,
                                           &error_local)) {
                if (!g_error_matches(error_local, VTC_ERROR, VTC_ERROR_NOT_FOUND)) {
                        g_propagate_error(error, g_steal_pointer(&error_local));
                        return FALSE;
                }
                vtc_quote_result_fail(&result,
                                      VTC_QUOTE_FAILURE_PCRS,
                                      g_strdup_printf("the quote selects a PCR that the PCR "
                                                      "values lack: %s",
                                                      error_local->message));
                *out_result = result;
                return TRUE;
        }
        quoted = vtc_pcr_values_new();
        for (guint i = 0; i < sel->count; i++) {
                guint32 mask = vtc_pcr_selection_mask(&sel->pcrSelections[i]);
                for (guint j = 0; j < VTC_PCR_MAX; j++) {
                        gsize vlen = 0;
                        const guint8 *v;
                        if ((mask & (1u << j)) == 0)
                                continue;
                        v = vtc_pcr_values_get(pcrs, sel->pcrSelections[i].hash, j, &vlen);
                        if (!vtc_pcr_values_set(quoted,
                                                sel->pcrSelections[i].hash,
                                                j,
                                                v,
                                                vlen,
                                                error))
                                return FALSE;
                }
        }
        if ((flags & VTC_QUOTE_CHECK_EXACT_PCRS) != 0) {
                for (guint i = 0; i < pcrs->n_banks; i++) {
                        TPM2_ALG_ID bank = pcrs->banks[i]->alg->alg;
                        if (pcrs->banks[i]->mask != vtc_pcr_values_get_mask(quoted, bank)) {
                                vtc_quote_result_fail(
                                    &result,
                                    VTC_QUOTE_FAILURE_PCRS,
                                    g_strdup_printf("the PCR values hold %s PCRs 0x%08x, the quote "
                                                    "selects 0x%08x",
                                                    pcrs->banks[i]->alg->name,
                                                    pcrs->banks[i]->mask,
                                                    vtc_pcr_values_get_mask(quoted, bank)));
                                *out_result = result;
                                return TRUE;
                        }
                }
        }
        if (info->pcrDigest.size != dlen || memcmp(info->pcrDigest.buffer, digest, dlen) != 0) {
                g_autofree gchar *got =
                    vtc_hex_encode(info->pcrDigest.buffer, info->pcrDigest.size);
                g_autofree gchar *want = vtc_hex_encode(digest, dlen);
                vtc_quote_result_fail(&result,
                                      VTC_QUOTE_FAILURE_PCRS,
                                      g_strdup_printf("the quote's pcrDigest is %s, the PCR values "
                                                      "give %s",
                                                      got,
                                                      want));
                *out_result = result;
                return TRUE;
        }
        result.valid = TRUE;
        result.failure = VTC_QUOTE_FAILURE_NONE;
        result.pcrs = g_steal_pointer(&quoted);
        *out_result = result;
        return TRUE;
}

gboolean
vtc_quote_pcrs_match(GBytes *attest,
                     GBytes *signature,
                     const VtcPcrValues *pcrs,
                     gboolean *out_match,
                     GError **error)
{
        TPMT_SIGNATURE sig = {0};
        g_autoptr(VtcQuote) quote = NULL;
        guint8 digest[64];
        gsize digest_len = 0;
        const guint8 *quoted;
        gsize quoted_len = 0;

        quote = vtc_quote_parse(g_bytes_get_data(attest, NULL), g_bytes_get_size(attest), error);
        if (quote == NULL)
                return FALSE;
        if (!vtc_quote_signature_parse(g_bytes_get_data(signature, NULL),
                                       g_bytes_get_size(signature),
                                       &sig,
                                       error))
                return FALSE;
        if (!vtc_pcr_values_compute_digest(pcrs,
                                           vtc_quote_get_pcr_selection(quote),
                                           sig.signature.any.hashAlg,
                                           digest,
                                           &digest_len,
                                           error))
                return FALSE;
        quoted = vtc_quote_get_pcr_digest(quote, &quoted_len);
        *out_match = quoted_len == digest_len && memcmp(quoted, digest, digest_len) == 0;
        return TRUE;
}
