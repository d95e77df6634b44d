/* A library with 2 MiB of static thread-local storage, more than the fast
 * backend's 256 KiB connection-thread stacks hold (glibc puts static TLS
 * inside each thread's stack, and refuses a stack it does not fit):
 * wolfSSL built with its assembly carries 1.4 MB of it. test_fast.py
 * preloads it into berth-serve. */
__thread char berth_test_big_tls[2 << 20];

char *berth_test_big_tls_get(void);
char *berth_test_big_tls_get(void) { return berth_test_big_tls; }
