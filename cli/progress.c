/* Progress display (see progress.h). */
#include "progress.h"
#include "output.h"

#include <stdio.h>
#include <unistd.h>

static void line(const struct progress *p, double t, char *out, size_t n)
{
    double el = t - p->start;
    double rate = el > 0 ? (double)(p->done - p->skipped) / el : 0; /* this run's bytes only */
    double frac = p->total ? (double)p->done / (double)p->total : 1;
    double eta = rate > 0 && p->total > p->done ? (double)(p->total - p->done) / rate : 0;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '-';
    bar[30] = 0;
    snprintf(out, n, "%s [%s] %5.1f%% %8.1f MiB/s ETA %4.0fs", p->label, bar, frac * 100,
             rate / 1048576.0, eta);
}

static void draw(struct progress *p, int final)
{
    double t = now_seconds(), el = t - p->start;
    double rate = el > 0 ? (double)(p->done - p->skipped) / el : 0;
    double frac = p->total ? (double)p->done / (double)p->total : 1;
    if (p->tty) {
        char a[512], b[512];
        line(p, t, a, sizeof(a));
        if (p->parent && p->parent->enabled &&
            final) { /* done: keep this line, clear the total's */
            fprintf(stderr, "\r\x1b[2K%s\n\x1b[2K", a);
        } else if (p->parent &&
                   p->parent->enabled) { /* this bar, the total below it, cursor back up */
            line(p->parent, t, b, sizeof(b));
            fprintf(stderr, "\r\x1b[2K%s\n\x1b[2K%s\x1b[1A\r", a, b);
        } else {
            fprintf(stderr, "\r%s%s", a, final ? "\n" : "");
        }
    } else {
        fprintf(stderr, "ferry: %s: %.1f%% (%.1f MiB/s)\n", p->label, frac * 100, rate / 1048576.0);
    }
    fflush(stderr);
    p->last = t;
}

void progress_start(struct progress *p, const char *label, uint64_t total)
{
    p->label = label;
    p->total = total;
    p->done = p->skipped = 0;
    p->start = p->last = now_seconds();
    p->tty = isatty(2);
    p->enabled = g_opts.verbosity >= 0 && !g_opts.json;
    p->parent = NULL;
    pthread_mutex_init(&p->lock, NULL);
}

static void count(struct progress *p, uint64_t n, int moved)
{
    pthread_mutex_lock(&p->lock);
    p->done += n;
    if (!moved) p->skipped += n;
    pthread_mutex_unlock(&p->lock);
}

void progress_skip(struct progress *p, uint64_t n)
{
    if (p->parent) count(p->parent, n, 0);
    count(p, n, 0);
}

void progress_add(struct progress *p, uint64_t n)
{
    if (p->parent) count(p->parent, n, 1);
    pthread_mutex_lock(&p->lock);
    p->done += n;
    if (p->enabled && now_seconds() - p->last >= (p->tty ? 0.1 : 10.0)) draw(p, 0);
    pthread_mutex_unlock(&p->lock);
}

void progress_clear(struct progress *p)
{
    pthread_mutex_lock(&p->lock);
    if (p->enabled && p->tty) fputs("\r\x1b[2K", stderr);
    p->last = 0; /* redraw at the next update */
    pthread_mutex_unlock(&p->lock);
}

void progress_total_cb(void *ctx, uint64_t total)
{
    struct progress *p = ctx;
    pthread_mutex_lock(&p->lock);
    p->total = total;
    pthread_mutex_unlock(&p->lock);
}

void progress_cb(void *ctx, uint64_t n)
{
    progress_add(ctx, n);
}

void progress_end(struct progress *p)
{
    if (p->enabled && p->tty) draw(p, 1);
    pthread_mutex_destroy(&p->lock);
}
