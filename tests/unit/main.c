#include "test.h"

struct test_case test_cases[MAX_TESTS];
int test_count;

int main(int argc, char **argv)
{
    int passed = 0, failed_total = 0;
    for (int i = 0; i < test_count; i++) {
        if (argc > 1 && !strstr(test_cases[i].name, argv[1]))
            continue;
        int failed = 0;
        test_cases[i].fn(&failed);
        printf("%s %s\n", failed ? "FAIL" : "ok  ", test_cases[i].name);
        if (failed)
            failed_total++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed_total);
    return failed_total ? 1 : 0;
}
