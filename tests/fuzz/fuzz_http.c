/* libFuzzer target for the HTTP response handling of `ferry fetch`: a server thread on
 * 127.0.0.1 answers every request with bytes from the input, and ferry_fetch_url downloads from
 * it with two connections and small segments, so status lines, headers (Content-Length,
 * Content-Range, ETag, X-Linked-Etag, Retry-After, Location), bodies and their disagreements
 * all come from the fuzzer. The input holds one or more raw responses separated by the line
 * "--next--": request k gets response k (the last one again after that). "$PORT" in a response
 * becomes the server's port, so redirects can come back to it. A clean error or a verified
 * file, never a crash, a hang or a file under its final name that is not what was served.
 * Build with -DFERRY_FUZZ=ON (clang). */
#define _GNU_SOURCE
#include "ferry/fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static char dir[64];
static int port;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *responses[16];
static size_t lens[16], nresp, served;

static void *serve(void *arg)
{
    int ls = *(int *)arg;
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) continue;
        struct timeval tv = {2, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char req[8192];
        size_t got = 0;
        while (got < sizeof(req) - 1) { /* the request head, then the answer */
            ssize_t r = recv(c, req + got, sizeof(req) - 1 - got, 0);
            if (r <= 0) break;
            got += (size_t)r;
            req[got] = 0;
            if (strstr(req, "\r\n\r\n")) break;
        }
        pthread_mutex_lock(&lock);
        size_t k = served < nresp ? served : nresp - 1;
        served++;
        if (nresp) {
            size_t off = 0;
            while (off < lens[k]) {
                ssize_t w = send(c, responses[k] + off, lens[k] - off, MSG_NOSIGNAL);
                if (w <= 0) break;
                off += (size_t)w;
            }
        }
        pthread_mutex_unlock(&lock);
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

static void start_server(void)
{
    static int ls;
    ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 64) ||
        getsockname(ls, (struct sockaddr *)&a, &al))
        abort();
    port = ntohs(a.sin_port);
    pthread_t t;
    if (pthread_create(&t, NULL, serve, &ls)) abort();
    pthread_detach(t);
}

/* one response with "$PORT" replaced */
static void add_response(const uint8_t *d, size_t n)
{
    if (nresp == sizeof(responses) / sizeof(responses[0])) return;
    char ps[16];
    int pl = snprintf(ps, sizeof(ps), "%d", port);
    char *out = malloc(n * 3 + 1); /* "$PORT" (5) becomes at most 5 digits */
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (n - i >= 5 && !memcmp(d + i, "$PORT", 5)) {
            memcpy(out + o, ps, (size_t)pl), o += (size_t)pl, i += 5;
        } else {
            out[o++] = (char)d[i++];
        }
    }
    responses[nresp] = out;
    lens[nresp++] = o;
}

static void remove_outputs(void)
{
    static const char *names[] = {"f.bin", ".f.bin.part", ".f.bin.part.json", ".f.bin.lock"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/ferry-fuzz-http-%d", (int)getpid());
        mkdir(dir, 0700);
        start_server();
        ferry_fetch_global_init();
    }
    static const char sep[] = "\n--next--\n";
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nresp; i++) free(responses[i]);
    nresp = served = 0;
    size_t start = 0;
    for (size_t i = 0; i + sizeof(sep) - 1 <= size; i++)
        if (!memcmp(data + i, sep, sizeof(sep) - 1)) {
            add_response(data + start, i - start);
            start = i + sizeof(sep) - 1;
            i = start - 1;
        }
    add_response(data + start, size - start);
    pthread_mutex_unlock(&lock);

    remove_outputs();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/f.bin", port);
    struct ferry_fetch_opts o = {.connections = 2,
                                 .segment_size = 4096,
                                 .max_tries = 1,
                                 .connect_timeout_ms = 1000,
                                 .low_speed_time_s = 1,
                                 .low_speed_limit = 1};
    struct ferry_fetch_result r;
    struct ferry_error err;
    ferry_error_clear(&err);
    int rc = ferry_fetch_url(url, dir, "f.bin", &o, &r, &err);
    if (getenv("FERRY_FUZZ_VERBOSE")) /* to see what a seed reaches */
        fprintf(stderr, "fetch: %s\n", rc ? err.cause : "ok");
    if (rc == 0) {
        /* the file got its name: it must hold exactly the bytes its size says */
        char p[128];
        struct stat st;
        snprintf(p, sizeof(p), "%s/f.bin", dir);
        if (stat(p, &st) != 0 || (uint64_t)st.st_size != r.size) abort();
    }
    remove_outputs();
    return 0;
}
