// cxx_sleep.cc - a C++ program that blocks from a method in a namespace, a template
// and a lambda: its report must show demangled names (t_lang_native.sh).
#include <unistd.h>

namespace shop {
struct Cart {
  __attribute__((noinline)) void checkout(int n) { usleep(1000 + n); }
};
template <typename T> __attribute__((noinline)) void retry(T fn) { fn(); }
}  // namespace shop

int main() {
  shop::Cart c;
  c.checkout(1);
  shop::retry([] { usleep(1500); });
  return 0;
}
