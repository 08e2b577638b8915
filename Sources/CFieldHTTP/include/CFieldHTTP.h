// One HTTP PUT of a file through libcurl, with plain C types so that Swift needs none of curl's variadic API.
#ifndef CFIELDHTTP_H
#define CFIELDHTTP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What to send. Strings are NUL-terminated; optional ones may be NULL.
typedef struct {
    const char *url;            ///< full URL of the resource
    const char *authorization;  ///< value of the Authorization header, or NULL
    const char *digest;         ///< value of the Content-Digest header, or NULL
    const char *ca_file;        ///< PEM file of trusted CAs instead of the system's, or NULL
    const char *user_agent;     ///< User-Agent value, or NULL
    int fd;                     ///< file to send, read with pread from offset 0
    int64_t size;               ///< bytes to send
    long connect_timeout_s;     ///< give up connecting after this long
    long stall_timeout_s;       ///< give up when no byte moved either way for this long (0: never)
    long max_time_s;            ///< give up on the whole request after this long (0: no limit)
    const volatile uint64_t *deadline_mono_ns;  ///< abort once CLOCK_MONOTONIC passes *this (0: none); may change during the request, may be NULL
} field_http_put;

/// What came back.
typedef struct {
    long status;         ///< HTTP status, 0 when no response arrived
    int curl_code;       ///< 0 when the exchange completed (whatever the status)
    char error[256];     ///< curl's explanation when curl_code != 0
    char body[512];      ///< the start of the response body, NUL-terminated
} field_http_result;

/// Loads libcurl (dlopen) and initialises it, once per process, before any thread uses it. Returns 0 on success;
/// otherwise writes why into `error`.
int field_http_global_init(char *error, size_t error_size);

/// A reusable connection handle (keeps connections open between requests), or NULL.
void *field_http_new(void);
void field_http_free(void *handle);

/// Sends one PUT; fills `result`.
void field_http_put_file(void *handle, const field_http_put *request, field_http_result *result);

/// Sets a deadline that a running request reads (field_http_put.deadline_mono_ns) as one atomic 64-bit store: a
/// plain store is two on 32-bit ARM, and the request could see half of it.
static inline void field_http_set_deadline(volatile uint64_t *deadline, uint64_t value) {
    __atomic_store_n(deadline, value, __ATOMIC_RELEASE);
}

/// Reads such a deadline (0: none) with one atomic 64-bit load.
static inline uint64_t field_http_deadline(const volatile uint64_t *deadline) {
    return __atomic_load_n(deadline, __ATOMIC_ACQUIRE);
}

/// The libcurl version string, for logs.
const char *field_http_version(void);

#ifdef __cplusplus
}
#endif

#endif
