#include "field_s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} buffer;

static int buffer_add(buffer *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) { b->failed = 1; return 0; }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 1;
}

static size_t on_body(char *p, size_t size, size_t n, void *user) {
    return buffer_add(user, p, size * n) ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *user) {
    size_t len = size * n;
    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r')) len--;
    if (len > 0 && (!buffer_add(user, p, len) || !buffer_add(user, "\n", 1))) return 0;
    return size * n;
}

typedef struct {
    const unsigned char *bytes;
    size_t len;
    size_t at;
} memory_source;

static size_t on_read_memory(char *p, size_t size, size_t n, void *user) {
    memory_source *m = user;
    size_t room = size * n, left = m->len - m->at, k = left < room ? left : room;
    memcpy(p, m->bytes + m->at, k);
    m->at += k;
    return k;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int field_s3_request(const char *method, const char *url, const char *sigv4, const char *userpwd,
                     const char *const *headers, size_t header_count, const char *upload_path,
                     const unsigned char *upload_bytes, size_t upload_len, const char *ca_file,
                     long timeout_seconds, field_s3_response *out) {
    memset(out, 0, sizeof *out);
    pthread_once(&init_once, global_init);
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(out->error, sizeof out->error, "libcurl could not start a request");
        return -1;
    }
    buffer body = {0}, head = {0};
    struct curl_slist *list = NULL;
    FILE *file = NULL;
    memory_source memory = {upload_bytes, upload_len, 0};
    char errbuf[CURL_ERROR_SIZE] = {0};
    int rc = -1;

    for (size_t i = 0; i < header_count; i++) {
        struct curl_slist *l = curl_slist_append(list, headers[i]);
        if (!l) { snprintf(out->error, sizeof out->error, "out of memory"); goto done; }
        list = l;
    }
    // No "Expect:" line to turn 100-continue off: libcurl would sign the header it then leaves out, and the
    // store would refuse the signature. A store that never answers 100 costs at most this wait per upload.
    curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS, 1000L);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4);
    curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &head);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_seconds);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (ca_file && *ca_file) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);

    if (upload_path) {
        struct stat st;
        file = fopen(upload_path, "rb");
        if (!file || fstat(fileno(file), &st) != 0) {
            snprintf(out->error, sizeof out->error, "cannot read %s: %s", upload_path, strerror(errno));
            goto done;
        }
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READDATA, file);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
    } else if (upload_bytes || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read_memory);
        curl_easy_setopt(curl, CURLOPT_READDATA, &memory);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)upload_len);
    }
    // CUSTOMREQUEST after UPLOAD keeps the method ours (UPLOAD alone means PUT).
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);

    CURLcode code = curl_easy_perform(curl);
    if (code != CURLE_OK) {
        snprintf(out->error, sizeof out->error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(code));
        goto done;
    }
    if (body.failed || head.failed) {
        snprintf(out->error, sizeof out->error, "out of memory for the answer");
        goto done;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = body.data;
    out->body_len = body.len;
    out->headers = head.data;
    out->headers_len = head.len;
    body.data = NULL;
    head.data = NULL;
    rc = 0;
done:
    free(body.data);
    free(head.data);
    if (file) fclose(file);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return rc;
}

void field_s3_response_free(field_s3_response *response) {
    free(response->body);
    free(response->headers);
    response->body = NULL;
    response->headers = NULL;
}
