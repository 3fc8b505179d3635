/* embed.c LIBPYTHON - a C program that embeds CPython the way plugins do: libpython
 * dlopen'ed RTLD_LOCAL after start-up (not in the global scope, not there when the
 * shim started).  Python code then blocks from a known function (t_lang_python.sh). */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv) {
  void *h = argc > 1 ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
  if (!h) {
    puts(argc > 1 ? dlerror() : "usage: embed LIBPYTHON");
    return 1;
  }
  void (*init)(void) = (void (*)(void))dlsym(h, "Py_Initialize");
  int (*run)(const char *) = (int (*)(const char *))dlsym(h, "PyRun_SimpleString");
  if (!init || !run) return 1;
  init();
  return run("import time\n"
             "def embedded_sleep():\n"
             "    time.sleep(0.001)\n"
             "for i in range(3): embedded_sleep()\n") != 0;
}
