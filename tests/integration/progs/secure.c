/* secure.c - a program that blocks on its main thread and says what the guard saw.
 * Linked against libblockguard.so (DT_NEEDED, absolute rpath) by t_security.sh so the
 * shim is loaded even when the program runs setuid, where LD_PRELOAD is ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "blockguard.h"

int main(int argc, char **argv) {
  usleep(1000);
  printf("violations=%llu\n", (unsigned long long)bg_violations());
  return argc > 1 ? atoi(argv[1]) : 0;
}
