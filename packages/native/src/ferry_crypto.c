/*
 * The per-blob cryptography of the repository format (docs/repository-format.md §2-§5) in
 * one native call each, through the OpenSSL that Node itself carries (its symbols are
 * exported to addons; the headers ship in <prefix>/include/node/openssl). node:crypto
 * runs the same primitives, but every blob paid for five JavaScript objects (two HMACs, a
 * cipher, random bytes, buffers) and for AES-GCM in 64 KiB slices copied into the output:
 * for 8 KiB blobs that overhead was most of a worker's time, for 1 MiB blobs half of it.
 * Nothing here defines the format: the golden tests pin the bytes, whichever side writes them.
 */
#include "ferry_crypto.h"

#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#define SALT_BYTES 16
#define TAG_BYTES 16
#define KEY_BYTES 32

typedef struct {
  uint8_t *data;
  size_t len;
} bytes_t;

static napi_value fail(napi_env env, const char *what) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
  return NULL;
}

/* OpenSSL itself failed (not the caller's arguments): a plain Error, not a TypeError. */
static napi_value openssl_failed(napi_env env, const char *what) {
  napi_throw_error(env, "ERR_FERRY_OPENSSL", what);
  return NULL;
}

/* Any Uint8Array (a Buffer included) as pointer and length. */
static bool get_bytes(napi_env env, napi_value v, bytes_t *out) {
  bool is_typed = false;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return false;
  napi_typedarray_type type;
  void *data;
  size_t len;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) return false;
  out->data = data;
  out->len = len;
  return true;
}

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= want;
}

static napi_value boolean(napi_env env, bool value) {
  napi_value v;
  napi_get_boolean(env, value, &v);
  return v;
}

static bool hmac_sha256(const bytes_t *key, const uint8_t *data, size_t len, uint8_t out[32]) {
  unsigned int n = 32;
  return HMAC(EVP_sha256(), key->data, (int)key->len, data, len, out, &n) != NULL && n == 32;
}

/* hmacSha256(key, data, out Uint8Array(32)) */
napi_value ferry_js_hmac_sha256(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  bytes_t key, data, out;
  if (!get_args(env, info, 3, argv) || !get_bytes(env, argv[0], &key) || !get_bytes(env, argv[1], &data) || !get_bytes(env, argv[2], &out) || out.len != 32)
    return fail(env, "hmacSha256(key: Uint8Array, data: Uint8Array, out: Uint8Array(32))");
  if (!hmac_sha256(&key, data.data, data.len, out.data)) return openssl_failed(env, "hmacSha256: OpenSSL failed");
  return NULL;
}

/* randomFill(buf): cryptographically strong bytes (RAND_bytes). */
napi_value ferry_js_random_fill(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bytes_t buf;
  if (!get_args(env, info, 1, argv) || !get_bytes(env, argv[0], &buf)) return fail(env, "randomFill(buf: Uint8Array)");
  if (buf.len > 0 && RAND_bytes(buf.data, (int)buf.len) != 1) return openssl_failed(env, "randomFill: OpenSSL RAND_bytes failed");
  return NULL;
}

/* One AES-256-GCM pass with the box key HMAC(key, salt) and the all-zero nonce. */
static EVP_CIPHER_CTX *box_cipher(const bytes_t *key, const uint8_t *salt, const bytes_t *aad, int encrypt) {
  uint8_t box_key[32];
  static const uint8_t zero_nonce[12] = {0};
  if (!hmac_sha256(key, salt, SALT_BYTES, box_key)) return NULL;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  bool ok = ctx != NULL && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, box_key, zero_nonce, encrypt) == 1 &&
            (aad->len == 0 || EVP_CipherUpdate(ctx, NULL, &n, aad->data, (int)aad->len) == 1);
  OPENSSL_cleanse(box_key, sizeof box_key);
  if (!ok) {
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* GCM is a stream mode: update() writes exactly as many bytes as it reads. */
static bool cipher_all(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len) {
  const size_t step = 1u << 30;
  for (size_t at = 0; at < len; at += step) {
    int want = (int)(len - at < step ? len - at : step), n = 0;
    if (EVP_CipherUpdate(ctx, out + at, &n, in + at, want) != 1 || n != want) return false;
  }
  return true;
}

/*
 * sealBox(key, salt(16), aad, head, body, out): out = salt || AES-GCM(head || body) || tag,
 * out.length must be 32 + head.length + body.length.
 */
napi_value ferry_js_seal_box(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  bytes_t key, salt, aad, head, body, out;
  if (!get_args(env, info, 6, argv) || !get_bytes(env, argv[0], &key) || !get_bytes(env, argv[1], &salt) || !get_bytes(env, argv[2], &aad) ||
      !get_bytes(env, argv[3], &head) || !get_bytes(env, argv[4], &body) || !get_bytes(env, argv[5], &out) || salt.len != SALT_BYTES)
    return fail(env, "sealBox(key, salt: Uint8Array(16), aad, head, body, out: Uint8Array)");
  if (out.len != SALT_BYTES + head.len + body.len + TAG_BYTES) return fail(env, "sealBox: out must be 32 bytes longer than head and body");
  EVP_CIPHER_CTX *ctx = box_cipher(&key, salt.data, &aad, 1);
  if (!ctx) return openssl_failed(env, "sealBox: OpenSSL failed to set up AES-256-GCM");
  memmove(out.data, salt.data, SALT_BYTES);
  uint8_t *at = out.data + SALT_BYTES;
  int n = 0;
  bool ok = cipher_all(ctx, at, head.data, head.len) && cipher_all(ctx, at + head.len, body.data, body.len) &&
            EVP_CipherFinal_ex(ctx, at + head.len + body.len, &n) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, at + head.len + body.len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) return openssl_failed(env, "sealBox: OpenSSL AES-256-GCM failed");
  return NULL;
}

/*
 * openBox(key, aad, sealed, head, body): decrypts sealed = salt || ct || tag into head
 * (its first head.length bytes) and body (the rest; head.length + body.length must be
 * sealed.length - 32). Returns false, with head and body zeroed, when authentication fails.
 */
napi_value ferry_js_open_box(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  bytes_t key, aad, sealed, head, body;
  if (!get_args(env, info, 5, argv) || !get_bytes(env, argv[0], &key) || !get_bytes(env, argv[1], &aad) || !get_bytes(env, argv[2], &sealed) ||
      !get_bytes(env, argv[3], &head) || !get_bytes(env, argv[4], &body))
    return fail(env, "openBox(key, aad, sealed, head: Uint8Array, body: Uint8Array)");
  if (sealed.len < SALT_BYTES + TAG_BYTES || head.len + body.len != sealed.len - SALT_BYTES - TAG_BYTES)
    return fail(env, "openBox: head and body must together be 32 bytes shorter than sealed");
  EVP_CIPHER_CTX *ctx = box_cipher(&key, sealed.data, &aad, 0);
  if (!ctx) return openssl_failed(env, "openBox: OpenSSL failed to set up AES-256-GCM");
  const uint8_t *ct = sealed.data + SALT_BYTES;
  uint8_t tag[TAG_BYTES];
  memcpy(tag, sealed.data + sealed.len - TAG_BYTES, TAG_BYTES);
  int n = 0;
  bool ok = cipher_all(ctx, head.data, ct, head.len) && cipher_all(ctx, body.data, ct + head.len, body.len) &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, tag) == 1 && EVP_CipherFinal_ex(ctx, tag, &n) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) {
    /* Unauthenticated plaintext must not be used by mistake. */
    memset(head.data, 0, head.len);
    memset(body.data, 0, body.len);
  }
  return boolean(env, ok);
}

/* entropyBits(buf, n): order-0 entropy in bits per byte of the first n bytes (n clamped). */
napi_value ferry_js_entropy_bits(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  bytes_t buf;
  int32_t limit;
  if (!get_args(env, info, 2, argv) || !get_bytes(env, argv[0], &buf) || napi_get_value_int32(env, argv[1], &limit) != napi_ok || limit < 0)
    return fail(env, "entropyBits(buf: Uint8Array, n: number)");
  size_t n = buf.len < (size_t)limit ? buf.len : (size_t)limit;
  uint32_t counts[256] = {0};
  for (size_t i = 0; i < n; i++) counts[buf.data[i]]++;
  double bits = 0;
  for (int b = 0; b < 256; b++) {
    if (counts[b] == 0) continue;
    double p = (double)counts[b] / (double)n;
    bits -= p * log2(p);
  }
  napi_create_double(env, n == 0 ? 0 : bits, &out);
  return out;
}
