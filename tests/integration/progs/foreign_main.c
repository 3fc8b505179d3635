/* foreign_main.c - prints what foreign_lib.c's constructor saw, then makes one
 * blocking call on the (guarded with threads=main) main thread to show the shim did
 * initialise after that constructor. */
#include <stdio.h>
#include <unistd.h>

#include <blockguard.h>

extern char foreign_report[];

int main(void) {
  usleep(1000);
  unsigned long long v = bg_violations(); /* before printf, itself a stdio call */
  printf("%s\nviolations=%llu\n", foreign_report, v);
  return 0;
}
