/*
 * line_host.c: plays the Sametime server one command at a time, read from stdin, so a test
 * can change the world (fill the disk, make it read-only) between two calls.
 *
 * usage: line_host LIBRARY_PATH
 *
 * Commands, one per line (words separated by single spaces; TEXT is the rest of the line):
 *   init                      stDdaClInit with version 16
 *   start SID                 stDdaClSessionStarted
 *   join SID USER             stDdaClJoiningSession, no scope (two-way)
 *   msg SID FROM TO TEXT      stDdaClSessionMsg
 *   longmsg SID FROM TO N [TAG]  stDdaClSessionMsg with N bytes: TAG (if given), then 'x'
 *                             up to N (longer than a line)
 *   end SID                   stDdaClSessionEnded
 *   timer                     stDdaClTimerEvent
 *   term                      stDdaClTerminate
 *   reload                    dlclose the library and dlopen it again
 *   threads                   prints "threads=N ours=M": the process's thread count, and
 *                             how many of them are the library's own (named imtegrity*)
 * Each prints one line: "rc=<return> sev=<appRetCode> us=<microseconds> nl=<line breaks>
 * msg=<appRetMsg>",
 * flushed, with the retained appRetCode/appRetMsg reset before each call so the line shows
 * what this call wrote (sev=-1: nothing written; newlines in the message become spaces), and
 * us= the call's own duration on a monotonic clock (the library promises a bound on it).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../include/imtegrity_stchatlog.h"

static int ret_code;
static char ret_msg[IMT_CL_STR_LEN];

static imt_cl_entity entity(const char *id) {
    imt_cl_entity e;
    memset(&e, 0, sizeof e);
    strncpy(e.id, id, sizeof e.id - 1);
    e.type = IMT_CL_USER;
    return e;
}

/* The threads this process has now, from /proc/self/task; *ours gets those whose name
 * starts with "imtegrity" (the library's shipper). */
static int thread_count(int *ours) {
    DIR *dir = opendir("/proc/self/task");
    *ours = 0;
    if (!dir) {
        return -1;
    }
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.') {
            continue;
        }
        n++;
        char path[300], name[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", entry->d_name);
        FILE *comm = fopen(path, "r");
        if (comm) {
            if (fgets(name, sizeof name, comm) && strncmp(name, "imtegrity", 9) == 0) {
                (*ours)++;
            }
            fclose(comm);
        }
    }
    closedir(dir);
    return n;
}

/* Microseconds on the monotonic clock. */
static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *sym(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "line_host: missing export %s\n", name);
        exit(2);
    }
    return p;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s LIBRARY_PATH\n", argv[0]);
        return 2;
    }
    void *lib;
    imt_cl_init_fn init;
    imt_cl_void_fn terminate, timer;
    imt_cl_session_fn started, ended;
    imt_cl_joining_fn joining;
    imt_cl_msg_fn msg;
load:
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "line_host: dlopen: %s\n", dlerror());
        return 2;
    }
    /* dlsym returns data pointers; POSIX guarantees they convert to function pointers. */
    *(void **)&init = sym(lib, "stDdaClInit");
    *(void **)&terminate = sym(lib, "stDdaClTerminate");
    *(void **)&timer = sym(lib, "stDdaClTimerEvent");
    *(void **)&started = sym(lib, "stDdaClSessionStarted");
    *(void **)&ended = sym(lib, "stDdaClSessionEnded");
    *(void **)&joining = sym(lib, "stDdaClJoiningSession");
    *(void **)&msg = sym(lib, "stDdaClSessionMsg");

    char line[8192];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *cmd = strtok(line, " ");
        if (!cmd) {
            continue;
        }
        ret_code = -1;
        ret_msg[0] = 0;
        int rc = 0;
        long long call_began = now_us();
        if (strcmp(cmd, "init") == 0) {
            int version = IMT_CL_VERSION, inside = 0;
            char dir_type[32], lib_version[32];
            rc = init(&version, 0, &inside, dir_type, lib_version, &ret_code, ret_msg);
        } else if (strcmp(cmd, "start") == 0) {
            rc = started(strtok(NULL, " "));
        } else if (strcmp(cmd, "join") == 0) {
            char *sid = strtok(NULL, " ");
            imt_cl_entity who = entity(strtok(NULL, " "));
            rc = joining(sid, &who, NULL);
        } else if (strcmp(cmd, "msg") == 0) {
            char *sid = strtok(NULL, " ");
            imt_cl_entity from = entity(strtok(NULL, " "));
            imt_cl_entity to = entity(strtok(NULL, " "));
            char *text = strtok(NULL, "");
            if (!text) {
                text = "";
            }
            rc = msg(sid, &from, strlen(text), text, &to);
        } else if (strcmp(cmd, "longmsg") == 0) {
            char *sid = strtok(NULL, " ");
            imt_cl_entity from = entity(strtok(NULL, " "));
            imt_cl_entity to = entity(strtok(NULL, " "));
            char *count = strtok(NULL, " ");
            char *tag = strtok(NULL, " ");
            size_t n = count ? strtoul(count, NULL, 10) : 0;
            char *text = malloc(n ? n : 1);
            if (!text) {
                fprintf(stderr, "line_host: out of memory\n");
                return 2;
            }
            memset(text, 'x', n);
            if (tag) {
                size_t tag_len = strlen(tag);
                memcpy(text, tag, tag_len < n ? tag_len : n);
            }
            rc = msg(sid, &from, n, text, &to);
            free(text);
        } else if (strcmp(cmd, "end") == 0) {
            rc = ended(strtok(NULL, " "));
        } else if (strcmp(cmd, "timer") == 0) {
            timer();
        } else if (strcmp(cmd, "term") == 0) {
            terminate();
        } else if (strcmp(cmd, "threads") == 0) {
            int ours;
            int all = thread_count(&ours);
            printf("threads=%d ours=%d\n", all, ours);
            fflush(stdout);
            continue;
        } else if (strcmp(cmd, "reload") == 0) {
            if (dlclose(lib) != 0) {
                fprintf(stderr, "line_host: dlclose: %s\n", dlerror());
                return 2;
            }
            printf("rc=0 sev=-1 us=0 nl=0 msg=\n");
            fflush(stdout);
            goto load;
        } else {
            fprintf(stderr, "line_host: unknown command %s\n", cmd);
            return 2;
        }
        /* One answer per line: a multi-line message is flattened here, and counted (nl=), so
         * a test can hold the library to one-line messages. */
        int newlines = 0;
        for (char *c = ret_msg; *c; c++) {
            if (*c == '\n' || *c == '\r') {
                *c = ' ';
                newlines++;
            }
        }
        long long took = now_us() - call_began;
        printf("rc=%d sev=%d us=%lld nl=%d msg=%s\n", rc, ret_code, took, newlines, ret_msg);
        fflush(stdout);
    }
    dlclose(lib);
    return 0;
}
