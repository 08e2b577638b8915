#include "CFieldHTTP.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int64_t offset;
    int64_t size;
} upload_source;

typedef struct {
    char *buffer;
    size_t capacity;
    size_t used;
} response_sink;

static size_t read_chunk(char *out, size_t size, size_t count, void *context) {
    upload_source *src = context;
    size_t want = size * count;
    if (src->offset >= src->size) return 0;
    if ((int64_t)want > src->size - src->offset) want = (size_t)(src->size - src->offset);
    for (;;) {
        ssize_t got = pread(src->fd, out, want, (off_t)src->offset);
        if (got < 0 && errno == EINTR) continue;
        // A file that shrank or cannot be read: abort rather than send a short body.
        if (got <= 0) return CURL_READFUNC_ABORT;
        src->offset += got;
        return (size_t)got;
    }
}

static size_t keep_response(char *data, size_t size, size_t count, void *context) {
    response_sink *sink = context;
    size_t n = size * count;
    size_t room = sink->capacity - 1 - sink->used;
    size_t take = n < room ? n : room;
    memcpy(sink->buffer + sink->used, data, take);
    sink->used += take;
    sink->buffer[sink->used] = 0;
    return n;  // the rest is read and ignored
}

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct {
    const volatile uint64_t *deadline;  // shared with the caller's other thread; 0 means none
    uint64_t stall_ns;
    curl_off_t last_moved;              // bytes sent plus received at the last change
    uint64_t last_change_ns;
    int why;                            // 1 deadline, 2 stalled
} watch_state;

// libcurl's own low-speed check averages over several seconds, so a server that takes the whole body and then
// never answers is noticed late; this watches for any byte moving either way instead.
static int watch_progress(void *context, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal; (void)ultotal;
    watch_state *w = context;
    uint64_t now = monotonic_ns();
    if (w->deadline) {
        uint64_t at = *w->deadline;
        if (at != 0 && now >= at) { w->why = 1; return 1; }
    }
    curl_off_t moved = dlnow + ulnow;
    if (moved != w->last_moved || w->last_change_ns == 0) {
        w->last_moved = moved;
        w->last_change_ns = now;
    } else if (w->stall_ns != 0 && now - w->last_change_ns >= w->stall_ns) {
        w->why = 2;
        return 1;
    }
    return 0;
}

int field_http_global_init(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void *field_http_new(void) { return curl_easy_init(); }

void field_http_free(void *handle) {
    if (handle) curl_easy_cleanup(handle);
}

const char *field_http_version(void) { return curl_version(); }

void field_http_put_file(void *handle, const field_http_put *req, field_http_result *res) {
    memset(res, 0, sizeof *res);
    CURL *curl = handle;
    if (!curl) {
        res->curl_code = CURLE_FAILED_INIT;
        snprintf(res->error, sizeof res->error, "libcurl could not be initialised");
        return;
    }
    curl_easy_reset(curl);  // keeps the connection cache

    upload_source src = {req->fd, 0, req->size};
    response_sink sink = {res->body, sizeof res->body, 0};
    watch_state watch = {req->deadline_mono_ns, (uint64_t)req->stall_timeout_s * 1000000000u, -1, 0, 0};
    struct curl_slist *headers = NULL;
    char line[1024];
    if (req->authorization) {
        snprintf(line, sizeof line, "Authorization: %s", req->authorization);
        headers = curl_slist_append(headers, line);
    }
    if (req->digest) {
        snprintf(line, sizeof line, "Content-Digest: %s", req->digest);
        headers = curl_slist_append(headers, line);
    }
    headers = curl_slist_append(headers, "Content-Type: application/zstd");
    // No "Expect: 100-continue": the collector answers refusals after reading the headers anyway, and waiting
    // for a 100 that a server does not send costs a second per bundle.
    headers = curl_slist_append(headers, "Expect:");

    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_chunk);
    curl_easy_setopt(curl, CURLOPT_READDATA, &src);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->size);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_response);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, res->error);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, req->connect_timeout_s);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, req->max_time_s);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, watch_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &watch);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (req->ca_file) curl_easy_setopt(curl, CURLOPT_CAINFO, req->ca_file);
    if (req->user_agent) curl_easy_setopt(curl, CURLOPT_USERAGENT, req->user_agent);

    CURLcode code = curl_easy_perform(curl);
    res->curl_code = (int)code;
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    res->status = code == CURLE_OK ? status : 0;
    if (code != CURLE_OK && res->error[0] == 0) snprintf(res->error, sizeof res->error, "%s", curl_easy_strerror(code));
    if (code == CURLE_ABORTED_BY_CALLBACK && watch.why == 1)
        snprintf(res->error, sizeof res->error, "gave up: the shutdown deadline passed");
    if (code == CURLE_ABORTED_BY_CALLBACK && watch.why == 2)
        snprintf(res->error, sizeof res->error, "no byte moved for %ld s (stall timeout)", req->stall_timeout_s);
    curl_easy_reset(curl);  // drop the pointers into this stack frame
    curl_slist_free_all(headers);
}
