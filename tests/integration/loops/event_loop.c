/* event_loop.c - a libevent loop: a persistent timer event whose callback makes one
 * blocking call (usleep) three times; then event_base_free (which closes the epoll
 * fd) and one more sleep outside any loop. */
#include <event2/event.h>
#include <unistd.h>

static int ticks;
static struct event *ev;

static void tick(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what, (void)arg;
  usleep(1000); /* blocks the loop: a violation */
  if (++ticks == 3) event_del(ev);
}

int main(void) {
  struct event_base *base = event_base_new();
  if (!base) return 1;
  ev = event_new(base, -1, EV_PERSIST, tick, NULL);
  struct timeval tv = {0, 5000};
  event_add(ev, &tv);
  event_base_dispatch(base);
  event_free(ev);
  event_base_free(base);
  usleep(1000); /* the loop is gone: not a violation */
  return 0;
}
