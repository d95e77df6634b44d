/* The wolfSSL berth compiles against is the one it runs with. Two builds of
 * wolfSSL can sit on one machine (Debian's, and one with assembly from
 * scripts/build-wolfssl.sh, both with the soname libwolfssl.so.35) and their
 * options.h change struct layouts: headers of one with the library of the
 * other is memory corruption. Checks that the headers' version and math
 * settings match the loaded library, that with -Dwolfssl_prefix the library
 * is loaded from that prefix (the rpath works), and that a TLS 1.3 server
 * context can be made. Prints what it found. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/version.h>
#include <wolfssl/wolfcrypt/types.h>

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "FAIL: %s\n", what);
        failed = 1;
    }
}

int main(void)
{
    const char *runtime = wolfSSL_lib_version();
    printf("headers %s, library %s\n", LIBWOLFSSL_VERSION_STRING, runtime);
    check(strcmp(runtime, LIBWOLFSSL_VERSION_STRING) == 0, "header and library versions differ");
    check(CheckCtcSettings(), "header and library math settings differ");

    Dl_info info;
    char loaded[PATH_MAX] = "?";
    if (dladdr((void *)wolfSSL_lib_version, &info) && info.dli_fname)
        check(realpath(info.dli_fname, loaded) != NULL, "realpath of the loaded library");
    printf("loaded %s\n", loaded);
#ifdef BERTH_WOLFSSL_LIBDIR
    char want[PATH_MAX];
    check(realpath(BERTH_WOLFSSL_LIBDIR, want) != NULL, "realpath of " BERTH_WOLFSSL_LIBDIR);
    check(strcmp(dirname(loaded), want) == 0, "library not loaded from " BERTH_WOLFSSL_LIBDIR);
#endif

    printf("assembly:"
#if defined(WOLFSSL_AESNI)
           " WOLFSSL_AESNI"
#endif
#if defined(USE_INTEL_SPEEDUP)
           " USE_INTEL_SPEEDUP"
#endif
#if defined(WOLFSSL_SP_X86_64_ASM)
           " WOLFSSL_SP_X86_64_ASM"
#endif
#if !defined(WOLFSSL_AESNI) && !defined(USE_INTEL_SPEEDUP) && !defined(WOLFSSL_SP_X86_64_ASM)
           " none (Debian's build)"
#endif
           "\n");

    check(wolfSSL_Init() == WOLFSSL_SUCCESS, "wolfSSL_Init");
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
    check(ctx != NULL, "wolfSSL_CTX_new(TLS 1.3 server)");
    wolfSSL_CTX_free(ctx);
    wolfSSL_Cleanup();

    printf("%s\n", failed ? "FAILED" : "ok");
    return failed;
}
