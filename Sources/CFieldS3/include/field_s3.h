// One HTTP request to an S3-compatible object store, signed with AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4).
// Host side only (fieldctl): the device never talks to an object store.
#ifndef FIELD_S3_H
#define FIELD_S3_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct field_s3_response {
    long status;          // the HTTP status, 0 when no answer came (see error)
    char *body;           // the response body, malloc'd (NUL-terminated); NULL when empty
    size_t body_len;
    char *headers;        // the response head as received, lines joined by \n, malloc'd; NULL when none
    size_t headers_len;
    char error[256];      // libcurl's message when status is 0
} field_s3_response;

// Makes one request. `sigv4` is libcurl's provider string ("aws:amz:REGION:s3"), `userpwd` "ACCESS:SECRET".
// `headers` are extra "Name: value" lines (x-amz-content-sha256 among them: the store checks the body against it).
// The body comes from `upload_path` (a file, sent with Content-Length) or `upload_bytes` (may be NULL with
// `upload_len` 0), or there is none. Returns 0 when an answer came, -1 otherwise (`out->error` says why).
int field_s3_request(const char *method, const char *url, const char *sigv4, const char *userpwd,
                     const char *const *headers, size_t header_count, const char *upload_path,
                     const unsigned char *upload_bytes, size_t upload_len, const char *ca_file,
                     long timeout_seconds, field_s3_response *out);

// Frees what a response holds (not the struct itself).
void field_s3_response_free(field_s3_response *response);

#ifdef __cplusplus
}
#endif

#endif
