/* ev_loop.c - a libev loop: a repeating timer whose callback makes one blocking call
 * (usleep) three times; then ev_loop_destroy (which closes the backend's epoll fd) and
 * one more sleep outside any loop. */
#include <ev.h>
#include <unistd.h>

static int ticks;

static void tick(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  usleep(1000); /* blocks the loop: a violation */
  if (++ticks == 3) ev_timer_stop(loop, w);
}

int main(void) {
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  if (!loop) return 1;
  ev_timer t;
  ev_timer_init(&t, tick, 0.005, 0.005);
  ev_timer_start(loop, &t);
  ev_run(loop, 0);
  ev_loop_destroy(loop);
  usleep(1000); /* the loop is gone: not a violation */
  return 0;
}
