/*
 * producer.c: a Sametime server that only chats, for the kill tests
 * (tests/spi_kill.rs builds and runs it): it loads libimtegrity_stchatlog with dlopen, Inits
 * once, and logs two-way chats on command, printing one line per record the library made
 * durable, so a test that SIGKILLs it (or the gateway) knows which records must arrive.
 *
 * usage: producer LIBRARY_PATH PREFIX
 *
 * stdin, one command per line:
 *   N        log N more messages (chats of 25 messages each), then print "done TOTAL"
 *   r        log messages until the next line arrives (at most RUN_MAX), then "done TOTAL";
 *            that line is then read as the next command
 *   s        nothing (the line that stops an "r"); prints nothing
 *   e        end the open chat, if any, then print "done TOTAL"
 *   q / EOF  end the open chat, Terminate, dlclose, print "bye", exit 0
 *
 * stdout, flushed line by line, each written only after the call returned OK (so after the
 * record was durable in the spool):
 *   S <session id>   stDdaClSessionStarted: a session_start record
 *   M <text>         stDdaClSessionMsg: an im record whose text is <text>
 *   E <session id>   stDdaClSessionEnded: a session_end record
 * Joins of a two-way chat make no record, so they print nothing. Any other result is a
 * failure (strict mode, healthy spool): a FAIL line on stderr and exit 1.
 *
 * Separate from host.c, which checks every entry point's behaviour; this one only produces.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../include/imtegrity_stchatlog.h"

/* Messages per chat: a start and an end record for every 25 message records. */
#define PER_SESSION 25
/* The most one "r" logs, so a test that never says stop still ends. */
#define RUN_MAX 50000

static struct {
    imt_cl_init_fn init;
    imt_cl_void_fn terminate;
    imt_cl_session_fn started, ended;
    imt_cl_joining_fn joining;
    imt_cl_msg_fn msg;
} spi;

/* Kept until Terminate, as the server does (reference §4.2). */
static int ret_code;
static char ret_msg[IMT_CL_STR_LEN];

static const char *prefix;
static long sessions, messages;
static int in_session;
static char sid[128];

static void fail(const char *what, int code) {
    fprintf(stderr, "FAIL producer %s: %s returned %d (retMsg: %s)\n", prefix, what, code, ret_msg);
    exit(1);
}

static void *sym(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "FAIL producer: missing export %s\n", name);
        exit(1);
    }
    return p;
}

static imt_cl_entity user(const char *id) {
    imt_cl_entity e;
    memset(&e, 0, sizeof e);
    strncpy(e.id, id, sizeof e.id - 1);
    e.type = IMT_CL_USER;
    return e;
}

static void start_session(void) {
    snprintf(sid, sizeof sid, "%s-s%ld", prefix, sessions++);
    int rc = spi.started(sid);
    if (rc != IMT_CL_OK) fail("stDdaClSessionStarted", rc);
    printf("S %s\n", sid);
    fflush(stdout);
    imt_cl_entity a = user("alice"), b = user("bob");
    if ((rc = spi.joining(sid, &a, NULL)) != IMT_CL_OK) fail("stDdaClJoiningSession", rc);
    if ((rc = spi.joining(sid, &b, NULL)) != IMT_CL_OK) fail("stDdaClJoiningSession", rc);
    in_session = 1;
}

static void end_session(void) {
    int rc = spi.ended(sid);
    if (rc != IMT_CL_OK) fail("stDdaClSessionEnded", rc);
    printf("E %s\n", sid);
    fflush(stdout);
    in_session = 0;
}

static void message(void) {
    if (!in_session) start_session();
    char text[128];
    int n = snprintf(text, sizeof text, "%s-m%ld", prefix, messages);
    imt_cl_entity a = user("alice"), b = user("bob");
    int rc = spi.msg(sid, &a, (unsigned long)n, text, &b);
    if (rc != IMT_CL_OK) fail("stDdaClSessionMsg", rc);
    printf("M %s\n", text);
    fflush(stdout);
    if (++messages % PER_SESSION == 0) end_session();
}

/* stdin, read with read(2) rather than stdio, so poll(2) sees exactly what is unread. */
static char in_buf[256];
static size_t in_len;

/* Whether a whole line is buffered or readable without blocking. */
static int line_waiting(void) {
    if (memchr(in_buf, '\n', in_len)) return 1;
    struct pollfd p = {.fd = 0, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* The next line, without its newline, into `out`; 0 at end of input. */
static int read_line(char *out, size_t cap) {
    for (;;) {
        char *nl = memchr(in_buf, '\n', in_len);
        if (nl) {
            size_t n = (size_t)(nl - in_buf);
            size_t keep = n < cap - 1 ? n : cap - 1;
            memcpy(out, in_buf, keep);
            out[keep] = 0;
            in_len -= n + 1;
            memmove(in_buf, nl + 1, in_len);
            return 1;
        }
        if (in_len == sizeof in_buf) in_len = 0; /* an over-long line: dropped */
        ssize_t got = read(0, in_buf + in_len, sizeof in_buf - in_len);
        if (got <= 0) return 0;
        in_len += (size_t)got;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIBRARY_PATH PREFIX\n", argv[0]);
        return 2;
    }
    prefix = argv[2];
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "FAIL producer: dlopen: %s\n", dlerror());
        return 1;
    }
    /* dlsym returns data pointers; POSIX guarantees they convert to function pointers. */
    *(void **)&spi.init = sym(lib, "stDdaClInit");
    *(void **)&spi.terminate = sym(lib, "stDdaClTerminate");
    *(void **)&spi.started = sym(lib, "stDdaClSessionStarted");
    *(void **)&spi.ended = sym(lib, "stDdaClSessionEnded");
    *(void **)&spi.joining = sym(lib, "stDdaClJoiningSession");
    *(void **)&spi.msg = sym(lib, "stDdaClSessionMsg");

    int version = IMT_CL_VERSION, inside = 0;
    char dir_type[32], lib_version[32];
    int rc = spi.init(&version, 0, &inside, dir_type, lib_version, &ret_code, ret_msg);
    if (rc != IMT_CL_OK) fail("stDdaClInit", rc);

    char line[64];
    while (read_line(line, sizeof line) && line[0] != 'q') {
        if (line[0] == 's') continue;
        if (line[0] == 'e') {
            if (in_session) end_session();
        } else if (line[0] == 'r') {
            for (long i = 0; i < RUN_MAX && !line_waiting(); i++) message();
        } else {
            long n = strtol(line, NULL, 10);
            for (long i = 0; i < n; i++) message();
        }
        printf("done %ld\n", messages);
        fflush(stdout);
    }
    if (in_session) end_session();
    spi.terminate();
    if (dlclose(lib) != 0) {
        fprintf(stderr, "FAIL producer: dlclose: %s\n", dlerror());
        return 1;
    }
    printf("bye\n");
    fflush(stdout);
    return 0;
}
