// The public headers compile as C++ through ferry/ferry.h, and the library's version is the
// headers' version.
#include <ferry/ferry.h>

#include <cstdio>
#include <cstring>

int main()
{
    if (std::strcmp(ferry_version(), FERRY_VERSION_STRING) != 0) {
        std::printf("FAIL: library %s, headers %s\n", ferry_version(), FERRY_VERSION_STRING);
        return 1;
    }
    std::printf("header_cxx: ok (libferry %s)\n", ferry_version());
    return 0;
}
