/* ferry_fetch_extract (see ferry/fetch_flow.h): an archive fetched like any file (parallel,
 * resumable, verified) and unpacked into a staging folder while it arrives: a thread reads the
 * .part file up to the bytes written in order so far (the first segments, as each grows) and
 * waits for more. The staged files count only once the download is complete and verified and,
 * when a signed manifest is given or inside, checked against it; only then are they moved to
 * the final names. A transfer that starts over (a server without Range) or a stream that fails
 * for want of bytes is unpacked again from the finished file. */
#define _GNU_SOURCE
#include "flow.h"
#include "ferry/archive.h"
#include "ferry/file.h"
#include "ferry/verify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The signed manifest's entry for a file unpacked as name (below stage), or NULL; its names
 * are relative to the folder the signature lay in, `inside` below stage ("" or "TOP/"). */
static const struct ferry_resource *signed_entry(const struct ferry_manifest *signedm,
                                                 const char *inside, const char *name)
{
    size_t il = strlen(inside);
    if (!signedm || strncmp(name, inside, il)) return NULL;
    for (size_t i = 0; i < signedm->nres; i++)
        if (!strcmp(signedm->res[i].name, name + il)) return &signedm->res[i];
    return NULL;
}

/* Moves every file below stage to the same place below dir; refuses to replace unless force.
 * The first pass checks, the second renames, so a refusal moves nothing. A file the signed
 * manifest (checked already) lists is reported with its digest; the others were not hashed. */
static int move_all(const char *stage, const char *dir, const struct ferry_manifest *list,
                    const struct ferry_manifest *signedm, const char *inside, int force,
                    const struct ferry_fetch_events *ev, struct ferry_fetch_tally *t,
                    struct ferry_error *err)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < list->nres; i++) {
            char from[8192], fdir[4096], name[1024], to[8192];
            snprintf(from, sizeof(from), "%s/%s", stage, list->res[i].name);
            int rc =
                flow_place(dir, list->res[i].name, fdir, sizeof(fdir), name, sizeof(name), err);
            if (rc) return rc;
            snprintf(to, sizeof(to), "%s/%s", fdir, name);
            if (pass == 0) {
                if (!force && access(to, F_OK) == 0)
                    return ferry_error_set(err, FERRY_ECANTCREAT, to, FERRY_NO_OFFSET, NULL,
                                           "exists (use --force to replace it)");
                continue;
            }
            if (rename(from, to))
                return ferry_error_set(err, FERRY_ECANTCREAT, to, FERRY_NO_OFFSET, NULL, "%s",
                                       strerror(errno));
            struct ferry_fetch_result r = {.size = list->res[i].size, .verified_by = 0};
            const struct ferry_resource *sr = signed_entry(signedm, inside, list->res[i].name);
            if (sr)
                memcpy(r.sha256, sr->sha256, 32), r.verified_by = 5;
            else
                r.unhashed = 1;
            t->ok++, t->bytes += list->res[i].size;
            if (ev && ev->done) ev->done(ev->ctx, list->res[i].name, &r);
        }
    return 0;
}

/* The download as the unpacker's source: bytes below the written prefix, waiting for more. */
struct feed {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t prefix, pos, at_done; /* at_done: bytes read before the download finished */
    int done;                      /* 1 downloaded and verified, -1 failed */
    int restarted;                 /* the prefix went back: the transfer started over */
    int starved;                   /* the source gave up before the archive's end */
    int fd;
    const char *part, *final;
    volatile sig_atomic_t *cancel;
    /* the unpacking thread's work and result */
    const char *stage;
    uint64_t bytes;
    int rc;
    struct ferry_error err;
};

static void on_prefix(void *ctx, uint64_t bytes)
{
    struct feed *f = ctx;
    pthread_mutex_lock(&f->mu);
    if (bytes < f->prefix) f->restarted = 1;
    if (bytes > f->prefix) {
        f->prefix = bytes;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
}

static ptrdiff_t feed_read(void *ctx, void *buf, size_t n)
{
    struct feed *f = ctx;
    pthread_mutex_lock(&f->mu);
    while (!f->done && !f->restarted && f->prefix <= f->pos && !(f->cancel && *f->cancel)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000; /* a Ctrl-C is seen within 0.1 s */
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    }
    int stop = f->restarted || f->done < 0 || (f->cancel && *f->cancel);
    uint64_t avail = f->prefix > f->pos ? f->prefix - f->pos : 0, pos = f->pos;
    int end = f->done > 0 && !avail;
    if (stop) f->starved = 1;
    pthread_mutex_unlock(&f->mu);
    if (stop) return -1;
    if (end) return 0;
    if (f->fd < 0) { /* the .part while it grows, the final name once it is renamed */
        f->fd = open(f->part, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0) f->fd = open(f->final, O_RDONLY | O_CLOEXEC);
    }
    ssize_t r = f->fd < 0 ? -1 : pread(f->fd, buf, n < avail ? n : (size_t)avail, (off_t)pos);
    pthread_mutex_lock(&f->mu);
    if (r > 0)
        f->pos += (uint64_t)r;
    else
        f->starved = 1;
    pthread_mutex_unlock(&f->mu);
    return r > 0 ? r : -1;
}

static void *unpack_thread(void *arg)
{
    struct feed *f = arg;
    struct ferry_archive_source src = {.name = f->final, .ctx = f, .read = feed_read};
    f->rc = ferry_archive_extract_from(&src, "", f->stage, f->cancel, &f->bytes, &f->err);
    return NULL;
}

int ferry_fetch_extract(const char *url, const char *dir, const struct ferry_signature_opts *sig,
                        const struct ferry_fetch_opts *o, const struct ferry_fetch_events *ev,
                        struct ferry_fetch_tally *t)
{
    struct ferry_error err;
    ferry_error_clear(&err);
    if (flow_dir(dir, ev, t)) return t->code;
    /* the archive itself, under a hidden name: resumable like any fetch */
    const char *q = strpbrk(url, "?#"), *end = q ? q : url + strlen(url), *b = end;
    while (b > url && b[-1] != '/') b--;
    char aname[512], apath[8192], stage[4200], adir[4200];
    snprintf(aname, sizeof(aname), "%.*s", (int)(end - b), b);
    if (!ferry_archive_name(aname)) {
        ferry_error_set(&err, FERRY_EUSAGE, url, FERRY_NO_OFFSET, NULL,
                        "--extract needs a .tar, .tar.gz/.tgz/.bz2/.xz/.zst or .zip URL");
        flow_fail(ev, t, url, &err);
        return t->code;
    }
    snprintf(adir, sizeof(adir), "%s/.ferry-extract-download", dir);
    snprintf(apath, sizeof(apath), "%s/%s", adir, aname);
    struct ferry_fetch_tally inner = {0};
    struct ferry_fetch_opts ao = *o;
    ao.force = 1;
    if (ferry_mkdirs(adir, 0755)) {
        ferry_error_set(&err, FERRY_ECANTCREAT, adir, FERRY_NO_OFFSET, NULL, "%s", strerror(errno));
        flow_fail(ev, t, url, &err);
        return t->code;
    }
    snprintf(stage, sizeof(stage), "%s/.ferry-extract-%d", dir, (int)getpid());
    ferry_remove_tree(stage);
    if (mkdir(stage, 0700)) {
        ferry_error_set(&err, FERRY_ECANTCREAT, stage, FERRY_NO_OFFSET, NULL, "%s",
                        strerror(errno));
        flow_fail(ev, t, url, &err);
        return t->code;
    }
    char part[8400];
    snprintf(part, sizeof(part), "%s/.%s.part", adir, aname); /* download.c's name for it */
    struct feed f = {.fd = -1, .part = part, .final = apath, .cancel = o->cancel, .stage = stage};
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cv, NULL);
    ferry_error_clear(&f.err);
    pthread_t th;
    int threaded = pthread_create(&th, NULL, unpack_thread, &f) == 0;
    ao.prefix = threaded ? on_prefix : NULL, ao.prefix_ctx = &f;
    int drc = flow_one(url, adir, aname, url, &ao, ev, &inner, &err);
    struct stat sb;
    pthread_mutex_lock(&f.mu);
    f.done = drc ? -1 : 1;
    f.at_done = f.pos;
    if (!drc && stat(apath, &sb) == 0) f.prefix = (uint64_t)sb.st_size;
    pthread_cond_broadcast(&f.cv);
    pthread_mutex_unlock(&f.mu);
    if (threaded) pthread_join(th, NULL);
    if (f.fd >= 0) close(f.fd);
    pthread_cond_destroy(&f.cv);
    pthread_mutex_destroy(&f.mu);
    if (drc) {
        ferry_remove_tree(stage);
        flow_fail(ev, t, url, &err);
        return t->code;
    }
    t->downloaded += inner.downloaded;
    struct ferry_manifest list = {0}, signedm = {0};
    int rc = 0, again = !threaded || f.restarted || f.starved;
    uint64_t bytes = f.bytes;
    if (again) { /* unpack the finished file instead */
        ferry_remove_tree(stage);
        rc = mkdir(stage, 0700) ? ferry_error_set(&err, FERRY_ECANTCREAT, stage, FERRY_NO_OFFSET,
                                                  NULL, "%s", strerror(errno))
                                : 0;
        if (!rc) rc = ferry_archive_extract(apath, "", stage, o->cancel, &bytes, &err);
    } else if (f.rc) {
        rc = f.rc, err = f.err;
    }
    if (!rc && ev && ev->note) {
        char text[600];
        if (again)
            snprintf(text, sizeof(text), "%s: %llu bytes unpacked after the download", url,
                     (unsigned long long)bytes);
        else
            snprintf(text, sizeof(text),
                     "%s: %llu bytes unpacked; %llu of the archive's %llu bytes were read while "
                     "it was still arriving",
                     url, (unsigned long long)bytes, (unsigned long long)f.at_done,
                     (unsigned long long)f.prefix);
        ev->note(ev->ctx, text, 0);
    }
    /* a signed manifest inside decides what counts; with a key given it must verify. It lies
     * at the top, or in the one folder the archive holds (as tar -cf a.tar model packs it). */
    char sigdir[4400];
    snprintf(sigdir, sizeof(sigdir), "%s", stage);
    DIR *dp = rc ? NULL : opendir(stage);
    if (dp) {
        struct dirent *de;
        int n = 0, dirs = 0;
        char only[256] = "";
        while ((de = readdir(dp)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                n++;
                if (de->d_type == DT_DIR) dirs++, snprintf(only, sizeof(only), "%s", de->d_name);
            }
        closedir(dp);
        if (n == 1 && dirs == 1) snprintf(sigdir, sizeof(sigdir), "%s/%s", stage, only);
    }
    if (!rc && sig && sig->pubkey) {
        struct ferry_signature_report sr;
        int v = ferry_verify_signature(sigdir, sig, &signedm, &sr, &err);
        if (v == 0)
            rc = ferry_error_set(&err, FERRY_EMISMATCH, url, FERRY_NO_OFFSET, NULL,
                                 "the archive holds no signed manifest (model.manifest.json with "
                                 "its .minisig, or model.sig)");
        else if (v < 0)
            rc = v;
        else {
            struct ferry_check_report r;
            rc = ferry_manifest_check(sigdir, &signedm, NULL, &r, &err);
            if (!rc && (r.nmissing || r.nextra || r.nmismatched))
                rc = ferry_error_set(&err, FERRY_EMISMATCH, url, FERRY_NO_OFFSET, NULL,
                                     "the archive's files differ from its signed manifest (%s)",
                                     r.nmismatched ? r.mismatched[0]
                                     : r.nmissing  ? r.missing[0]
                                                   : r.extra[0]);
            ferry_check_report_free(&r);
            if (!rc && ev && ev->note) {
                char text[512];
                snprintf(text, sizeof(text), "%s: signature verified (%s), %zu files match", url,
                         sr.method, signedm.nres);
                ev->note(ev->ctx, text, 0);
            }
        }
    }
    struct ferry_walk_opts wo = {.walk_only = 1, .all_files = 1}; /* every file unpacked */
    if (!rc) rc = ferry_manifest_build(stage, &wo, &list, &err);
    if (!rc && ev && ev->plan) ev->plan(ev->ctx, url, list.nres, bytes);
    const char *inside = sigdir + strlen(stage); /* "" or "/TOP" */
    char inside_rel[300] = "";
    if (*inside) snprintf(inside_rel, sizeof(inside_rel), "%s/", inside + 1);
    if (!rc)
        rc = move_all(stage, dir, &list, signedm.nres ? &signedm : NULL, inside_rel, o->force, ev,
                      t, &err);
    ferry_remove_tree(stage);
    if (!rc) unlink(apath), rmdir(adir); /* kept on failure: a rerun resumes or reuses it */
    if (rc) flow_fail(ev, t, url, &err);
    ferry_manifest_free(&list);
    ferry_manifest_free(&signedm);
    return t->code;
}
