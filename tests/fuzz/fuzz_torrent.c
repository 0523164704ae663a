/* libFuzzer target: any bytes read as a .torrent, and as metadata received from a peer, give a
 * clean error or a torrent whose magnet link can be made, never a crash. Build with
 * -DFERRY_FUZZ=ON (clang). */
#include "ferry/torrent.h"

#include <stdlib.h>

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
    return 0;
}
