/* Password input for keygen, sign and license (see password.h). */
#include "password.h"

#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

int read_password_tty(const char *prompt, char *buf, size_t n)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty) return -1;
    struct termios old, quiet;
    int fd = fileno(tty), have = tcgetattr(fd, &old) == 0;
    if (have) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    fputs(prompt, tty);
    fflush(tty);
    char *ok = fgets(buf, (int)n, tty);
    if (have) tcsetattr(fd, TCSAFLUSH, &old);
    fputc('\n', tty);
    fclose(tty);
    if (!ok) return -1;
    buf[strcspn(buf, "\r\n")] = 0;
    return 0;
}

int read_password_file(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *ok = fgets(buf, (int)n, f);
    fclose(f);
    if (!ok) buf[0] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    return 0;
}
