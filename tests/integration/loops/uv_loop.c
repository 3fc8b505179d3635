/* uv_loop.c - a libuv event loop: a repeating timer whose callback makes one blocking
 * call (usleep) three times, then the loop is closed (uv_loop_close closes its epoll
 * fd) and the program sleeps once more, outside any loop. */
#include <unistd.h>
#include <uv.h>

static int ticks;

static void tick(uv_timer_t *t) {
  usleep(1000); /* blocks the loop: a violation */
  if (++ticks == 3) uv_close((uv_handle_t *)t, NULL);
}

int main(void) {
  uv_loop_t *loop = uv_default_loop();
  uv_timer_t t;
  uv_timer_init(loop, &t);
  uv_timer_start(&t, tick, 5, 5);
  uv_run(loop, UV_RUN_DEFAULT);
  if (uv_loop_close(loop) != 0) return 1;
  usleep(1000); /* the loop is closed: not a violation */
  return 0;
}
