#include "CFieldPlatform.h"  // first: 64-bit off_t and time_t on 32-bit targets, as in the rest of the agent
#include "CFieldHTTP.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// libcurl is loaded when the first upload is configured, not linked: an agent that never uploads does not map
// libcurl and its TLS, compression and authentication libraries (about 6 MiB of resident memory on Debian 12),
// and runs on devices that have no libcurl at all.
static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    char *(*version)(void);
} api;
static int loaded = 0;

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
        // Atomic: the sampling thread sets it while a transfer runs, and a 64-bit load is two on 32-bit ARM.
        uint64_t at = __atomic_load_n(w->deadline, __ATOMIC_ACQUIRE);
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

int field_http_global_init(char *error, size_t error_size) {
    if (loaded) return 0;
    const char *names[] = {"libcurl.so.4", "libcurl.so", "libcurl-gnutls.so.4"};
    void *lib = NULL;
    char first[256] = "";  // why the usual name failed: more telling than the fallbacks' errors
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++) {
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        const char *why = lib ? NULL : dlerror();
        if (i == 0 && why) snprintf(first, sizeof first, "%s", why);
    }
    if (!lib) {
        snprintf(error, error_size, "cannot load libcurl, which uploading needs: %s", first[0] ? first : "not found");
        return -1;
    }
#define FIELD_LOAD(field, symbol)                                                                      \
    do {                                                                                               \
        *(void **)(&api.field) = dlsym(lib, symbol);                                                   \
        if (!api.field) {                                                                              \
            snprintf(error, error_size, "libcurl lacks %s (version 7.62 or newer is needed)", symbol); \
            return -1;                                                                                 \
        }                                                                                              \
    } while (0)
    FIELD_LOAD(global_init, "curl_global_init");
    FIELD_LOAD(easy_init, "curl_easy_init");
    FIELD_LOAD(easy_cleanup, "curl_easy_cleanup");
    FIELD_LOAD(easy_reset, "curl_easy_reset");
    FIELD_LOAD(easy_setopt, "curl_easy_setopt");
    FIELD_LOAD(easy_perform, "curl_easy_perform");
    FIELD_LOAD(easy_getinfo, "curl_easy_getinfo");
    FIELD_LOAD(easy_strerror, "curl_easy_strerror");
    FIELD_LOAD(slist_append, "curl_slist_append");
    FIELD_LOAD(slist_free_all, "curl_slist_free_all");
    FIELD_LOAD(version, "curl_version");
#undef FIELD_LOAD
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(error, error_size, "curl_global_init failed");
        return -1;
    }
    loaded = 1;
    return 0;
}

void *field_http_new(void) { return loaded ? api.easy_init() : NULL; }

void field_http_free(void *handle) {
    if (handle) api.easy_cleanup(handle);
}

const char *field_http_version(void) { return loaded ? api.version() : "libcurl not loaded"; }

void field_http_put_file(void *handle, const field_http_put *req, field_http_result *res) {
    memset(res, 0, sizeof *res);
    CURL *curl = handle;
    if (!curl) {
        res->curl_code = CURLE_FAILED_INIT;
        snprintf(res->error, sizeof res->error, "libcurl could not be initialised");
        return;
    }
    api.easy_reset(curl);  // keeps the connection cache

    upload_source src = {req->fd, 0, req->size};
    response_sink sink = {res->body, sizeof res->body, 0};
    watch_state watch = {req->deadline_mono_ns, (uint64_t)req->stall_timeout_s * 1000000000u, -1, 0, 0};
    struct curl_slist *headers = NULL;
    char line[1024];
    if (req->authorization) {
        snprintf(line, sizeof line, "Authorization: %s", req->authorization);
        headers = api.slist_append(headers, line);
    }
    if (req->digest) {
        snprintf(line, sizeof line, "Content-Digest: %s", req->digest);
        headers = api.slist_append(headers, line);
    }
    headers = api.slist_append(headers, "Content-Type: application/zstd");
    // No "Expect: 100-continue": the collector answers refusals after reading the headers anyway, and waiting
    // for a 100 that a server does not send costs a second per bundle.
    headers = api.slist_append(headers, "Expect:");

    api.easy_setopt(curl, CURLOPT_URL, req->url);
    api.easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    api.easy_setopt(curl, CURLOPT_READFUNCTION, read_chunk);
    api.easy_setopt(curl, CURLOPT_READDATA, &src);
    api.easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->size);
    api.easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    api.easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_response);
    api.easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    api.easy_setopt(curl, CURLOPT_ERRORBUFFER, res->error);
    api.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    api.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, req->connect_timeout_s);
    api.easy_setopt(curl, CURLOPT_TIMEOUT, req->max_time_s);
    api.easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    api.easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, watch_progress);
    api.easy_setopt(curl, CURLOPT_XFERINFODATA, &watch);
    api.easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    api.easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    api.easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
#if LIBCURL_VERSION_NUM >= 0x075500
    api.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    api.easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (req->ca_file) api.easy_setopt(curl, CURLOPT_CAINFO, req->ca_file);
    if (req->user_agent) api.easy_setopt(curl, CURLOPT_USERAGENT, req->user_agent);

    CURLcode code = api.easy_perform(curl);
    res->curl_code = (int)code;
    long status = 0;
    api.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    res->status = code == CURLE_OK ? status : 0;
    if (code != CURLE_OK && res->error[0] == 0) snprintf(res->error, sizeof res->error, "%s", api.easy_strerror(code));
    if (code == CURLE_ABORTED_BY_CALLBACK && watch.why == 1)
        snprintf(res->error, sizeof res->error, "gave up: the shutdown deadline passed");
    if (code == CURLE_ABORTED_BY_CALLBACK && watch.why == 2)
        snprintf(res->error, sizeof res->error, "no byte moved for %ld s (stall timeout)", req->stall_timeout_s);
    api.easy_reset(curl);  // drop the pointers into this stack frame
    api.slist_free_all(headers);
}
