/*
 * prototypes.c: links libimtegrity_stchatlog directly through the header's prototypes and
 * checks that each entry point has the type a dlsym host would use (an incompatible
 * pointer is an error under -Werror). Run by tests/header_prototypes.rs, which also counts
 * the table below against the library's exports.
 *
 * Prints each entry point's name, then calls the two that need no server state:
 * stDdaClCleanSrvMsgs(NULL, 0) (nothing to free: OK) and stDdaClTerminate (idempotent),
 * and the header's default codes, which the test compares with the library's.
 */
#include <stdio.h>

#include "../../include/imtegrity_stchatlog.h"


int main(void) {
    /* The assignments through each typedef are the check: a prototype of another type
     * fails to compile. */
    imt_cl_init_fn init = stDdaClInit;
    imt_cl_void_fn terminate = stDdaClTerminate, timer = stDdaClTimerEvent;
    imt_cl_session_fn started = stDdaClSessionStarted, ended = stDdaClSessionEnded;
    imt_cl_session_org_fn started_org = stDdaClSessionStartedByOrgName;
    imt_cl_joining_fn joining = stDdaClJoiningSession;
    imt_cl_leaving_fn leaving = stDdaClLeavingSession;
    imt_cl_msg_fn msg = stDdaClSessionMsg;
    imt_cl_data_fn data = stDdaClSessionDataMsg;
    imt_cl_policy_fn policy = stDdaClSessionPolicycheckFunc;
    imt_cl_joining_srv_fn joining_srv = stDdaClJoiningSessionWithSrvMsg;
    imt_cl_leaving_srv_fn leaving_srv = stDdaClLeavingSessionWithSrvMsg;
    imt_cl_msg_srv_fn msg_srv = stDdaClSessionMsgWithSrvMsg;
    imt_cl_data_srv_fn data_srv = stDdaClSessionDataMsgWithSrvMsg;
    imt_cl_clean_fn clean = stDdaClCleanSrvMsgs;
    const struct { const char *name; const void *fn; } table[] = {
        {"stDdaClInit", (const void *)&init},
        {"stDdaClTerminate", (const void *)&terminate},
        {"stDdaClTimerEvent", (const void *)&timer},
        {"stDdaClSessionStarted", (const void *)&started},
        {"stDdaClSessionStartedByOrgName", (const void *)&started_org},
        {"stDdaClSessionEnded", (const void *)&ended},
        {"stDdaClJoiningSession", (const void *)&joining},
        {"stDdaClLeavingSession", (const void *)&leaving},
        {"stDdaClSessionMsg", (const void *)&msg},
        {"stDdaClSessionDataMsg", (const void *)&data},
        {"stDdaClSessionPolicycheckFunc", (const void *)&policy},
        {"stDdaClJoiningSessionWithSrvMsg", (const void *)&joining_srv},
        {"stDdaClLeavingSessionWithSrvMsg", (const void *)&leaving_srv},
        {"stDdaClSessionMsgWithSrvMsg", (const void *)&msg_srv},
        {"stDdaClSessionDataMsgWithSrvMsg", (const void *)&data_srv},
        {"stDdaClCleanSrvMsgs", (const void *)&clean},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        printf("%s\n", table[i].name);
    }
    int cleaned = clean(NULL, 0);
    terminate();
    printf("codes %d %d %d\n", IMT_CL_DB_ERROR_DEFAULT, IMT_CL_MSG_CHANGED_DEFAULT,
           IMT_CL_SESSION_CREATION_DECLINED_DEFAULT);
    printf("clean %d\n", cleaned);
    return cleaned == IMT_CL_OK ? 0 : 1;
}
