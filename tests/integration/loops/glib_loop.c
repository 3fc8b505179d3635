/* glib_loop.c - a GLib main loop on the default context, as most GLib programs run
 * it: g_main_context_iterate waits in poll() on the context's wakeup eventfd (no
 * epoll).  A repeating timeout source makes one blocking call (usleep) three times. */
#include <glib.h>
#include <unistd.h>

static int ticks;

static gboolean tick(gpointer loop) {
  usleep(1000); /* blocks the loop: a violation */
  if (++ticks < 3) return G_SOURCE_CONTINUE;
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

int main(void) {
  GMainLoop *loop = g_main_loop_new(NULL, FALSE);
  g_timeout_add(5, tick, loop);
  g_main_loop_run(loop);
  g_main_loop_unref(loop);
  return 0;
}
