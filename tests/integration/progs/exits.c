/* exits.c - exit status and signal pass-through for blockguard run/check. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "sleep")) usleep(10);
  if (argc > 2 && !strcmp(argv[2], "kill")) raise(SIGKILL);
  return argc > 2 ? atoi(argv[2]) : 0;
}
