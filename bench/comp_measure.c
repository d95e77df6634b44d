/* bench-comp-measure: what gzip (libdeflate) and brotli cost and gain on
 * given bodies, to choose berth's default level and whether brotli pays.
 *
 *   bench-comp-measure [-n reps] file...
 *
 * For each file: gzip levels 1-9 and brotli qualities 0-6 (window 2^18,
 * the size given as a hint, as a server would compress a whole body),
 * the compressed size and the median time of one compression in
 * microseconds over reps runs (default 2000). Brotli is timed with its
 * one-shot call, which sets up and frees an encoder per body, as a
 * per-response use would; gzip with one compressor per level, reused. */
#include <brotli/encode.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return t[n / 2];
}

int main(int argc, char **argv)
{
    int reps = 2000, first = 1;
    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        reps = atoi(argv[2]);
        first = 3;
    }
    if (first >= argc || reps < 1) {
        fprintf(stderr, "usage: bench-comp-measure [-n reps] file...\n");
        return 2;
    }
    double *t = malloc(sizeof *t * (size_t)reps);
    printf("%-22s %8s %-10s %8s %7s %9s\n", "file", "bytes", "coding", "out", "ratio", "us/body");
    for (int f = first; f < argc; f++) {
        FILE *fp = fopen(argv[f], "rb");
        if (!fp) {
            perror(argv[f]);
            return 1;
        }
        static char in[1 << 20];
        size_t len = fread(in, 1, sizeof in, fp);
        fclose(fp);
        size_t cap = len * 2 + 1024;
        unsigned char *out = malloc(cap);
        const char *name = strrchr(argv[f], '/') ? strrchr(argv[f], '/') + 1 : argv[f];
        for (int level = 1; level <= 9; level++) {
            struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
            size_t n = 0;
            for (int r = 0; r < reps; r++) {
                double t0 = now_us();
                n = libdeflate_gzip_compress(c, in, len, out, cap);
                t[r] = now_us() - t0;
            }
            libdeflate_free_compressor(c);
            printf("%-22s %8zu gzip-%-5d %8zu %7.3f %9.2f\n", name, len, level, n,
                   (double)n / (double)len, median(t, reps));
        }
        for (int q = 0; q <= 6; q++) {
            size_t n = 0;
            for (int r = 0; r < reps; r++) {
                n = cap;
                double t0 = now_us();
                if (!BrotliEncoderCompress(q, 18, BROTLI_MODE_TEXT, len, (const uint8_t *)in, &n,
                                           out))
                    n = 0;
                t[r] = now_us() - t0;
            }
            printf("%-22s %8zu br-%-7d %8zu %7.3f %9.2f\n", name, len, q, n,
                   (double)n / (double)len, median(t, reps));
        }
        free(out);
    }
    free(t);
    return 0;
}
