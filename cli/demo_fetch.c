/* See demo_fetch.h. */
#define _GNU_SOURCE
#include "demo_fetch.h"
#include "commands.h"
#include "fetch_render.h"
#include "ferry/fetch_flow.h"
#include "output.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *find_nginx(void)
{
    static const char *paths[] = {"/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], X_OK) == 0) return paths[i];
    return NULL;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}

static int port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (s >= 0) close(s);
    return ok;
}

/* nginx in the foreground, one process, everything under work; its pid or -1. */
static pid_t start_nginx(const char *nginx, const char *root, const char *work, int port)
{
    char conf[4400], log[4400];
    snprintf(conf, sizeof(conf), "%s/nginx.conf", work);
    snprintf(log, sizeof(log), "%s/error.log", work);
    FILE *f = fopen(conf, "w");
    if (!f) return -1;
    fprintf(
        f,
        "%s\ndaemon off;\nmaster_process off;\nworker_processes 1;\nerror_log %s;\npid "
        "%s/nginx.pid;\n"
        "events { worker_connections 64; }\nhttp {\n  access_log off;\n"
        "  client_body_temp_path %s/body; proxy_temp_path %s/proxy; fastcgi_temp_path %s/fcgi;\n"
        "  uwsgi_temp_path %s/uwsgi; scgi_temp_path %s/scgi;\n"
        "  server { listen 127.0.0.1:%d; root %s; }\n}\n",
        geteuid() == 0 ? "user root;" : "", log, work, work, work, work, work, work, port, root);
    fclose(f);
    char *argv[] = {(char *)nginx, "-c", conf, "-p", (char *)work, "-e", log, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, nginx, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    for (int i = 0; i < 100; i++) { /* up to 5 s */
        if (port_open(port)) return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid) return -1;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int demo_fetch(const char *dir, const char *model_name, const char *pub, const char *license_sha256,
               char *out, size_t n)
{
    const char *nginx = find_nginx();
    if (!nginx) return -1;
    char work[4200], manifest[256], mirror[256];
    snprintf(work, sizeof(work), "%s/nginx", dir);
    snprintf(out, n, "%s/fetched", dir);
    mkdir(work, 0755);
    pid_t pid = -1;
    int port = -1;
    for (int tries = 0; tries < 5 && pid < 0; tries++) /* another process may take the port first */
        if ((port = free_port()) > 0) pid = start_nginx(nginx, dir, work, port);
    if (pid < 0) {
        errorf("nginx did not start (see %s/error.log)", work);
        return 1;
    }
    fprintf(stderr, "  nginx serves %s on http://127.0.0.1:%d/\n", dir, port);
    snprintf(manifest, sizeof(manifest), "http://127.0.0.1:%d/%s/model.manifest.json", port,
             model_name);
    snprintf(mirror, sizeof(mirror), "http://127.0.0.1:%d/%s", port, model_name);
    const char *mirrors[1] = {mirror};
    struct ferry_fetch_manifest_opts mo = {.manifest = manifest,
                                           .sig = {.pubkey = pub},
                                           .mirrors = mirrors,
                                           .nmirrors = 1,
                                           .accept = license_sha256,
                                           .who = {.name = "Demo User"}};
    struct ferry_fetch_opts o = {0};
    struct fetch_view view = {.who = &mo.who, .lo = &mo.license};
    struct ferry_fetch_events ev = fetch_view_events(&view);
    ferry_fetch_global_init();
    ferry_fetch_manifest(out, &mo, &o, &ev, &view.t);
    int bad = fetch_view_finish(&view) != 0;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return bad;
}
