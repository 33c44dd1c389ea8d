/* Per-blob cryptography through Node's own OpenSSL (ferry_crypto.c); contracts on src/index.ts. */
#ifndef FERRY_CRYPTO_H
#define FERRY_CRYPTO_H
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>

napi_value ferry_js_hmac_sha256(napi_env env, napi_callback_info info);
napi_value ferry_js_random_fill(napi_env env, napi_callback_info info);
napi_value ferry_js_seal_box(napi_env env, napi_callback_info info);
napi_value ferry_js_open_box(napi_env env, napi_callback_info info);
napi_value ferry_js_entropy_bits(napi_env env, napi_callback_info info);
#endif
