/* Magnet links as ferry reads them (see ferry/torrent.h): the info hash and the display name.
 * libtorrent parses the link again when it joins the swarm; these two fields are all ferry
 * itself uses, to name the staging folder and, without -o, the output folder. */
#include "ferry/torrent.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LINK "magnet link"

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* n characters of v are a hash of the given kind: 64 hex digits (v2), or 40 hex digits or 32
 * base32 letters (v1). */
static int hash_ok(const char *v, size_t n, int v2)
{
    size_t hex = 0, b32 = 0;
    for (size_t i = 0; i < n; i++) {
        hex += hexval((unsigned char)v[i]) >= 0;
        b32 += isalpha((unsigned char)v[i]) || (v[i] >= '2' && v[i] <= '7');
    }
    return v2 ? n == 64 && hex == n : (n == 40 && hex == n) || (n == 32 && b32 == n);
}

/* Records a hash into slot (lower case), refusing a second, different one. */
static int take_hash(char *slot, const char *v, size_t n, const char *kind, struct ferry_error *err)
{
    char h[65];
    for (size_t i = 0; i < n; i++) h[i] = (char)tolower((unsigned char)v[i]);
    h[n] = 0;
    if (slot[0] && strcmp(slot, h))
        return ferry_error_set(err, FERRY_EMALFORMED, LINK, FERRY_NO_OFFSET, NULL,
                               "two different %s info hashes (%s and %s)", kind, slot, h);
    memcpy(slot, h, n + 1);
    return 0;
}

/* dn's value (n bytes at v) decoded into name, or name "" when it cannot name a folder. */
static void take_name(char *name, size_t cap, const char *v, size_t n)
{
    size_t k = 0;
    name[0] = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)v[i];
        if (c == '+')
            c = ' ';
        else if (c == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)v[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)v[i + 2]) : -1;
            if (hi < 0 || lo < 0) goto unusable; /* a broken escape */
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0) goto unusable;
        if (k + 1 == cap) { /* full: drop a character the cut left unfinished */
            if ((c & 0xc0) == 0x80) {
                while (k && ((unsigned char)name[k - 1] & 0xc0) == 0x80) k--;
                if (k && ((unsigned char)name[k - 1] & 0xc0) == 0xc0) k--;
            }
            break;
        }
        name[k++] = (char)(c == '/' || c < 0x20 || c == 0x7f ? '_' : c);
    }
    name[k] = 0;
    if (strcmp(name, ".") && strcmp(name, "..")) return;
unusable:
    name[0] = 0;
}

int ferry_magnet_parse(const char *uri, struct ferry_magnet *m, struct ferry_error *err)
{
    memset(m, 0, sizeof(*m));
    if (strncmp(uri, "magnet:?", 8))
        return ferry_error_set(err, FERRY_EMALFORMED, LINK, FERRY_NO_OFFSET, NULL,
                               "a magnet link starts \"magnet:?\"");
    char v1[65] = "", v2[65] = "";
    int bad = 0, rc;
    for (const char *p = uri + 8; *p;) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        if (eq) {
            size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
            const char *v = eq + 1;
            int xt = (klen == 2 || (klen > 3 && p[2] == '.')) && !strncmp(p, "xt", 2);
            if (xt && vlen >= 9 && !strncasecmp(v, "urn:btih:", 9)) {
                if (!hash_ok(v + 9, vlen - 9, 0))
                    bad = 1;
                else if ((rc = take_hash(v1, v + 9, vlen - 9, "v1", err)))
                    return rc;
            } else if (xt && vlen >= 13 && !strncasecmp(v, "urn:btmh:1220", 13)) {
                if (!hash_ok(v + 13, vlen - 13, 1))
                    bad = 1;
                else if ((rc = take_hash(v2, v + 13, vlen - 13, "v2", err)))
                    return rc;
            } else if (klen == 2 && !strncmp(p, "dn", 2))
                take_name(m->name, sizeof(m->name), v, vlen);
        }
        p += len + (p[len] == '&');
    }
    if (bad || (!v1[0] && !v2[0]))
        return ferry_error_set(err, FERRY_EMALFORMED, LINK, FERRY_NO_OFFSET, NULL,
                               "no valid hash: urn:btih needs 40 hex digits (or 32 base32 "
                               "letters), urn:btmh:1220 64 hex digits");
    m->v2 = v2[0] != 0;
    snprintf(m->id, sizeof(m->id), "%s", m->v2 ? v2 : v1);
    return 0;
}
