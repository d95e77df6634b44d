/* A minimal unit-test harness: TEST(name) defines a test, CHECK asserts,
 * main() runs every test and prints "N passed, M failed". */
#ifndef BERTH_TEST_H
#define BERTH_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(int *failed);
struct test_case {
    const char *name;
    test_fn fn;
};

#define MAX_TESTS 512
extern struct test_case test_cases[MAX_TESTS];
extern int test_count;

#define TEST(tname)                                                                            \
    static void test_##tname(int *failed);                                                     \
    __attribute__((constructor)) static void register_##tname(void)                            \
    {                                                                                         \
        test_cases[test_count].name = #tname;                                                  \
        test_cases[test_count++].fn = test_##tname;                                            \
    }                                                                                         \
    static void test_##tname(int *failed)

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);        \
            *failed = 1;                                                                      \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define CHECK_INT(a, b)                                                                       \
    do {                                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                                   \
        if (a_ != b_) {                                                                       \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a,   \
                    a_, b_);                                                                  \
            *failed = 1;                                                                      \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#endif
