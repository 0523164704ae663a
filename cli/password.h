/* Reading secrets for keys: from the terminal without echo, or from a file's first line. */
#ifndef FERRY_CLI_PASSWORD_H
#define FERRY_CLI_PASSWORD_H

#include <stddef.h>

/* Prompts on /dev/tty with echo off; returns 0 and fills buf, -1 without a terminal. */
int read_password_tty(const char *prompt, char *buf, size_t n);
/* First line of a file, without its newline. */
int read_password_file(const char *path, char *buf, size_t n);

#endif
