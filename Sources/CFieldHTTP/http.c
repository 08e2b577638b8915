// One HTTP/1.1 PUT of a file, over a socket of our own and, for https://, TLS from mbed TLS (linked statically in
// the deployable agent). Every wait is bounded: connecting by the connect timeout, every later byte by the stall
// timeout, and the whole exchange by a deadline another thread may set while it runs.
#include "CFieldPlatform.h"  // first: 64-bit off_t and time_t on 32-bit targets, as in the rest of the agent
#include "CFieldHTTP.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>  // its error codes only: the sockets are ours
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

// CA bundles where the common distributions keep them, tried in order when no --ca-file is given (SSL_CERT_FILE
// first, as OpenSSL does).
static const char *const ca_bundles[] = {
    "/etc/ssl/certs/ca-certificates.crt",  // Debian, Ubuntu, Alpine, Buildroot, Yocto
    "/etc/pki/tls/certs/ca-bundle.crt",    // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",              // openSUSE
    "/etc/ssl/cert.pem",                   // Alpine, OpenWrt
};

/// What stays between requests: the random generator and the trusted certificates (parsing a system bundle of
/// 140 certificates costs tens of milliseconds: done once, and again only when another CA file is named).
typedef struct {
    int rng_ready;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    int ca_loaded;
    char ca_path[512];
    mbedtls_x509_crt ca;
} http_client;

typedef struct {
    int fd;
    int tls;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    const field_http_put *req;
    uint64_t stall_ns;
    uint64_t last_moved_ns;  // when a byte last moved either way
    int why;                 // set when a wait gives up: FIELD_HTTP_DEADLINE or FIELD_HTTP_STALLED
} connection;

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(field_http_result *res, int code, const char *format, const char *detail) {
    res->failure = code;
    snprintf(res->error, sizeof res->error, format, detail);
}

/// Waits until the socket is ready for `events`, in slices of at most 100 ms so that a deadline set meanwhile by
/// the other thread is seen. Returns 1 when ready, 0 when the wait gave up (c->why says why).
static int wait_ready(connection *c, short events, uint64_t limit_ns) {
    for (;;) {
        uint64_t now = monotonic_ns();
        uint64_t deadline = c->req->deadline_mono_ns ? field_http_deadline(c->req->deadline_mono_ns) : 0;
        if (deadline != 0 && now >= deadline) {
            c->why = FIELD_HTTP_DEADLINE;
            return 0;
        }
        if (limit_ns != 0 && now >= limit_ns) {
            c->why = FIELD_HTTP_STALLED;
            return 0;
        }
        uint64_t slice = 100000000u;
        if (limit_ns != 0 && limit_ns - now < slice) slice = limit_ns - now;
        if (deadline != 0 && deadline - now < slice) slice = deadline - now;
        struct pollfd p = {c->fd, events, 0};
        int n = poll(&p, 1, (int)(slice / 1000000u) + 1);
        if (n > 0) return 1;
        if (n < 0 && errno != EINTR) return 1;  // let the next read or write report the error
    }
}

static uint64_t stall_limit(connection *c) { return c->stall_ns ? c->last_moved_ns + c->stall_ns : 0; }

// mbed TLS moves bytes through these two over the non-blocking socket; the waiting is ours.
static int bio_send(void *context, const unsigned char *buf, size_t len) {
    connection *c = context;
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return MBEDTLS_ERR_SSL_WANT_WRITE;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *context, unsigned char *buf, size_t len) {
    connection *c = context;
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n >= 0) return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return MBEDTLS_ERR_SSL_WANT_READ;
    return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

/// Writes all of `data`; 0 on success, -1 on failure (errno set, or c->why when a wait gave up).
static int send_all(connection *c, const void *data, size_t size) {
    const unsigned char *p = data;
    while (size > 0) {
        ssize_t n;
        if (c->tls) {
            int r = mbedtls_ssl_write(&c->ssl, p, size);
            if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ) {
                if (!wait_ready(c, r == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT, stall_limit(c))) return -1;
                continue;
            }
            if (r < 0) {
                errno = EPIPE;
                return -1;
            }
            n = r;
        } else {
            n = send(c->fd, p, size, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                if (!wait_ready(c, POLLOUT, stall_limit(c))) return -1;
                continue;
            }
            if (n < 0) return -1;
        }
        if (n > 0) c->last_moved_ns = monotonic_ns();
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

/// Reads what is there, waiting for at least one byte: >0 bytes, 0 at the end of the stream, -1 on failure.
static ssize_t receive(connection *c, void *buffer, size_t size) {
    for (;;) {
        ssize_t n;
        if (c->tls) {
            int r = mbedtls_ssl_read(&c->ssl, buffer, size);
            if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
                if (!wait_ready(c, r == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN, stall_limit(c))) return -1;
                continue;
            }
            if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == 0) return 0;
            if (r < 0) {
                errno = r == MBEDTLS_ERR_NET_CONN_RESET ? ECONNRESET : EIO;
                return -1;
            }
            n = r;
        } else {
            n = recv(c->fd, buffer, size, 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                if (!wait_ready(c, POLLIN, stall_limit(c))) return -1;
                continue;
            }
            if (n < 0) return -1;
        }
        if (n > 0) c->last_moved_ns = monotonic_ns();
        return n;
    }
}

/// The parts of an http:// or https:// URL. Returns 0, or -1 for a URL we do not speak.
typedef struct {
    int tls;
    char host[256];
    char port[8];
    char path[2048];
} url_parts;

static int parse_url(const char *url, url_parts *u) {
    const char *p;
    if (strncmp(url, "http://", 7) == 0) {
        u->tls = 0;
        p = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        u->tls = 1;
        p = url + 8;
    } else {
        return -1;
    }
    const char *host_end;
    const char *after;
    if (*p == '[') {  // an IPv6 literal
        host_end = strchr(p, ']');
        if (!host_end) return -1;
        p++;
        after = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/?#");
        after = host_end;
    }
    size_t host_len = (size_t)(host_end - p);
    if (host_len == 0 || host_len >= sizeof u->host) return -1;
    memcpy(u->host, p, host_len);
    u->host[host_len] = 0;
    if (*after == ':') {
        size_t port_len = strspn(after + 1, "0123456789");
        if (port_len == 0 || port_len >= sizeof u->port) return -1;
        memcpy(u->port, after + 1, port_len);
        u->port[port_len] = 0;
        after += 1 + port_len;
    } else {
        snprintf(u->port, sizeof u->port, "%s", u->tls ? "443" : "80");
    }
    if (*after != 0 && *after != '/') return -1;
    snprintf(u->path, sizeof u->path, "%s", *after ? after : "/");
    return strlen(after) < sizeof u->path ? 0 : -1;
}

/// Connects to the first address of `u` that answers within the connect timeout. Returns the socket or -1.
static int connect_to(const url_parts *u, connection *c, field_http_result *res) {
    struct addrinfo hints, *list = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(u->host, u->port, &hints, &list);
    if (rc != 0) {
        fail(res, FIELD_HTTP_UNRESOLVED, "cannot resolve the host name: %s", gai_strerror(rc));
        return -1;
    }
    int last_errno = ECONNREFUSED;
    uint64_t give_up = monotonic_ns() + (uint64_t)(c->req->connect_timeout_s > 0 ? c->req->connect_timeout_s : 10) * 1000000000u;
    for (struct addrinfo *a = list; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        c->fd = fd;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
            if (wait_ready(c, POLLOUT, give_up)) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err == 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    freeaddrinfo(list);
                    return fd;
                }
                last_errno = err;
            } else if (c->why == FIELD_HTTP_DEADLINE) {
                close(fd);
                freeaddrinfo(list);
                c->fd = -1;
                fail(res, FIELD_HTTP_DEADLINE, "%s", "gave up: the shutdown deadline passed");
                return -1;
            } else {
                last_errno = ETIMEDOUT;
                c->why = 0;
            }
        } else {
            last_errno = errno;
        }
        close(fd);
        c->fd = -1;
    }
    freeaddrinfo(list);
    fail(res, FIELD_HTTP_UNREACHABLE, "cannot connect: %s",
         last_errno == ETIMEDOUT ? "no answer within the connect timeout" : strerror(last_errno));
    return -1;
}

static void tls_error(field_http_result *res, const char *what, int code) {
    char text[160];
    mbedtls_strerror(code, text, sizeof text);
    res->failure = FIELD_HTTP_FAILED;
    snprintf(res->error, sizeof res->error, "%s: %s (-0x%04x)", what, text, (unsigned)-code);
}

/// Loads the trusted certificates: --ca-file, else SSL_CERT_FILE, else the first system bundle found.
static int load_trust(http_client *client, const char *ca_file, field_http_result *res) {
    const char *path = ca_file;
    if (!path) path = getenv("SSL_CERT_FILE");
    if (!path) {
        for (size_t i = 0; i < sizeof ca_bundles / sizeof ca_bundles[0] && !path; i++) {
            if (access(ca_bundles[i], R_OK) == 0) path = ca_bundles[i];
        }
    }
    if (!path) {
        fail(res, FIELD_HTTP_FAILED, "%s", "no CA certificates to verify the collector with: pass --ca-file");
        return -1;
    }
    if (client->ca_loaded && strcmp(client->ca_path, path) == 0) return 0;
    if (client->ca_loaded) mbedtls_x509_crt_free(&client->ca);
    mbedtls_x509_crt_init(&client->ca);
    client->ca_loaded = 1;
    snprintf(client->ca_path, sizeof client->ca_path, "%s", path);
    int rc = mbedtls_x509_crt_parse_file(&client->ca, path);
    // A positive result counts certificates that did not parse; a bundle with a few odd ones is still usable.
    if (rc < 0 || client->ca.version == 0) {
        char why[300];
        snprintf(why, sizeof why, "cannot read CA certificates from %s", path);
        tls_error(res, why, rc < 0 ? rc : MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT);
        mbedtls_x509_crt_free(&client->ca);
        client->ca_loaded = 0;
        return -1;
    }
    return 0;
}

/// Whether the certificate names `ip` (an IPv4 or IPv6 literal) among its iPAddress subject alternative names.
/// mbed TLS 2.28 checks DNS names and the common name only; a collector addressed by IP needs this.
static int certificate_names_ip(const mbedtls_x509_crt *crt, const char *ip) {
    unsigned char want[16];
    size_t want_len;
    if (inet_pton(AF_INET, ip, want) == 1) {
        want_len = 4;
    } else if (inet_pton(AF_INET6, ip, want) == 1) {
        want_len = 16;
    } else {
        return 0;
    }
    for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s; s = s->next) {
        // GeneralName iPAddress is [7] IMPLICIT OCTET STRING (RFC 5280, 4.2.1.6).
        if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && s->buf.len == want_len &&
            memcmp(s->buf.p, want, want_len) == 0)
            return 1;
    }
    return 0;
}

static int handshake(http_client *client, connection *c, const url_parts *u, field_http_result *res) {
    if (!client->rng_ready) {
        mbedtls_entropy_init(&client->entropy);
        mbedtls_ctr_drbg_init(&client->drbg);
        int rc = mbedtls_ctr_drbg_seed(&client->drbg, mbedtls_entropy_func, &client->entropy,
                                       (const unsigned char *)"fieldagent", 10);
        if (rc != 0) {
            tls_error(res, "cannot seed the TLS random generator", rc);
            return -1;
        }
        client->rng_ready = 1;
    }
    if (load_trust(client, c->req->ca_file, res) != 0) return -1;
    unsigned char probe[16];
    int is_ip = inet_pton(AF_INET, u->host, probe) == 1 || inet_pton(AF_INET6, u->host, probe) == 1;

    mbedtls_ssl_config_init(&c->conf);
    mbedtls_ssl_init(&c->ssl);
    c->tls = 1;
    int rc = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) {
        tls_error(res, "cannot configure TLS", rc);
        return -1;
    }
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &client->ca, NULL);
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &client->drbg);
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);  // TLS 1.2+
    if ((rc = mbedtls_ssl_setup(&c->ssl, &c->conf)) != 0) {
        tls_error(res, "cannot set up TLS", rc);
        return -1;
    }
    // A DNS name is checked by mbed TLS (SNI too); an IP literal is checked below against the certificate.
    if ((rc = mbedtls_ssl_set_hostname(&c->ssl, is_ip ? NULL : u->host)) != 0) {
        tls_error(res, "cannot set the TLS host name", rc);
        return -1;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    for (;;) {
        rc = mbedtls_ssl_handshake(&c->ssl);
        if (rc == 0) break;
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            if (!wait_ready(c, rc == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT, stall_limit(c))) return -1;
            continue;
        }
        if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
            char why[200];
            int n = mbedtls_x509_crt_verify_info(why, sizeof why, "", mbedtls_ssl_get_verify_result(&c->ssl));
            while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' ')) why[--n] = 0;
            for (char *p = why; *p; p++) if (*p == '\n') *p = ';';
            fail(res, FIELD_HTTP_FAILED, "the collector's certificate is not trusted: %s", why);
            return -1;
        }
        tls_error(res, "TLS handshake failed", rc);
        return -1;
    }
    if (is_ip && !certificate_names_ip(mbedtls_ssl_get_peer_cert(&c->ssl), u->host)) {
        fail(res, FIELD_HTTP_FAILED, "the collector's certificate does not name %s (no such IP address entry)", u->host);
        return -1;
    }
    return 0;
}

void *field_http_new(void) {
    http_client *client = calloc(1, sizeof *client);
    return client;
}

void field_http_free(void *handle) {
    http_client *client = handle;
    if (!client) return;
    if (client->ca_loaded) mbedtls_x509_crt_free(&client->ca);
    if (client->rng_ready) {
        mbedtls_ctr_drbg_free(&client->drbg);
        mbedtls_entropy_free(&client->entropy);
    }
    free(client);
}

const char *field_http_version(void) { return "field HTTP/1.1, mbed TLS " MBEDTLS_VERSION_STRING; }

/// Reads the response: status line, headers, and the start of the body. Returns 0 when a status line was read.
static int read_response(connection *c, field_http_result *res) {
    char head[8192];
    size_t used = 0;
    char *end = NULL;
    while (!end) {
        if (used == sizeof head - 1) {
            fail(res, FIELD_HTTP_FAILED, "%s", "the response headers are too long");
            return -1;
        }
        ssize_t n = receive(c, head + used, sizeof head - 1 - used);
        if (n <= 0) {
            if (c->why == 0) fail(res, FIELD_HTTP_FAILED, "%s", n == 0 ? "the collector closed the connection without an answer"
                                                                       : "reading the answer failed");
            return -1;
        }
        used += (size_t)n;
        head[used] = 0;
        end = strstr(head, "\r\n\r\n");
    }
    int major = 0, minor = 0, status = 0;
    if (sscanf(head, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || status < 100 || status > 999) {
        fail(res, FIELD_HTTP_FAILED, "%s", "the answer is not HTTP");
        return -1;
    }
    res->status = status;
    // Content-Length, when given, bounds the body; otherwise the body ends with the connection.
    long long length = -1;
    for (char *line = strstr(head, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0) length = atoll(line + 17);
    }
    char *body = end + 4;
    size_t have = used - (size_t)(body - head);
    size_t keep = 0;
    for (;;) {
        size_t room = sizeof res->body - 1 - keep;
        size_t take = have < room ? have : room;
        memcpy(res->body + keep, body, take);
        keep += take;
        res->body[keep] = 0;
        if (length >= 0) length -= (long long)have;
        if (length == 0 || keep == sizeof res->body - 1) break;
        ssize_t n = receive(c, head, sizeof head);
        if (n <= 0) break;  // the status is what matters; a short body is not a failure
        body = head;
        have = (size_t)n;
    }
    return 0;
}

void field_http_put_file(void *handle, const field_http_put *req, field_http_result *res) {
    memset(res, 0, sizeof *res);
    http_client *client = handle;
    url_parts u;
    if (!client) {
        fail(res, FIELD_HTTP_FAILED, "%s", "out of memory");
        return;
    }
    if (parse_url(req->url, &u) != 0) {
        fail(res, FIELD_HTTP_FAILED, "not an http:// or https:// URL: %s", req->url);
        return;
    }
    connection c;
    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.req = req;
    c.stall_ns = (uint64_t)req->stall_timeout_s * 1000000000u;
    if (connect_to(&u, &c, res) < 0) return;
    c.last_moved_ns = monotonic_ns();

    if (u.tls && handshake(client, &c, &u, res) != 0) goto done;

    // The head: Host with the port unless it is the scheme's own; Connection: close, one request per connection
    // (a bundle an hour needs no pool, and nothing is left half-open between uploads).
    char host[300];
    int default_port = strcmp(u.port, u.tls ? "443" : "80") == 0;
    int v6 = strchr(u.host, ':') != NULL;
    snprintf(host, sizeof host, "%s%s%s%s%s", v6 ? "[" : "", u.host, v6 ? "]" : "", default_port ? "" : ":",
             default_port ? "" : u.port);
    char head[4096];
    int n = snprintf(head, sizeof head,
                     "PUT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n%s%s%s%s%s%s"
                     "Content-Type: application/zstd\r\nContent-Length: %lld\r\nConnection: close\r\n\r\n",
                     u.path, host, req->user_agent ? req->user_agent : "fieldagent",
                     req->authorization ? "Authorization: " : "", req->authorization ? req->authorization : "",
                     req->authorization ? "\r\n" : "", req->digest ? "Content-Digest: " : "",
                     req->digest ? req->digest : "", req->digest ? "\r\n" : "", (long long)req->size);
    if (n < 0 || (size_t)n >= sizeof head) {
        fail(res, FIELD_HTTP_FAILED, "%s", "the request head is too long");
        goto done;
    }
    int sent = send_all(&c, head, (size_t)n);
    // The body, straight from the file. A server may answer and close before taking it all (413, 401): the
    // answer is then read below even though sending failed.
    char chunk[16384];
    int64_t offset = 0;
    while (sent == 0 && offset < req->size) {
        size_t want = sizeof chunk;
        if ((int64_t)want > req->size - offset) want = (size_t)(req->size - offset);
        ssize_t got = pread(req->fd, chunk, want, (off_t)offset);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {  // a file that shrank or cannot be read: never send a short body
            fail(res, FIELD_HTTP_FAILED, "%s", "the bundle could not be read to its end while sending");
            goto done;
        }
        sent = send_all(&c, chunk, (size_t)got);
        offset += got;
    }
    int send_why = c.why;
    int send_errno = errno;
    c.why = 0;
    if (send_why != FIELD_HTTP_DEADLINE && read_response(&c, res) == 0) {
        res->failure = 0;
        res->error[0] = 0;
        if (sent != 0 && res->status / 100 == 2) {  // an early 2xx before the whole body left is not success
            res->status = 0;
            fail(res, FIELD_HTTP_FAILED, "%s", "the collector answered before the bundle was sent");
        }
        goto done;
    }
    int why = send_why ? send_why : c.why;
    if (why == FIELD_HTTP_DEADLINE) {
        fail(res, FIELD_HTTP_DEADLINE, "%s", "gave up: the shutdown deadline passed");
    } else if (why == FIELD_HTTP_STALLED) {
        char s[32];
        snprintf(s, sizeof s, "%ld", req->stall_timeout_s);
        fail(res, FIELD_HTTP_STALLED, "no byte moved for %s s (stall timeout)", s);
    } else if (sent != 0) {
        fail(res, FIELD_HTTP_FAILED, "sending failed: %s", strerror(send_errno));
    }
    res->status = 0;

done:
    if (c.tls) {
        mbedtls_ssl_free(&c.ssl);
        mbedtls_ssl_config_free(&c.conf);
    }
    if (c.fd >= 0) close(c.fd);
}
