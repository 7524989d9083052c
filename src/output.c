/*
 * output.c: where one line of a task's stdout or stderr goes: to its
 * destination (syslog, tendd's console, a file), and in every case into
 * the task's ring for tendctl log. null and inherit outputs have no pipe
 * through tendd, and so no lines. A file: output never waits for a reader;
 * syslog and console ones wait while their log sink is full.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "tend.h"

/*
 * The files of cfg's file: outputs, opened for a run before it is spawned
 * (with_stdout false: a connection is its stdout). A file that cannot be
 * opened fails the spawn, as supervisord refuses to start such a process:
 * returns -1, logged, errno set, nothing left open.
 */
int
output_files_open(const struct task_config *cfg, bool with_stdout,
                  struct logfile **out, struct logfile **err)
{
	const char *failed = NULL;
	int saved;

	*out = *err = NULL;
	if (with_stdout && cfg->out == OUTPUT_FILE &&
	    (*out = logfile_open(cfg->out_path, cfg)) == NULL)
		failed = cfg->out_path;
	else if (cfg->err == OUTPUT_FILE &&
	         (*err = logfile_open(cfg->err_path, cfg)) == NULL)
		failed = cfg->err_path;
	if (failed == NULL)
		return 0;
	saved = errno;
	log_msg(LOG_ERR, "task %s: cannot open %s: %s", cfg->name, failed,
	        logfile_error(saved));
	logfile_release(*out);
	*out = NULL;
	errno = saved;
	return -1;
}

/* Which stream a pipe's lines are, by their syslog priority. */
static int
output_stream(int prio)
{
	return prio == LOG_INFO ? STREAM_OUT : STREAM_ERR;
}

/* A line to a syslog or console output's log sink. */
static void
output_to_log(enum output_mode mode, int prio, const char *name, pid_t pid,
              const char *line, size_t len)
{
	if (mode == OUTPUT_SYSLOG)
		log_task_line(prio, name, pid, line, len);
	else
		log_console_line(output_stream(prio), name, pid, line, len);
}

/*
 * Whether a syslog or console output's lines are to wait for a full log
 * sink: then w waits for it, and is told once it has room.
 */
static bool
output_wait_log(enum output_mode mode, int prio, struct logwaiter *w)
{
	if (mode == OUTPUT_SYSLOG)
		return log_wait_task(prio, w);
	return log_wait_console(output_stream(prio), w);
}

/*
 * The last lines of a reaped run that its full log sink had no room for:
 * they wait for room here, apart from the run (freed meanwhile) and its
 * task (which a reload may remove), as the run would have waited. Their
 * ring lines were kept at the reap. All of them together are bounded by
 * OUTPUT_REST_MAX; past that, lines go to the sink at once, dropped and
 * counted if it is full, as with no backpressure.
 */
#define OUTPUT_REST_MAX (4 * 1024 * 1024)

struct output_rest {
	struct logwaiter waiter;
	ev_timer go; /* routed from the loop, not inside the sink's flush */
	char *name;
	pid_t pid; /* in the tag; 0: none */
	int prio;
	enum output_mode mode;
	struct buf lines; /* each ended by a newline (lines hold none) */
	size_t off;       /* what went already */
	struct output_rest *prev, *next;
};

/* Every rest, so that none is lost track of when tendd exits meanwhile. */
static struct output_rest *rests;
static size_t rest_bytes; /* of every output_rest's lines */

static void
output_rest_free(struct output_rest *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		rests = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	rest_bytes -= r->lines.len;
	buf_free(&r->lines);
	free(r->name);
	free(r);
}

/* Send the rest's lines while the sink has room; freed once all went. */
static void
output_rest_route(struct output_rest *r)
{
	while (r->off < r->lines.len) {
		const char *line = r->lines.data + r->off;
		size_t len =
		    (size_t)((char *)memchr(line, '\n', r->lines.len - r->off) -
		             line);
		if (output_wait_log(r->mode, r->prio, &r->waiter))
			return;
		output_to_log(r->mode, r->prio, r->name, r->pid, line, len);
		r->off += len + 1;
	}
	output_rest_free(r);
}

static void
output_rest_go_cb(EV_P_ ev_timer *w, int revents)
{
	(void)EV_A;
	(void)revents;
	output_rest_route(w->data);
}

/* The sink has room: go on from the loop, not from inside its flush. */
static void
output_rest_resume(void *data)
{
	struct output_rest *r = data;

	ev_timer_set(&r->go, 0., 0.);
	ev_timer_start(EV_DEFAULT, &r->go);
}

/* Keep a line of a reaped run for its sink; false past OUTPUT_REST_MAX. */
static bool
output_rest_keep(struct run_output *o, const char *name, pid_t pid,
                 const char *line, size_t len)
{
	struct output_rest *r = o->rest;

	if (rest_bytes + len + 1 > OUTPUT_REST_MAX)
		return false;
	if (r == NULL) {
		r = o->rest = xcalloc(1, sizeof(*r));
		r->waiter.resume = output_rest_resume;
		r->waiter.data = r;
		ev_init(&r->go, output_rest_go_cb);
		r->go.data = r;
		r->name = xstrdup(name);
		r->pid = pid;
		r->prio = o->prio;
		r->mode = o->mode;
		r->next = rests;
		if (rests != NULL)
			rests->prev = r;
		rests = r;
	}
	buf_add(&r->lines, line, len);
	buf_add(&r->lines, "\n", 1);
	rest_bytes += len + 1;
	return true;
}

/* Bytes of reaped runs' lines still waiting for their sinks. */
size_t
output_rest_backlog(void)
{
	return rest_bytes;
}

/*
 * The reaped run's output is closed: its rest, if any, goes on by itself,
 * waiting for the sink as the run's pipe would have.
 */
void
output_rest_release(struct run_output *o)
{
	struct output_rest *r = o->rest;

	o->rest = NULL;
	if (r != NULL)
		output_rest_resume(r);
}

/*
 * A line to a syslog or console output's sink: at once, or, for a reaped
 * run whose sink is full, kept for when it has room.
 */
static void
output_line_to_log(struct run_output *o, const char *name, pid_t pid,
                   const char *line, size_t len)
{
	if (o->reaped &&
	    (o->rest != NULL || output_wait_log(o->mode, o->prio, NULL)) &&
	    output_rest_keep(o, name, pid, line, len))
		return;
	output_to_log(o->mode, o->prio, name, pid, line, len);
}

/* One line of o's pipe, without its newline. */
void
output_line(struct run_output *o, const char *line, size_t len)
{
	struct task *t = o->run->task;
	const struct task_config *cfg = t->cfg;
	int stream = output_stream(o->prio);
	pid_t pid = o->run->pid;

	switch (o->mode) {
	case OUTPUT_SYSLOG:
		output_line_to_log(o, cfg->name, pid, line, len);
		break;
	case OUTPUT_CONSOLE:
		/* Instances run side by side: each line says whose it is. */
		output_line_to_log(o, cfg->name,
		                   cfg->class == CLASS_PER_REQUEST ? pid : 0,
		                   line, len);
		break;
	case OUTPUT_FILE:
		/* A reload's log_max_size and log_backups apply at once. */
		logfile_write(o->file, line, len, cfg->log_max_size,
		              cfg->log_backups);
		break;
	case OUTPUT_NULL:
	case OUTPUT_INHERIT:
		return;
	}
	logring_push(&t->ring, pid, stream, line, len);
	events_task_output(t);
}

/*
 * Whether o's pipe is to be left unread until its log sink has room: then
 * o->waiter waits for it (the caller set its resume). A file takes what it
 * is given without waiting for a reader, and needs no such pause.
 */
bool
output_wait_room(struct run_output *o)
{
	if (o->mode != OUTPUT_SYSLOG && o->mode != OUTPUT_CONSOLE)
		return false;
	return output_wait_log(o->mode, o->prio, &o->waiter);
}
