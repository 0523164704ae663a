/* See demo_torrent.h. The seeder is this program run as `ferry seed`, as a user would start it. */
#define _GNU_SOURCE
#include "demo_torrent.h"
#include "fetch_render.h"
#include "output.h"
#include "ferry/file.h"
#include "ferry/torrent.h"
#include "ferry/torrent_fetch.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* `ferry seed model --listen 127.0.0.1:0 --json`: its pid, and the port from its first event. */
static pid_t start_seeder(const char *model, const char *state, int *port)
{
    int fds[2];
    if (pipe(fds)) return -1;
    char *argv[] = {"ferry",   "seed",        (char *)model, "--listen", "127.0.0.1:0",
                    "--state", (char *)state, "--json",      NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc) {
        close(fds[0]);
        return -1;
    }
    FILE *f = fdopen(fds[0], "r");
    char line[4096];
    *port = 0;
    int added = 0;
    while (f && (!*port || !added) && fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "\"port\":");
        if (p) *port = atoi(p + 7);
        if (strstr(line, "\"added\"")) added = 1;
    }
    if (f) fclose(f); /* the seeder's later events go nowhere: it writes them to a closed pipe */
    if (!*port || !added) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

int demo_torrent(const char *dir, const char *model, const char *pub, const char *license_sha256,
                 char *out, size_t n)
{
    char tpath[4200], state[4200], manifest[4300], peer[64];
    snprintf(tpath, sizeof(tpath), "%s/model.torrent", dir);
    snprintf(state, sizeof(state), "%s/seed-state", dir);
    snprintf(manifest, sizeof(manifest), "%s/model.manifest.json", model);
    snprintf(out, n, "%s/fetched-bt", dir);
    struct ferry_error err;
    ferry_error_clear(&err);
    struct ferry_torrent_opts to = {.kind = FERRY_TORRENT_HYBRID};
    struct ferry_bbuf b;
    struct ferry_torrent_plan plan;
    if (ferry_torrent_create(model, &to, &b, &plan, &err) ||
        ferry_write_file(tpath, b.p, b.len, 1, &err)) {
        ferry_bbuf_free(&b);
        report_error(&err);
        return 1;
    }
    ferry_bbuf_free(&b);
    fprintf(stderr, "  %s: hybrid v1+v2, %llu pieces of %llu KiB, v2 roots = the manifest's\n",
            tpath, (unsigned long long)plan.pieces, (unsigned long long)(plan.piece_size >> 10));
    signal(SIGPIPE, SIG_IGN); /* the seeder's status events after we stop reading them */
    int port;
    pid_t pid = start_seeder(model, state, &port);
    if (pid < 0) {
        errorf("ferry seed did not start");
        return 1;
    }
    fprintf(stderr, "  ferry seed serves it on 127.0.0.1:%d\n", port);
    snprintf(peer, sizeof(peer), "127.0.0.1:%d", port);
    const char *peers[1] = {peer};
    struct ferry_fetch_manifest_opts mo = {.manifest = manifest,
                                           .sig = {.pubkey = pub},
                                           .accept = license_sha256,
                                           .who = {.name = "Demo User"}};
    struct ferry_fetch_torrent_opts fo = {
        .peers = peers, .npeers = 1, .manifest = &mo, .stall_seconds = 60};
    struct ferry_fetch_opts o = {0};
    struct fetch_view view = {.who = &mo.who, .lo = &mo.license};
    struct ferry_fetch_events ev = fetch_view_events(&view);
    ferry_fetch_torrent(tpath, out, &fo, &o, &ev, &view.t);
    int bad = fetch_view_finish(&view) != 0;
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errorf("ferry seed did not stop cleanly");
        bad = 1;
    }
    return bad;
}
