/* ferry_magnet_parse: the hash that names the staging folder and the dn that names the output
 * folder, decoded as libtorrent decodes them (its Python binding gives "a b c/d" for
 * dn=a+b%20c%2Fd, and keeps the last dn), made safe as one folder name, and refusals of links
 * without a usable hash or with two different ones. */
#include "check.h"
#include "ferry/torrent.h"

#include <stdio.h>
#include <string.h>

#define H40 "0123456789ABCDEF0123456789abcdef01234567"
#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int parse(const char *uri, struct ferry_magnet *m, char *cause)
{
    struct ferry_error err;
    ferry_error_clear(&err);
    int rc = ferry_magnet_parse(uri, m, &err);
    snprintf(cause, 768, "%s", err.cause);
    return rc;
}

static const char *name_of(const char *dn)
{
    static struct ferry_magnet m;
    char uri[4096], cause[768];
    snprintf(uri, sizeof(uri), "magnet:?xt=urn:btih:" H40 "&dn=%s", dn);
    return parse(uri, &m, cause) ? "(refused)" : m.name;
}

int main(void)
{
    struct ferry_magnet m;
    char cause[768];

    CHECK(parse("magnet:?xt=urn:btih:" H40 "&dn=Llama+3.2%201B&tr=x", &m, cause) == 0);
    CHECK(!strcmp(m.id, "0123456789abcdef0123456789abcdef01234567") && !m.v2);
    CHECK(!strcmp(m.name, "Llama 3.2 1B"));
    CHECK(parse("magnet:?xt=urn:btih:" H40 "&xt=urn:btmh:1220" H64 "&dn=a", &m, cause) == 0);
    CHECK(!strcmp(m.id, H64) && m.v2);
    CHECK(parse("magnet:?xt.1=urn:btmh:1220" H64, &m, cause) == 0 && m.v2 && !m.name[0]);
    CHECK(parse("magnet:?xt=urn:btih:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U", &m, cause) == 0);
    CHECK(!strcmp(m.id, "mfrggzdfmztwq2lknnwg23tpobyxe43u"));
    CHECK(parse("magnet:?xt=urn:btih:" H40 "&xt=urn:btih:" H40, &m, cause) == 0);

    /* names: decoded, then made one safe folder name or dropped (the caller uses the hash) */
    CHECK(!strcmp(name_of("a+b%20c%2Fd"), "a b c_d"));
    CHECK(!strcmp(name_of("first&dn=second"), "second"));
    CHECK(!strcmp(name_of("line%0Abreak%7F"), "line_break_"));
    CHECK(!strcmp(name_of("%2e%2E"), ""));
    CHECK(!strcmp(name_of("."), ""));
    CHECK(!strcmp(name_of("..%2F"), ".._"));
    CHECK(!strcmp(name_of("x%00y"), ""));
    CHECK(!strcmp(name_of("bad%zz"), ""));
    CHECK(!strcmp(name_of("cut%4"), ""));
    CHECK(!strcmp(name_of("cut%"), ""));
    char dn[2048] = "";
    for (int i = 0; i < 300; i++) strcat(dn, "a");
    CHECK_EQ_U64(strlen(name_of(dn)), 255);
    dn[0] = 0;
    for (int i = 0; i < 200; i++) strcat(dn, "%C3%A9"); /* é: 2 bytes; 255 would split one */
    const char *e = name_of(dn);
    CHECK_EQ_U64(strlen(e), 254);
    CHECK((unsigned char)e[252] == 0xc3 && (unsigned char)e[253] == 0xa9);
    dn[0] = 0;
    for (int i = 0; i < 100; i++) strcat(dn, "%E2%82%AC"); /* €: 3 bytes, 255 = 85 of them */
    CHECK_EQ_U64(strlen(name_of(dn)), 255);
    strcpy(dn, "b");
    for (int i = 0; i < 100; i++) strcat(dn, "%E2%82%AC"); /* 1 + 3k: the cut drops a part */
    CHECK_EQ_U64(strlen(name_of(dn)), 253);

    /* refusals */
    CHECK(parse("magnet:?xt=urn:btih:" H40 "&xt=urn:btih:f123456789abcdef0123456789abcdef01234567",
                &m, cause) == FERRY_EMALFORMED);
    CHECK(strstr(cause, "two different v1 info hashes") != NULL);
    CHECK(parse("magnet:?dn=urn:btih:" H40, &m, cause) == FERRY_EMALFORMED);
    CHECK(strstr(cause, "no valid hash") != NULL);
    CHECK(parse("magnet:?xtra=urn:btih:" H40, &m, cause) == FERRY_EMALFORMED);
    CHECK(parse("magnet:?xt=urn:btih:" H40 "0", &m, cause) == FERRY_EMALFORMED);
    CHECK(parse("magnet:?xt=urn:btih:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", &m, cause) ==
          FERRY_EMALFORMED);
    CHECK(parse("magnet:?xt=urn:btmh:1220" H40, &m, cause) == FERRY_EMALFORMED);
    CHECK(parse("magnet:?xt=urn:btmh:1220" H64 "&xt=urn:btih:12", &m, cause) == FERRY_EMALFORMED);
    CHECK(parse("magnet:xt=urn:btih:" H40, &m, cause) == FERRY_EMALFORMED);
    CHECK(strstr(cause, "starts \"magnet:?\"") != NULL);
    CHECK(parse("magnet:?", &m, cause) == FERRY_EMALFORMED);
    return check_report("test_magnet");
}
