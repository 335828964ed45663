/* standalone.c - replay a fuzz corpus without libFuzzer (gcc builds).
 *
 * Runs LLVMFuzzerTestOneInput on every file of the directories given, plus
 * every prefix of each file (truncation is where parsers break), and counts
 * as one test: a failing input aborts the process instead. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    for (size_t len = 0; len <= n; len++) {
        /* a private copy of each prefix, so overreads show under ASan */
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, buf, len);
        LLVMFuzzerTestOneInput(copy, len);
        free(copy);
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "cannot open %s\n", argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (run_file(path) == 0)
                files++;
        }
        closedir(d);
    }
    /* One test: the whole corpus (a failing input aborts before this). */
    printf("replayed %d corpus files, every prefix of each\n", files);
    printf("fuzz corpus replay: %d passed, %d failed\n", files ? 1 : 0, files ? 0 : 1);
    return files ? 0 : 1;
}
