/*
 * imtegrity_stchatlog.h: the C view of libimtegrity_stchatlog, IMtegrity's Sametime
 * chat-logging SPI module (crate spi/).
 *
 * Written for IMtegrity from the description in docs/protocol/sametime-spi.md §2;
 * the names of our types and constants are our own. The exported function names are the
 * ones the Sametime server looks up, so they are the SPI's. The host (the Sametime server,
 * or tests/host/host.c) resolves them with dlsym; this header gives their types, and a
 * prototype of each for a host that links the library directly.
 */
#ifndef IMTEGRITY_STCHATLOG_H
#define IMTEGRITY_STCHATLOG_H

#ifdef _WIN32
#define IMT_CL_CALL __stdcall
#else
#define IMT_CL_CALL
#endif

#define IMT_CL_VERSION 16           /* the SPI version the library implements */
#define IMT_CL_NAME_LEN 256         /* inline entity id, NUL included */
#define IMT_CL_STR_LEN 1024         /* session id, organisation, appRetMsg */

/* Return codes (the SPI's general codes). */
#define IMT_CL_OK 0
#define IMT_CL_VERSION_MISMATCH 1
#define IMT_CL_INVALID_PARAM 2
#define IMT_CL_INTERNAL_ERROR 3

/* The chat-log codes the library returns by default for a record it could not make durable
 * and for policy outcomes. IBM's numbers for ST_DDA_CL_DB_ERROR, ST_DDA_MSG_CHANGED and
 * ST_DDA_SESSION_CREATION_DECLINED are unknown: these defaults are guesses, renumbered by
 * [codes] db_error / msg_changed / session_creation_declined in imtegrity_stchatlog.toml to
 * the server's values. */
#define IMT_CL_DB_ERROR_DEFAULT 0x0C                 /* not recorded (strict mode); a number of
                                                       * its own, so a server log tells it from
                                                       * IMT_CL_INTERNAL_ERROR; [codes] db_error */
#define IMT_CL_MSG_CHANGED_DEFAULT 0x0A               /* deliver the server messages instead */
#define IMT_CL_SESSION_CREATION_DECLINED_DEFAULT 0x0B /* the chat or join is refused */

/* Severities written through appRetCode. */
#define IMT_CL_SEVERITY_OK 0                         /* ST_DDA_OK; ST_DDA_INFO (1) is never written */
#define IMT_CL_SEVERITY_WARNING 2                    /* e.g. a policy file that did not reload */
#define IMT_CL_SEVERITY_ERROR 3
#define IMT_CL_SEVERITY_FATAL 4

/* Entity types. */
enum imt_cl_entity_type {
    IMT_CL_NO_TYPE = 0,
    IMT_CL_USER = 1,
    IMT_CL_SECTION = 2,
    IMT_CL_ACTIVITY = 3,
    IMT_CL_SESSION = 4,
    IMT_CL_EXTERNAL_USER = 5,
    IMT_CL_OFFLINE_USER = 6
};

/* A participant or scope; owned by the caller, valid during the call only. */
typedef struct imt_cl_entity {
    char id[IMT_CL_NAME_LEN];   /* NUL-terminated */
    int type;                   /* enum imt_cl_entity_type */
} imt_cl_entity;

/* Server-message types and destinations. The library sends text messages only. */
enum imt_cl_srv_msg_type { IMT_CL_TEXT_MSG = 0, IMT_CL_DATA_MSG = 1, IMT_CL_SRV_MSG = 2 };
enum imt_cl_srv_msg_destination { IMT_CL_TO_SENDER = 0, IMT_CL_TO_RECEIVER = 1 };

/* A server message allocated by the library. A call returns an array of them through
 * (srv, srv_len); the caller sets NULL/0 before the call, shows them, then passes exactly
 * that (srv, srv_len) to stDdaClCleanSrvMsgs once. Another pointer, another count or a
 * second clean is refused with IMT_CL_INVALID_PARAM and frees nothing. An array of ours
 * passed back in (not cleaned) is appended to. stDdaClTerminate frees what was never
 * cleaned. */
typedef struct imt_cl_srv_msg {
    int type;                   /* enum imt_cl_srv_msg_type */
    int destination;            /* enum imt_cl_srv_msg_destination */
    unsigned long len;          /* strlen(msg) */
    char *msg;                  /* NUL-terminated */
} imt_cl_srv_msg;

typedef int (IMT_CL_CALL *imt_cl_init_fn)(int *version, int initialized_outside,
                                          int *initialized_inside, char *dir_type,
                                          char *lib_version, int *app_ret_code,
                                          char *app_ret_msg);
typedef void (IMT_CL_CALL *imt_cl_void_fn)(void);
typedef int (IMT_CL_CALL *imt_cl_session_fn)(const char *session_id);
typedef int (IMT_CL_CALL *imt_cl_session_org_fn)(const char *session_id, const char *org);
typedef int (IMT_CL_CALL *imt_cl_joining_fn)(const char *session_id, const imt_cl_entity *entity,
                                             const imt_cl_entity *scope);
typedef int (IMT_CL_CALL *imt_cl_leaving_fn)(const char *session_id, const imt_cl_entity *entity);
typedef int (IMT_CL_CALL *imt_cl_msg_fn)(const char *session_id, const imt_cl_entity *sender,
                                         unsigned long len, const char *msg,
                                         const imt_cl_entity *receiver);
typedef int (IMT_CL_CALL *imt_cl_data_fn)(const char *session_id, const imt_cl_entity *sender,
                                          unsigned long type, unsigned long sub_type,
                                          unsigned long len, const char *msg,
                                          const imt_cl_entity *receiver);
typedef int (IMT_CL_CALL *imt_cl_policy_fn)(const imt_cl_entity *entity,
                                            const imt_cl_entity *to_entity,
                                            imt_cl_srv_msg **srv, unsigned long *srv_len);
typedef int (IMT_CL_CALL *imt_cl_joining_srv_fn)(const char *session_id,
                                                 const imt_cl_entity *entity,
                                                 const imt_cl_entity *scope,
                                                 imt_cl_srv_msg **srv, unsigned long *srv_len);
typedef int (IMT_CL_CALL *imt_cl_leaving_srv_fn)(const char *session_id,
                                                 const imt_cl_entity *entity,
                                                 imt_cl_srv_msg **srv, unsigned long *srv_len);
typedef int (IMT_CL_CALL *imt_cl_msg_srv_fn)(const char *session_id, const imt_cl_entity *sender,
                                             unsigned long len, const char *msg,
                                             const imt_cl_entity *receiver,
                                             imt_cl_srv_msg **srv, unsigned long *srv_len);
typedef int (IMT_CL_CALL *imt_cl_data_srv_fn)(const char *session_id, const imt_cl_entity *sender,
                                              unsigned long type, unsigned long sub_type,
                                              unsigned long len, const char *msg,
                                              const imt_cl_entity *receiver,
                                              imt_cl_srv_msg **srv, unsigned long *srv_len);
typedef int (IMT_CL_CALL *imt_cl_clean_fn)(imt_cl_srv_msg *srv, unsigned long srv_len);

/* The 16 entry points the library exports, each of the type above that a host resolving
 * it with dlsym would use. A host linking the library directly can call them as declared
 * here; tests/header_prototypes.rs checks each against the library. */
#ifdef __cplusplus
extern "C" {
#endif
int IMT_CL_CALL stDdaClInit(int *version, int initialized_outside, int *initialized_inside,
                            char *dir_type, char *lib_version, int *app_ret_code,
                            char *app_ret_msg);                         /* imt_cl_init_fn */
void IMT_CL_CALL stDdaClTerminate(void);                                /* imt_cl_void_fn */
void IMT_CL_CALL stDdaClTimerEvent(void);                               /* imt_cl_void_fn */
int IMT_CL_CALL stDdaClSessionStarted(const char *session_id);          /* imt_cl_session_fn */
int IMT_CL_CALL stDdaClSessionStartedByOrgName(const char *session_id,
                                               const char *org);        /* imt_cl_session_org_fn */
int IMT_CL_CALL stDdaClSessionEnded(const char *session_id);            /* imt_cl_session_fn */
int IMT_CL_CALL stDdaClJoiningSession(const char *session_id, const imt_cl_entity *entity,
                                      const imt_cl_entity *scope);     /* imt_cl_joining_fn */
int IMT_CL_CALL stDdaClLeavingSession(const char *session_id,
                                      const imt_cl_entity *entity);    /* imt_cl_leaving_fn */
int IMT_CL_CALL stDdaClSessionMsg(const char *session_id, const imt_cl_entity *sender,
                                  unsigned long len, const char *msg,
                                  const imt_cl_entity *receiver);      /* imt_cl_msg_fn */
int IMT_CL_CALL stDdaClSessionDataMsg(const char *session_id, const imt_cl_entity *sender,
                                      unsigned long type, unsigned long sub_type,
                                      unsigned long len, const char *msg,
                                      const imt_cl_entity *receiver);  /* imt_cl_data_fn */
int IMT_CL_CALL stDdaClSessionPolicycheckFunc(const imt_cl_entity *entity,
                                              const imt_cl_entity *to_entity,
                                              imt_cl_srv_msg **srv,
                                              unsigned long *srv_len); /* imt_cl_policy_fn */
int IMT_CL_CALL stDdaClJoiningSessionWithSrvMsg(const char *session_id,
                                                const imt_cl_entity *entity,
                                                const imt_cl_entity *scope, imt_cl_srv_msg **srv,
                                                unsigned long *srv_len); /* imt_cl_joining_srv_fn */
int IMT_CL_CALL stDdaClLeavingSessionWithSrvMsg(const char *session_id,
                                                const imt_cl_entity *entity, imt_cl_srv_msg **srv,
                                                unsigned long *srv_len); /* imt_cl_leaving_srv_fn */
int IMT_CL_CALL stDdaClSessionMsgWithSrvMsg(const char *session_id, const imt_cl_entity *sender,
                                            unsigned long len, const char *msg,
                                            const imt_cl_entity *receiver, imt_cl_srv_msg **srv,
                                            unsigned long *srv_len);   /* imt_cl_msg_srv_fn */
int IMT_CL_CALL stDdaClSessionDataMsgWithSrvMsg(const char *session_id,
                                                const imt_cl_entity *sender, unsigned long type,
                                                unsigned long sub_type, unsigned long len,
                                                const char *msg, const imt_cl_entity *receiver,
                                                imt_cl_srv_msg **srv,
                                                unsigned long *srv_len); /* imt_cl_data_srv_fn */
int IMT_CL_CALL stDdaClCleanSrvMsgs(imt_cl_srv_msg *srv, unsigned long srv_len); /* imt_cl_clean_fn */
#ifdef __cplusplus
}
#endif

#endif
