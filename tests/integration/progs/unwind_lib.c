/* unwind_lib.c - built twice (t_unwind.sh) with different PAD: the same code at the same
 * offsets (both frame sizes need a 32-bit displacement), so the return addresses in
 * work() are equal in both objects while their frames differ.  Loaded one after the
 * other at the same base, the second one's stacks come out wrong if the unwinder
 * still used the first one's cached rules. */
#include <unistd.h>

__attribute__((noinline)) static void inner(void) {
  usleep(1);
  __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void middle(void) {
  volatile char pad[PAD];
  pad[PAD - 1] = 1;
  inner();
  __asm__ volatile("" ::: "memory");
  (void)pad[PAD - 1];
}

void work(void) {
  middle();
  __asm__ volatile("" ::: "memory");
}
