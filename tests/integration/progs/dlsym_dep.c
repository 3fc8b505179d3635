/* dlsym_dep.c - libbgt_dep.so, the dependency of libbgt_read.so (see dlsym_lib.c). */
int bgt_dep_value(void) { return 42; }
