/*
 * host.c: plays the Sametime server against libimtegrity_stchatlog (spi/tests/c_host.rs
 * builds and runs it, natively and under valgrind, then checks the spool).
 *
 * usage: host LIBRARY_PATH
 *        host LIBRARY_PATH policy POLICY_FILE
 *
 * Loads the library with dlopen three times. The first cycle negotiates the version
 * (16 accepted, 12 refused), runs a two-way chat, an n-way place, an announcement, data
 * messages with binary content, parameter rejection, four threads at once, and terminates
 * with a session still open; the next two cycles init with version 17, log one short chat
 * each and terminate. Every input is in heap memory that is overwritten with 0xA5 and freed
 * right after the call, so a library that kept a pointer to it would log garbage (and
 * valgrind would say so). Exits 0 when every check held, else prints FAIL lines, exits 1.
 *
 * With "policy", one cycle plays the server against the policy spi/tests/policy_host.rs
 * configured (IMTEGRITY_SPI_CONFIG): a declined pair, a disclaimer to both parties of an
 * outsider chat, a blocked and a masked message, a place join disclaimed and one declined,
 * then POLICY_FILE rewritten (broken: a warning, the old policy stays; then fixed: the new
 * one applies at the next timer). Every server message is validated (type, destination,
 * NUL, length) and cleaned exactly once; a double clean, a wrong count and a foreign pointer
 * are refused; one array is left for Terminate to free.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../include/imtegrity_stchatlog.h"

_Static_assert(sizeof(imt_cl_entity) == 260, "entity layout");

static int failures;

#define CHECK(cond, ...)                                            \
    do {                                                            \
        if (!(cond)) {                                              \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);    \
            fprintf(stderr, __VA_ARGS__);                           \
            fprintf(stderr, "\n");                                  \
            __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);     \
        }                                                           \
    } while (0)

#define EXPECT(call, want)                                                    \
    do {                                                                      \
        int got_ = (call);                                                    \
        CHECK(got_ == (want), "%s returned %d, want %d (retMsg: %s)", #call, got_, (want), ret.msg); \
        poison();                                                             \
    } while (0)

/* ---- inputs that live exactly as long as one call ---- */

#define ARENA_MAX 32
static _Thread_local void *arena[ARENA_MAX];
static _Thread_local size_t arena_len[ARENA_MAX];
static _Thread_local int arena_n;

static void *hold(size_t len) {
    void *p = malloc(len ? len : 1);
    if (!p || arena_n == ARENA_MAX) {
        fprintf(stderr, "host: out of memory\n");
        exit(2);
    }
    arena[arena_n] = p;
    arena_len[arena_n++] = len;
    return p;
}

/* Overwrites and frees every input of the call just made. */
static void poison(void) {
    for (int i = 0; i < arena_n; i++) {
        memset(arena[i], 0xA5, arena_len[i]);
        free(arena[i]);
    }
    arena_n = 0;
}

static const char *str(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(hold(n), s, n);
}

static const char *bytes(const void *b, size_t n) { return memcpy(hold(n), b, n); }

static const imt_cl_entity *ent(const char *id, int type) {
    imt_cl_entity *e = hold(sizeof *e);
    memset(e, 0, sizeof *e);
    strncpy(e->id, id, sizeof e->id - 1);
    e->type = type;
    return e;
}

static const imt_cl_entity *user(const char *id) { return ent(id, IMT_CL_USER); }
static const imt_cl_entity *place(void) { return ent("PLACE", IMT_CL_SESSION); }

/* ---- the library's entry points ---- */

static struct {
    imt_cl_init_fn init;
    imt_cl_void_fn terminate, timer;
    imt_cl_session_fn started, ended;
    imt_cl_session_org_fn started_org;
    imt_cl_joining_fn joining;
    imt_cl_leaving_fn leaving;
    imt_cl_msg_fn msg;
    imt_cl_data_fn data;
    imt_cl_policy_fn policy;
    imt_cl_joining_srv_fn joining_srv;
    imt_cl_leaving_srv_fn leaving_srv;
    imt_cl_msg_srv_fn msg_srv;
    imt_cl_data_srv_fn data_srv;
    imt_cl_clean_fn clean;
} spi;

static void *sym(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    CHECK(p != NULL, "missing export %s", name);
    return p;
}

static int resolve(void *lib) {
    int before = failures;
    /* dlsym returns data pointers; POSIX guarantees they convert to function pointers. */
    *(void **)&spi.init = sym(lib, "stDdaClInit");
    *(void **)&spi.terminate = sym(lib, "stDdaClTerminate");
    *(void **)&spi.timer = sym(lib, "stDdaClTimerEvent");
    *(void **)&spi.started = sym(lib, "stDdaClSessionStarted");
    *(void **)&spi.started_org = sym(lib, "stDdaClSessionStartedByOrgName");
    *(void **)&spi.ended = sym(lib, "stDdaClSessionEnded");
    *(void **)&spi.joining = sym(lib, "stDdaClJoiningSession");
    *(void **)&spi.leaving = sym(lib, "stDdaClLeavingSession");
    *(void **)&spi.msg = sym(lib, "stDdaClSessionMsg");
    *(void **)&spi.data = sym(lib, "stDdaClSessionDataMsg");
    *(void **)&spi.policy = sym(lib, "stDdaClSessionPolicycheckFunc");
    *(void **)&spi.joining_srv = sym(lib, "stDdaClJoiningSessionWithSrvMsg");
    *(void **)&spi.leaving_srv = sym(lib, "stDdaClLeavingSessionWithSrvMsg");
    *(void **)&spi.msg_srv = sym(lib, "stDdaClSessionMsgWithSrvMsg");
    *(void **)&spi.data_srv = sym(lib, "stDdaClSessionDataMsgWithSrvMsg");
    *(void **)&spi.clean = sym(lib, "stDdaClCleanSrvMsgs");
    return failures == before;
}

/* ---- appRetCode / appRetMsg: kept by the library from Init to Terminate ---- */

#define GUARD 0x5A
static struct {
    unsigned char before[64];
    int code;
    char msg[IMT_CL_STR_LEN];
    unsigned char after[64];
} ret;

static void guards_set(void) {
    memset(ret.before, GUARD, sizeof ret.before);
    memset(ret.after, GUARD, sizeof ret.after);
}

static void guards_check(void) {
    for (size_t i = 0; i < sizeof ret.before; i++) {
        CHECK(ret.before[i] == GUARD && ret.after[i] == GUARD, "retCode/retMsg guard %zu hit", i);
    }
    CHECK(memchr(ret.msg, 0, sizeof ret.msg) != NULL, "retMsg not NUL-terminated");
}

static int init(int *version, int outside, int *inside, char *dir_type, char *lib_version) {
    return spi.init(version, outside, inside, dir_type, lib_version, &ret.code, ret.msg);
}

/* A server-message out-pair, set to garbage so we see the library reset it. */
#define SRV_OUT                                   \
    imt_cl_srv_msg *sm = (imt_cl_srv_msg *)&ret;  \
    unsigned long sn = 77
#define SRV_NONE() CHECK(sm == NULL && sn == 0, "server messages returned: %p %lu", (void *)sm, sn)

static const unsigned char RICH_EE[17] = {0, 4, 'd', 'a', 't', 'a', 0, 8, 'r', 'i', 'c', 'h', 't', 'e', 'x', 't', 0xEE};
static const unsigned char IMAGE[21] = {0, 4, 'd', 'a', 't', 'a', 0, 5, 'i', 'm', 'a', 'g', 'e',
                                        0x89, 'P', 'N', 'G', 0, 0, 0, 0x0d};

static void two_way(void) {
    SRV_OUT;
    EXPECT(spi.policy(user("alice"), user("bob"), &sm, &sn), IMT_CL_OK);
    SRV_NONE();
    EXPECT(spi.started(str("2way-1")), IMT_CL_OK);
    sm = (imt_cl_srv_msg *)&ret;
    EXPECT(spi.joining_srv(str("2way-1"), user("alice"), NULL, &sm, &sn), IMT_CL_OK);
    SRV_NONE();
    EXPECT(spi.joining(str("2way-1"), user("bob"), NULL), IMT_CL_OK);
    EXPECT(spi.data_srv(str("2way-1"), user("alice"), 27191, 0, 17, bytes(RICH_EE, 17), user("bob"), &sm, &sn),
           IMT_CL_OK);
    EXPECT(spi.data(str("2way-1"), user("bob"), 27191, 0, 17, bytes(RICH_EE, 17), user("alice")), IMT_CL_OK);
    EXPECT(spi.msg_srv(str("2way-1"), user("alice"), 9, str("Hello Bob"), user("bob"), &sm, &sn), IMT_CL_OK);
    SRV_NONE();
    const char *html = "<span style=\"color:red\">Hi <b>Alice</b></span>";
    EXPECT(spi.msg(str("2way-1"), user("bob"), strlen(html), str(html), user("alice")), IMT_CL_OK);
    EXPECT(spi.data(str("2way-1"), user("alice"), 1, 0, 0, NULL, user("bob")), IMT_CL_OK);
    EXPECT(spi.data(str("2way-1"), user("alice"), 27191, 0, sizeof IMAGE, bytes(IMAGE, sizeof IMAGE), user("bob")),
           IMT_CL_OK);
    /* Latin-1 bytes and a NUL inside the length: kept, with the exact bytes in hex. */
    EXPECT(spi.msg(str("2way-1"), user("alice"), 6, bytes("caf\xe9\0!", 6), user("bob")), IMT_CL_OK);
    EXPECT(spi.leaving_srv(str("2way-1"), user("alice"), &sm, &sn), IMT_CL_OK);
    EXPECT(spi.leaving(str("2way-1"), user("bob")), IMT_CL_OK);
    EXPECT(spi.ended(str("2way-1")), IMT_CL_OK);
}

static void sessions_misused(void) {
    EXPECT(spi.started(str("2way-dup")), IMT_CL_OK);
    EXPECT(spi.started(str("2way-dup")), IMT_CL_INVALID_PARAM);
    EXPECT(spi.ended(str("2way-dup")), IMT_CL_OK);
    EXPECT(spi.ended(str("2way-dup")), IMT_CL_INVALID_PARAM);
    ret.code = -1;
    EXPECT(spi.msg(str("no-such-session"), user("alice"), 1, str("x"), NULL), IMT_CL_INVALID_PARAM);
    CHECK(ret.code == IMT_CL_SEVERITY_ERROR, "retCode after an unknown session: %d", ret.code);
    CHECK(strstr(ret.msg, "does not exist") != NULL, "retMsg: %s", ret.msg);
}

static void n_way(void) {
    EXPECT(spi.started_org(str("place-1"), str("Acme")), IMT_CL_OK);
    EXPECT(spi.joining(str("place-1"), user("alice"), place()), IMT_CL_OK);
    EXPECT(spi.joining(str("place-1"), user("bob"), place()), IMT_CL_OK);
    SRV_OUT;
    EXPECT(spi.joining_srv(str("place-1"), user("carol"), place(), &sm, &sn), IMT_CL_OK);
    SRV_NONE();
    EXPECT(spi.msg(str("place-1"), user("alice"), 10, str("Hello room"), NULL), IMT_CL_OK);
    EXPECT(spi.msg(str("place-1"), user("bob"), 4, str("psst"), user("carol")), IMT_CL_OK);
    EXPECT(spi.leaving(str("place-1"), user("carol")), IMT_CL_OK);
    EXPECT(spi.ended(str("place-1")), IMT_CL_OK);
}

static void announcement(void) {
    EXPECT(spi.started(str("ANNOUNCE_42")), IMT_CL_OK);
    EXPECT(spi.joining(str("ANNOUNCE_42"), user("admin"), NULL), IMT_CL_OK);
    EXPECT(spi.joining(str("ANNOUNCE_42"), user("alice"), NULL), IMT_CL_OK);
    EXPECT(spi.joining(str("ANNOUNCE_42"), user("bob"), NULL), IMT_CL_OK);
    EXPECT(spi.msg(str("ANNOUNCE_42"), user("admin"), 15, str("Fire drill at 3"), NULL), IMT_CL_OK);
    EXPECT(spi.ended(str("ANNOUNCE_42")), IMT_CL_OK);
}

static void big_message(void) {
    size_t n = 200 * 1024;
    char *text = hold(n);
    memset(text, 'z', n);
    EXPECT(spi.started(str("big")), IMT_CL_OK);
    EXPECT(spi.joining(str("big"), user("alice"), NULL), IMT_CL_OK);
    EXPECT(spi.joining(str("big"), user("bob"), NULL), IMT_CL_OK);
    text = hold(n);
    memset(text, 'z', n);
    EXPECT(spi.msg(str("big"), user("alice"), n, text, user("bob")), IMT_CL_OK);
    EXPECT(spi.ended(str("big")), IMT_CL_OK);
}

static void bad_parameters(void) {
    EXPECT(spi.started(NULL), IMT_CL_INVALID_PARAM);
    EXPECT(spi.started_org(str("org-null"), NULL), IMT_CL_INVALID_PARAM);
    char *long_id = hold(2000);
    memset(long_id, 's', 1999);
    long_id[1999] = 0;
    EXPECT(spi.started(long_id), IMT_CL_INVALID_PARAM);
    EXPECT(spi.joining(str("nosuch"), NULL, NULL), IMT_CL_INVALID_PARAM);
    imt_cl_entity *unterminated = hold(sizeof *unterminated);
    memset(unterminated->id, 'x', sizeof unterminated->id);
    unterminated->type = IMT_CL_USER;
    EXPECT(spi.joining(str("nosuch"), unterminated, NULL), IMT_CL_INVALID_PARAM);
    EXPECT(spi.joining(str("nosuch"), ent("alice", 99), NULL), IMT_CL_INVALID_PARAM);
    EXPECT(spi.joining(str("nosuch"), ent("", IMT_CL_USER), NULL), IMT_CL_INVALID_PARAM);
    EXPECT(spi.leaving(str("nosuch"), NULL), IMT_CL_INVALID_PARAM);
    EXPECT(spi.msg(str("nosuch"), NULL, 1, str("x"), NULL), IMT_CL_INVALID_PARAM);
    EXPECT(spi.msg(str("nosuch"), user("alice"), 5, NULL, user("bob")), IMT_CL_INVALID_PARAM);
    size_t too_long = (1u << 20) + 1;
    char *huge = hold(too_long);
    memset(huge, 'h', too_long);
    EXPECT(spi.msg(str("nosuch"), user("alice"), too_long, huge, user("bob")), IMT_CL_INVALID_PARAM);
    /* Refused on the length alone: nothing is read. */
    EXPECT(spi.data(str("nosuch"), user("alice"), 27191, 0, (16ul << 20) + 1, NULL, NULL), IMT_CL_INVALID_PARAM);
    SRV_OUT;
    EXPECT(spi.policy(NULL, user("bob"), &sm, &sn), IMT_CL_INVALID_PARAM);
    EXPECT(spi.clean(NULL, 0), IMT_CL_OK);
    imt_cl_srv_msg not_ours = {0, 0, 0, NULL};
    EXPECT(spi.clean(&not_ours, 1), IMT_CL_INVALID_PARAM);
}

#define THREADS 4
#define SESSIONS_PER_THREAD 10

static void *chatter(void *arg) {
    int t = (int)(long)arg;
    for (int j = 0; j < SESSIONS_PER_THREAD; j++) {
        char sid[32], a[32], b[32];
        snprintf(sid, sizeof sid, "t%d-%d", t, j);
        snprintf(a, sizeof a, "user%da", t);
        snprintf(b, sizeof b, "user%db", t);
        SRV_OUT;
        EXPECT(spi.started(str(sid)), IMT_CL_OK);
        EXPECT(spi.joining_srv(str(sid), user(a), NULL, &sm, &sn), IMT_CL_OK);
        EXPECT(spi.joining_srv(str(sid), user(b), NULL, &sm, &sn), IMT_CL_OK);
        EXPECT(spi.msg_srv(str(sid), user(a), 5, str("first"), user(b), &sm, &sn), IMT_CL_OK);
        EXPECT(spi.data(str(sid), user(b), 1, 0, 0, NULL, user(a)), IMT_CL_OK);
        EXPECT(spi.msg(str(sid), user(b), 6, str("second"), user(a)), IMT_CL_OK);
        EXPECT(spi.leaving(str(sid), user(a)), IMT_CL_OK);
        EXPECT(spi.leaving(str(sid), user(b)), IMT_CL_OK);
        EXPECT(spi.ended(str(sid)), IMT_CL_OK);
        spi.timer();
    }
    return NULL;
}

static void threads(void) {
    pthread_t tid[THREADS];
    for (long t = 0; t < THREADS; t++) {
        CHECK(pthread_create(&tid[t], NULL, chatter, (void *)t) == 0, "pthread_create");
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(tid[t], NULL);
    }
}

static void first_cycle(void) {
    EXPECT(spi.started(str("before-init")), IMT_CL_INTERNAL_ERROR);

    int version = 12, inside = -1;
    char dir_type[32] = "", lib_version[32] = "";
    EXPECT(init(&version, 0, &inside, dir_type, lib_version), IMT_CL_VERSION_MISMATCH);
    CHECK(ret.code == IMT_CL_SEVERITY_ERROR && strstr(ret.msg, "older") != NULL,
          "version 12: retCode %d, retMsg %s", ret.code, ret.msg);
    EXPECT(init(NULL, 0, &inside, dir_type, lib_version), IMT_CL_INVALID_PARAM);

    version = 16;
    EXPECT(init(&version, 0x0002, &inside, dir_type, lib_version), IMT_CL_OK);
    CHECK(version == IMT_CL_VERSION, "version written back: %d", version);
    CHECK((inside & 0x0002) == 0x0002, "initializedInside %#x lacks outside bits", inside);
    CHECK(strcmp(dir_type, "imtegrity") == 0, "dirType %s", dir_type);
    CHECK(lib_version[0] != 0, "libVersion empty");
    CHECK(ret.code == IMT_CL_SEVERITY_OK, "retCode after init %d", ret.code);

    two_way();
    sessions_misused();
    n_way();
    announcement();
    big_message();
    bad_parameters();
    threads();
    for (int i = 0; i < 5; i++) {
        spi.timer();
    }

    /* Left open: Terminate must end it with a record of its own. */
    EXPECT(spi.started(str("open-at-term")), IMT_CL_OK);
    EXPECT(spi.joining(str("open-at-term"), user("alice"), NULL), IMT_CL_OK);
    EXPECT(spi.joining(str("open-at-term"), user("bob"), NULL), IMT_CL_OK);
    EXPECT(spi.msg(str("open-at-term"), user("alice"), 4, str("bye?"), user("bob")), IMT_CL_OK);
    spi.terminate();
    spi.terminate();
    EXPECT(spi.started(str("after-terminate")), IMT_CL_INTERNAL_ERROR);
}

static void later_cycle(int cycle) {
    int version = 17, inside = -1;
    char dir_type[32], lib_version[32];
    EXPECT(init(&version, 0, &inside, dir_type, lib_version), IMT_CL_OK);
    CHECK(version == IMT_CL_VERSION, "version 17 answered with %d", version);
    char sid[32], text[32];
    snprintf(sid, sizeof sid, "cycle-%d", cycle);
    snprintf(text, sizeof text, "cycle %d", cycle);
    EXPECT(spi.started(str(sid)), IMT_CL_OK);
    EXPECT(spi.joining(str(sid), user("alice"), NULL), IMT_CL_OK);
    EXPECT(spi.joining(str(sid), user("bob"), NULL), IMT_CL_OK);
    EXPECT(spi.msg(str(sid), user("alice"), strlen(text), str(text), user("bob")), IMT_CL_OK);
    EXPECT(spi.ended(str(sid)), IMT_CL_OK);
    spi.terminate();
}


/* ---- policy: server messages ---- */

typedef struct {
    int destination;
    const char *contains;
} want_msg;

/* Checks the server messages a call returned against `want` (each text must contain its
 * string), validates every field as a server must before showing them, then cleans them
 * exactly once. */
static void expect_srv(const char *what, imt_cl_srv_msg *sm, unsigned long sn, const want_msg *want,
                       unsigned long n) {
    CHECK(sn == n, "%s: %lu server messages, want %lu", what, sn, n);
    CHECK((sm == NULL) == (sn == 0), "%s: pointer %p with count %lu", what, (void *)sm, sn);
    for (unsigned long i = 0; sm && i < sn; i++) {
        imt_cl_srv_msg *m = &sm[i];
        CHECK(m->type >= IMT_CL_TEXT_MSG && m->type <= IMT_CL_SRV_MSG, "%s[%lu]: type %d", what, i, m->type);
        CHECK(m->destination == IMT_CL_TO_SENDER || m->destination == IMT_CL_TO_RECEIVER,
              "%s[%lu]: destination %d", what, i, m->destination);
        CHECK(m->msg != NULL, "%s[%lu]: msg NULL", what, i);
        if (!m->msg) {
            continue;
        }
        CHECK(m->msg[m->len] == 0 && strlen(m->msg) == m->len, "%s[%lu]: msgLen %lu, strlen %zu", what, i,
              m->len, strlen(m->msg));
        if (i < n) {
            CHECK(m->destination == want[i].destination, "%s[%lu]: destination %d, want %d", what, i,
                  m->destination, want[i].destination);
            CHECK(strstr(m->msg, want[i].contains) != NULL, "%s[%lu]: %s lacks %s", what, i, m->msg,
                  want[i].contains);
        }
    }
    if (sm) {
        CHECK(spi.clean(sm, sn) == IMT_CL_OK, "%s: clean refused: %s", what, ret.msg);
    }
}

#define RESET() (sm = NULL, sn = 0)
#define DECLINED IMT_CL_SESSION_CREATION_DECLINED_DEFAULT
#define CHANGED IMT_CL_MSG_CHANGED_DEFAULT
#define DISCLAIMER "This chat is recorded"

static const imt_cl_entity *outsider(const char *id) { return ent(id, IMT_CL_EXTERNAL_USER); }

static void policy_checks(void) {
    imt_cl_srv_msg *sm;
    unsigned long sn;
    RESET();
    EXPECT(spi.policy(user("alice"), outsider("rival.bob@other"), &sm, &sn), DECLINED);
    expect_srv("rival", sm, sn, (want_msg[]){{IMT_CL_TO_SENDER, "rivals are off limits"}}, 1);
    RESET();
    EXPECT(spi.policy(user("alice"), user("mallory"), &sm, &sn), DECLINED);
    expect_srv("unregistered", sm, sn, (want_msg[]){{IMT_CL_TO_SENDER, "mallory is not registered"}}, 1);
    RESET();
    EXPECT(spi.policy(user("alice"), outsider("partner@ext"), &sm, &sn), IMT_CL_OK);
    expect_srv("allowed", sm, sn, NULL, 0);

    /* Not cleaned before the next call: that call appends to it; one clean frees both. */
    RESET();
    EXPECT(spi.policy(outsider("rival.bob@other"), user("bob"), &sm, &sn), DECLINED);
    EXPECT(spi.policy(outsider("rival.bob@other"), user("carol"), &sm, &sn), DECLINED);
    expect_srv("appended", sm, sn,
               (want_msg[]){{IMT_CL_TO_SENDER, "rivals"}, {IMT_CL_TO_SENDER, "rivals"}}, 2);
    /* Cleaned already: refused, nothing freed twice. */
    EXPECT(spi.clean(sm, sn), IMT_CL_INVALID_PARAM);

    /* A wrong count is refused; the right one then frees it. */
    RESET();
    EXPECT(spi.policy(user("alice"), outsider("rival.x@other"), &sm, &sn), DECLINED);
    EXPECT(spi.clean(sm, sn + 1), IMT_CL_INVALID_PARAM);
    EXPECT(spi.clean(sm + 0, 0), IMT_CL_INVALID_PARAM);
    EXPECT(spi.clean(sm, sn), IMT_CL_OK);
    imt_cl_srv_msg foreign = {IMT_CL_TEXT_MSG, IMT_CL_TO_SENDER, 1, "x"};
    EXPECT(spi.clean(&foreign, 1), IMT_CL_INVALID_PARAM);

    /* Without out-pointers a refusal still refuses. */
    EXPECT(spi.policy(user("alice"), user("mallory"), NULL, NULL), DECLINED);
}

static void policy_two_way(void) {
    imt_cl_srv_msg *sm;
    unsigned long sn;
    EXPECT(spi.started(str("pol-2way")), IMT_CL_OK);
    RESET();
    EXPECT(spi.joining_srv(str("pol-2way"), user("alice"), NULL, &sm, &sn), IMT_CL_OK);
    expect_srv("join alice", sm, sn, NULL, 0);
    EXPECT(spi.joining_srv(str("pol-2way"), outsider("partner@ext"), NULL, &sm, &sn), IMT_CL_OK);
    expect_srv("join partner", sm, sn, NULL, 0);

    RESET();
    EXPECT(spi.msg_srv(str("pol-2way"), user("alice"), 13, str("Hello partner"), outsider("partner@ext"), &sm, &sn),
           CHANGED);
    expect_srv("first message", sm, sn,
               (want_msg[]){{IMT_CL_TO_SENDER, DISCLAIMER},
                            {IMT_CL_TO_RECEIVER, DISCLAIMER},
                            {IMT_CL_TO_RECEIVER, "Hello partner"}},
               3);
    RESET();
    EXPECT(spi.msg_srv(str("pol-2way"), outsider("partner@ext"), 9, str("and again"), user("alice"), &sm, &sn),
           IMT_CL_OK);
    expect_srv("second message", sm, sn, NULL, 0);

    RESET();
    EXPECT(spi.msg_srv(str("pol-2way"), user("alice"), 15, str("the secret plan"), outsider("partner@ext"), &sm,
                       &sn),
           CHANGED);
    expect_srv("blocked", sm, sn, (want_msg[]){{IMT_CL_TO_SENDER, "Not delivered"}}, 1);

    RESET();
    EXPECT(spi.msg_srv(str("pol-2way"), outsider("partner@ext"), 14, str("card 1234-5678"), user("alice"), &sm,
                       &sn),
           CHANGED);
    expect_srv("masked", sm, sn, (want_msg[]){{IMT_CL_TO_RECEIVER, "card *********"}}, 1);

    /* No out-pointers: a blocked message is still not delivered, with no notice. */
    EXPECT(spi.msg(str("pol-2way"), user("alice"), 12, str("secret again"), outsider("partner@ext")), CHANGED);

    /* Left for Terminate to free (valgrind: no definite leak). */
    RESET();
    EXPECT(spi.policy(user("alice"), outsider("rival.y@other"), &sm, &sn), DECLINED);
    CHECK(sn == 1, "left for terminate: %lu", sn);
    EXPECT(spi.ended(str("pol-2way")), IMT_CL_OK);
}

static void policy_place(void) {
    imt_cl_srv_msg *sm;
    unsigned long sn;
    EXPECT(spi.started(str("pol-place")), IMT_CL_OK);
    RESET();
    EXPECT(spi.joining_srv(str("pol-place"), user("alice"), place(), &sm, &sn), IMT_CL_OK);
    expect_srv("place alice", sm, sn, NULL, 0);
    EXPECT(spi.joining_srv(str("pol-place"), outsider("partner@ext"), place(), &sm, &sn), CHANGED);
    expect_srv("place partner", sm, sn, (want_msg[]){{IMT_CL_TO_SENDER, DISCLAIMER}}, 1);
    RESET();
    EXPECT(spi.joining_srv(str("pol-place"), user("mallory"), place(), &sm, &sn), DECLINED);
    expect_srv("place mallory", sm, sn, (want_msg[]){{IMT_CL_TO_RECEIVER, "mallory is not registered"}}, 1);
    EXPECT(spi.ended(str("pol-place")), IMT_CL_OK);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* The policy file changes under the running library: the timer re-reads it. */
static void policy_reload(const char *policy_file) {
    imt_cl_srv_msg *sm;
    unsigned long sn;
    write_file(policy_file, "[policy]\nunknown_screen_names = \"maybe\"\n");
    ret.code = -1;
    spi.timer();
    CHECK(ret.code == IMT_CL_SEVERITY_WARNING, "broken reload: retCode %d", ret.code);
    CHECK(strstr(ret.msg, "not reloaded") != NULL && strstr(ret.msg, "unknown_screen_names") != NULL,
          "broken reload: retMsg %s", ret.msg);
    EXPECT(spi.policy(user("alice"), user("mallory"), NULL, NULL), DECLINED);

    write_file(policy_file, "# no rules now\n[policy]\n");
    spi.timer();
    EXPECT(spi.started(str("pol-reloaded")), IMT_CL_OK);
    EXPECT(spi.joining(str("pol-reloaded"), user("alice"), NULL), IMT_CL_OK);
    EXPECT(spi.joining(str("pol-reloaded"), user("mallory"), NULL), IMT_CL_OK);
    RESET();
    EXPECT(spi.msg_srv(str("pol-reloaded"), user("alice"), 6, str("secret"), user("mallory"), &sm, &sn), IMT_CL_OK);
    expect_srv("after reload", sm, sn, NULL, 0);
    EXPECT(spi.ended(str("pol-reloaded")), IMT_CL_OK);
}

static void policy_cycle(const char *policy_file) {
    int version = 16, inside = -1;
    char dir_type[32], lib_version[32];
    EXPECT(init(&version, 0, &inside, dir_type, lib_version), IMT_CL_OK);
    policy_checks();
    policy_two_way();
    policy_place();
    policy_reload(policy_file);
    spi.terminate();
}

/* A policy file that does not compile: Init fails and says where. */
static void broken_policy_cycle(void) {
    int version = 16, inside = -1;
    char dir_type[32], lib_version[32];
    EXPECT(init(&version, 0, &inside, dir_type, lib_version), IMT_CL_INTERNAL_ERROR);
    CHECK(strstr(ret.msg, "policy.toml:") != NULL && strstr(ret.msg, "actoin") != NULL, "retMsg %s", ret.msg);
    printf("host: init said: %s\n", ret.msg);
}

int main(int argc, char **argv) {
    int policy = argc == 4 && strcmp(argv[2], "policy") == 0;
    int broken = argc == 3 && strcmp(argv[2], "broken-policy") == 0;
    if (argc != 2 && !policy && !broken) {
        fprintf(stderr, "usage: %s LIBRARY_PATH [policy POLICY_FILE | broken-policy]\n", argv[0]);
        return 2;
    }
    for (int cycle = 0; cycle < ((policy || broken) ? 1 : 3); cycle++) {
        void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            fprintf(stderr, "FAIL: dlopen: %s\n", dlerror());
            return 1;
        }
        guards_set();
        if (resolve(lib)) {
            if (policy) {
                policy_cycle(argv[3]);
            } else if (broken) {
                broken_policy_cycle();
            } else if (cycle == 0) {
                first_cycle();
            } else {
                later_cycle(cycle);
            }
        }
        guards_check();
        CHECK(dlclose(lib) == 0, "dlclose: %s", dlerror());
    }
    if (failures) {
        fprintf(stderr, "host: %d checks failed\n", failures);
        return 1;
    }
    printf("host: all checks passed\n");
    return 0;
}
