/* Shared parts of the adversaries; see adv_common.h. */
#include "adv_common.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#ifndef NP_HEADER_PATH
#define NP_HEADER_PATH "../../native-headers/nativepools.h"
#endif

/* ------------------------------------------------------------------ random numbers */

uint64_t adv_next(adv_rng *rng)
{
    uint64_t z = (rng->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t adv_below(adv_rng *rng, uint64_t bound)
{
    return bound <= 1 ? 0 : adv_next(rng) % bound;
}

int adv_chance(adv_rng *rng, unsigned percent)
{
    return adv_below(rng, 100) < percent;
}

/* ------------------------------------------------------------------ documented statuses */

const char *adv_header_path(void)
{
    const char *path = getenv("NP_HEADER");
    return path && *path ? path : NP_HEADER_PATH;
}

static char *read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file) return NULL;
    size_t capacity = 1 << 16, used = 0;
    char *text = malloc(capacity);
    size_t n;
    while (text && (n = fread(text + used, 1, capacity - used - 1, file)) > 0) {
        used += n;
        if (capacity - used < 4096) {
            char *bigger = realloc(text, capacity * 2);
            if (!bigger) {
                free(text);
                text = NULL;
                break;
            }
            text = bigger;
            capacity *= 2;
        }
    }
    fclose(file);
    if (text) text[used] = '\0';
    return text;
}

/* The value of status `name` from the #defines, or 1 (no status) when unknown. */
static int status_value(const adv_docs *docs, const char *name)
{
    for (int i = 0; i < ADV_MAX_STATUS; i++)
        if (docs->status_defined[i] && strcmp(docs->status_names[i], name) == 0) return -i;
    return 1;
}

static void parse_defines(adv_docs *docs, const char *text)
{
    for (const char *p = strstr(text, "#define NP_"); p; p = strstr(p + 1, "#define NP_")) {
        char name[48];
        long value;
        if (sscanf(p, "#define %47s (%ld)", name, &value) == 2 ||
            sscanf(p, "#define %47s %ld", name, &value) == 2) {
            if ((strncmp(name, "NP_E_", 5) == 0 || strcmp(name, "NP_OK") == 0) && value <= 0 &&
                value > -ADV_MAX_STATUS) {
                docs->status_defined[-value] = 1;
                snprintf(docs->status_names[-value], sizeof docs->status_names[0], "%s", name);
            }
        }
    }
}

/* Reads the status tokens and "as np_x()" references of one @return paragraph. */
static void parse_return(adv_docs *docs, adv_doc_fn *fn, const char *begin, const char *end)
{
    for (const char *p = begin; p < end; p++) {
        if (strncmp(p, "NP_OK", 5) == 0 || strncmp(p, "NP_E_", 5) == 0) {
            char name[48];
            size_t n = 0;
            while (p + n < end && n < sizeof name - 1 && (isupper((unsigned char)p[n]) || p[n] == '_'))
                name[n] = p[n], n++;
            name[n] = '\0';
            int value = status_value(docs, name);
            if (value <= 0) fn->documented[-value] = 1;
            p += n - 1;
        } else if ((strncmp(p, "as", 2) == 0 || strncmp(p, "As", 2) == 0) && (p == begin || !isalpha((unsigned char)p[-1])) &&
                   fn->refer_count < 4) {
            /* "as np_other()", possibly wrapped onto the next comment line. */
            const char *q = p + 2;
            while (q < end && (isspace((unsigned char)*q) || *q == '*')) q++;
            if (q == p + 2 || strncmp(q, "np_", 3) != 0) continue;
            size_t n = 0;
            char *out = fn->refers[fn->refer_count];
            while (q + n < end && n < 63 && (islower((unsigned char)q[n]) || isdigit((unsigned char)q[n]) || q[n] == '_'))
                out[n] = q[n], n++;
            out[n] = '\0';
            if (q[n] == '(') fn->refer_count++;
        }
    }
}

int adv_docs_load(adv_docs *docs, const char *path)
{
    memset(docs, 0, sizeof *docs);
    char *text = read_file(path);
    if (!text) {
        fprintf(stderr, "cannot read the header %s: %s\n", path, strerror(errno));
        return -1;
    }
    parse_defines(docs, text);
    /* Each doc comment "/ * * ... * /" followed by "np_status np_name(" documents that function. */
    for (char *open = strstr(text, "/**"); open; open = strstr(open + 3, "/**")) {
        char *close = strstr(open, "*/");
        if (!close) break;
        char *decl = close + 2;
        while (isspace((unsigned char)*decl)) decl++;
        if (strncmp(decl, "np_status np_", 13) != 0) continue;
        if (docs->fn_count == (int)(sizeof docs->fns / sizeof docs->fns[0])) break;
        adv_doc_fn *fn = &docs->fns[docs->fn_count++];
        const char *name = decl + 10;
        size_t n = 0;
        while (n < sizeof fn->name - 1 && name[n] != '(' && !isspace((unsigned char)name[n])) fn->name[n] = name[n], n++;
        fn->name[n] = '\0';
        char *ret = strstr(open, "@return");
        if (!ret || ret > close) continue;
        /* The paragraph ends at the next tag or at the end of the comment. */
        char *end = strstr(ret + 7, "@");
        if (!end || end > close) end = close;
        parse_return(docs, fn, ret + 7, end);
    }
    /* "as np_x()" takes in everything np_x documents (to a fixed point, for chains). */
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < docs->fn_count; i++)
            for (int r = 0; r < docs->fns[i].refer_count; r++) {
                const adv_doc_fn *other = adv_docs_find(docs, docs->fns[i].refers[r]);
                if (!other) continue;
                for (int s = 0; s < ADV_MAX_STATUS; s++)
                    if (other->documented[s]) docs->fns[i].documented[s] = 1;
            }
    free(text);
    if (docs->fn_count == 0 || !docs->status_defined[0]) {
        fprintf(stderr, "the header %s documents no np_status function\n", path);
        return -1;
    }
    return 0;
}

const adv_doc_fn *adv_docs_find(const adv_docs *docs, const char *name)
{
    for (int i = 0; i < docs->fn_count; i++)
        if (strcmp(docs->fns[i].name, name) == 0) return &docs->fns[i];
    return NULL;
}

int adv_documented(const adv_doc_fn *fn, np_status status)
{
    return status <= 0 && status > -ADV_MAX_STATUS && fn->documented[-status];
}

void adv_documented_text(const adv_docs *docs, const adv_doc_fn *fn, char *buffer, size_t capacity)
{
    size_t used = 0;
    buffer[0] = '\0';
    for (int s = 0; s < ADV_MAX_STATUS && used < capacity; s++)
        if (fn->documented[s])
            used += (size_t)snprintf(buffer + used, capacity - used, "%s%s", used ? " " : "", docs->status_names[s]);
}

/* ------------------------------------------------------------------ time */

double adv_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

void adv_sleep_us(unsigned microseconds)
{
    struct timespec pause = {(time_t)(microseconds / 1000000), (long)(microseconds % 1000000) * 1000L};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------ /proc/self */

long adv_rss_kib(void)
{
    FILE *file = fopen("/proc/self/statm", "r");
    if (!file) return -1;
    long size = 0, resident = -1;
    if (fscanf(file, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(file);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

long adv_open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    long count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.') count++;
    closedir(dir);
    return count - 1; /* the directory's own descriptor */
}

long adv_threads(void)
{
    FILE *file = fopen("/proc/self/status", "r");
    if (!file) return -1;
    char line[256];
    long threads = -1;
    while (fgets(line, sizeof line, file))
        if (sscanf(line, "Threads: %ld", &threads) == 1) break;
    fclose(file);
    return threads;
}

/* ------------------------------------------------------------------ child processes */

int adv_run_child(char *const argv[], double seconds, int *hung)
{
    *hung = 0;
    fflush(stdout);
    fflush(stderr);
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
    if (rc != 0) {
        fprintf(stderr, "posix_spawn: %s\n", strerror(rc));
        return -2;
    }
    double deadline = adv_now() + seconds;
    int status;
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) return -2;
        if (adv_now() > deadline) {
            kill(pid, SIGABRT); /* a core or a runtime stack dump says where it hung */
            adv_sleep_us(2000000);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            *hung = 1;
            return -1;
        }
        adv_sleep_us(20000);
    }
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

int adv_full_size(void)
{
    const char *stress = getenv("NP_STRESS");
    return stress && strcmp(stress, "full") == 0;
}

void adv_stamp_write(uint8_t *block, size_t size, uint64_t stamp)
{
    memcpy(block, &stamp, size < 8 ? size : 8);
    if (size >= 16) memcpy(block + size - 8, &stamp, 8);
}

int adv_stamp_intact(const uint8_t *block, size_t size, uint64_t stamp)
{
    if (memcmp(block, &stamp, size < 8 ? size : 8) != 0) return 0;
    return size < 16 || memcmp(block + size - 8, &stamp, 8) == 0;
}
