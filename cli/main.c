/* ferry: git-style dispatcher. One table lists every command of SPEC section 5; commands not
 * built yet say so and exit 64. */
#include "commands.h"
#include "output.h"

#include <stdio.h>
#include <string.h>

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.0.0"
#endif

struct command {
    const char *name;
    int (*fn)(int argc, char **argv); /* NULL: not built yet */
    const char *summary;
};

static const struct command commands[] = {
    {"inspect", cmd_inspect, "format, metadata and tensor table of a checkpoint"},
    {"convert", cmd_convert, "convert between GGUF, safetensors, PyTorch and Meta layouts"},
    {"diff", cmd_diff, "compare two checkpoints tensor by tensor"},
    {"keygen", cmd_keygen, "make signing keys (minisign Ed25519, ECDSA P-256/P-384)"},
    {"sign", cmd_sign, "write a signed manifest of a model directory"},
    {"verify", cmd_verify, "verify files against a signed manifest, checklist or torrent"},
    {"license", cmd_license, "show, accept and check model licenses"},
    {"fetch", cmd_fetch, "download over HTTP(S), resumable, parallel, verified"},
    {"pack", cmd_pack, "one reproducible archive of a model, for mirrors"},
    {"torrent", cmd_torrent, "make torrents and magnet links"},
    {"seed", cmd_seed, "seed torrents for mirrors"},
    {"run", cmd_run, "generate text with the reference forward pass"},
    {"tokenize", cmd_tokenize, "print token ids of a text"},
    {"logits", cmd_logits, "dump logits to .npy"},
    {"check", cmd_check, "compare logits of a candidate against a reference"},
    {"perplexity", cmd_perplexity, "perplexity of a model over a text"},
    {"imatrix", cmd_imatrix, "an importance matrix for quantizing, as llama-imatrix computes it"},
    {"demo", cmd_demo, "the whole pipeline on a generated model, served and fetched on loopback"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: ferry [--version] [--help] COMMAND [ARGS]\n\n"
               "ferry moves open-weight language models between formats, machines and\n"
               "organisations: convert, verify, fetch and check them.\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-11s %s%s\n", commands[i].name, commands[i].summary,
                commands[i].fn ? "" : " (not built yet)");
    fprintf(f, "\n'ferry COMMAND --help' describes a command.\n"
               "Exit codes: 0 ok, 1 verification failed, 64 usage, 65 malformed input,\n"
               "66 not found, 69 unavailable, 70 internal, 73 cannot create, 74 I/O,\n"
               "75 interrupted, 77 permission denied.\n");
}

int main(int argc, char **argv)
{
    out_init();
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        if (argc > 2 && strcmp(cmd, "help") == 0) {
            char *sub[] = {argv[2], (char *)"--help", NULL};
            for (size_t i = 0; i < NCOMMANDS; i++)
                if (!strcmp(commands[i].name, argv[2]) && commands[i].fn)
                    return commands[i].fn(2, sub);
        }
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("ferry %s\n", FERRY_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, cmd) != 0) continue;
        if (!commands[i].fn) {
            errorf("'%s' is not built yet in ferry %s", cmd, FERRY_VERSION);
            return EXIT_USAGE;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    errorf("unknown command '%s' (see 'ferry --help')", cmd);
    return EXIT_USAGE;
}
