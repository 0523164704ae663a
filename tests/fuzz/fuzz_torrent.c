/* libFuzzer target: any bytes read as a .torrent, and as metadata received from a peer, give a
 * clean error or a torrent whose magnet link can be made, never a crash; read as a magnet link,
 * they give a clean error or a hash and a name that are safe to name folders with. Build with
 * -DFERRY_FUZZ=ON (clang). */
#include "ferry/torrent.h"

#include <stdlib.h>
#include <string.h>

static void magnet(const uint8_t *data, size_t size)
{
    char *uri = malloc(size + 9);
    if (!uri) return;
    memcpy(uri, "magnet:?", 8); /* most inputs then get past the prefix */
    memcpy(uri + 8, data, size);
    uri[size + 8] = 0;
    for (int whole = 0; whole < 2; whole++) {
        struct ferry_magnet m;
        struct ferry_error err;
        ferry_error_clear(&err);
        if (ferry_magnet_parse(whole ? uri + 8 : uri, &m, &err)) continue;
        size_t n = strlen(m.id);
        if (n != 32 && n != 40 && n != 64) abort();
        if (strspn(m.id, "0123456789abcdefghijklmnopqrstuvwxyz") != n) abort();
        if (strchr(m.name, '/') || !strcmp(m.name, ".") || !strcmp(m.name, "..")) abort();
        for (const char *c = m.name; *c; c++)
            if ((unsigned char)*c < 0x20) abort();
    }
    free(uri);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int metadata = 0; metadata < 2; metadata++) {
        struct ferry_torrent_info t;
        struct ferry_error err;
        ferry_error_clear(&err);
        int rc = metadata ? ferry_torrent_parse_metadata(data, size, "fuzz", &t, &err)
                          : ferry_torrent_parse(data, size, "fuzz", &t, &err);
        if (rc) continue;
        free(ferry_torrent_magnet(&t));
        ferry_torrent_info_free(&t);
    }
    magnet(data, size);
    return 0;
}
