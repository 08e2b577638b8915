// One HTTP PUT of a file (http:// or https://), with plain C types so that Swift needs none of the socket or TLS
// API. The implementation is ours (http.c) over POSIX sockets, with TLS from mbed TLS.
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
    const volatile uint64_t *deadline_mono_ns;  ///< abort once CLOCK_MONOTONIC passes *this (0: none); may change during the request, may be NULL
} field_http_put;

/// Why a request produced no answer (field_http_result.failure).
enum {
    FIELD_HTTP_OK = 0,           ///< an answer arrived (whatever its status)
    FIELD_HTTP_UNRESOLVED = 1,   ///< the host name does not resolve
    FIELD_HTTP_UNREACHABLE = 2,  ///< nothing answered the connection
    FIELD_HTTP_FAILED = 3,       ///< the exchange failed part-way (TLS, a reset, a malformed answer)
    FIELD_HTTP_DEADLINE = 4,     ///< the caller's deadline passed
    FIELD_HTTP_STALLED = 5,      ///< no byte moved for the stall timeout
};

/// What came back.
typedef struct {
    long status;         ///< HTTP status, 0 when no answer arrived
    int failure;         ///< FIELD_HTTP_OK when an answer arrived, else why not
    char error[256];     ///< the explanation when failure != FIELD_HTTP_OK
    char body[512];      ///< the start of the response body, NUL-terminated
} field_http_result;

/// A client: keeps the random generator and the parsed trusted certificates between requests; NULL when out of
/// memory.
void *field_http_new(void);
void field_http_free(void *handle);

/// Sends one PUT; fills `result`. Bounded in time by the request's timeouts and deadline (name resolution aside).
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

/// What carries the requests, for logs.
const char *field_http_version(void);

#ifdef __cplusplus
}
#endif

#endif
