/* luascripts.h - the Redis scripts, compiled in.
 *
 * Each is a file of service/redis/lua/ (its header comment gives its KEYS,
 * ARGV, replies and invariants), with the shared helpers of lib/ in front
 * as the Makefile's LUA_SCRIPTS says, written into $(BUILD)/lua_scripts.c
 * by service/tools/lua2c.c without comment and blank lines. Each is a
 * NUL-terminated string; store.c loads them with SCRIPT LOAD at connect
 * and runs them with EVALSHA (the snapshot with EVAL). */
#ifndef MODGATE_LUASCRIPTS_H
#define MODGATE_LUASCRIPTS_H

/* store.c */
extern const char CHECK_LUA[];           /* check.lua: a batch of checks */
extern const char HOLD_LUA[];            /* hold.lua: store one held comment */
extern const char RISK_LUA[];            /* risk.lua: a captcha challenge's counts */

/* bayesdb.c */
extern const char LEARN_LUA[];           /* learn.lua: learn, unlearn or raw counts */
extern const char LEARN_SNAPSHOT_LUA[];  /* learn_snapshot.lua: a model's stream id and seq */
extern const char CALIB_READ_LUA[];      /* calib_read.lua: a model's calibration entries */
extern const char CALIB_PUT_LUA[];       /* calib_put.lua: store a calibration, with an event */

/* queue.c */
extern const char QUEUE_LIST_LUA[];      /* queue_list.lua: a page of the queue */
extern const char QUEUE_GET_LUA[];       /* queue_get.lua: one comment, with its author's reputation */
extern const char WEBHOOKS_LUA[];        /* webhooks.lua: the webhooks' outbox and delivery log */
extern const char REPORT_LUA[];          /* report.lua: a reader's report of a published comment */
extern const char AUTHORS_LUA[];         /* authors.lua: an author's reputation, read or set */
extern const char AUTHORS_POLL_LUA[];    /* authors_poll.lua: how many authors each site pre-moderates */
extern const char QUEUE_FETCH_LUA[];     /* queue_fetch.lua: what an action reads first */
extern const char QUEUE_ACT_LUA[];       /* queue_act.lua: a moderator action */
extern const char LESSON_LUA[];          /* lesson.lua: its lesson, for a model on another cluster slot */
extern const char LESSON_DONE_LUA[];     /* lesson_done.lua: that lesson out of the site's outbox */
extern const char LESSONS_DUE_LUA[];     /* lessons_due.lua: the outbox's lessons left untaught */
extern const char QUEUE_STREAM_LUA[];    /* queue_stream.lua: a page of audit or events */
extern const char QUEUE_MIGRATE_LUA[];   /* queue_migrate.lua: older queue formats */

/* policy.c */
extern const char POLICY_POLL_LUA[];     /* policy_poll.lua: the policies' versions */
extern const char POLICY_FETCH_LUA[];    /* policy_fetch.lua: stored policies */
extern const char POLICY_PUT_LUA[];      /* policy_put.lua: store a new version */
extern const char POLICY_LIST_LUA[];     /* policy_list.lua: a page of the log */

/* threads.c */
extern const char THREADS_PUT_LUA[];     /* threads_put.lua: set or clear a thread's settings */
extern const char THREADS_POLL_LUA[];    /* threads_poll.lua: the sites' threads versions */
extern const char THREADS_FETCH_LUA[];   /* threads_fetch.lua: a site's thread settings */

/* tuning.c, metrics.c */
extern const char TUNING_LABELLED_LUA[]; /* tuning_labelled.lua: decided comments */
extern const char METRICS_DEPTH_LUA[];   /* metrics_depth.lua: the queue's depth */

#endif
