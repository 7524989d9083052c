/*
 * output.c: where one line of a task's stdout or stderr goes: to its
 * destination (syslog, tendd's console, a file), and in every case into
 * the task's ring for tendctl log. null and inherit outputs have no pipe
 * through tendd, and so no lines.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>

#include "tend.h"

/* Why a log file could not be opened, in words. */
static const char *
output_open_error(int err)
{
	if (err == EINVAL)
		return "not a regular file"; /* logfile.c refuses FIFOs, ... */
	if (err == ELOOP)
		return "a symbolic link (not followed)";
	return strerror(err);
}

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
	        output_open_error(saved));
	logfile_release(*out);
	*out = NULL;
	errno = saved;
	return -1;
}

/* One line of o's pipe, without its newline. */
void
output_line(const struct run_output *o, const char *line, size_t len)
{
	struct task *t = o->run->task;
	const struct task_config *cfg = t->cfg;
	int stream = o->prio == LOG_INFO ? STREAM_OUT : STREAM_ERR;
	pid_t pid = o->run->pid;

	switch (o->mode) {
	case OUTPUT_SYSLOG:
		log_task_line(o->prio, cfg->name, pid, line, len);
		break;
	case OUTPUT_CONSOLE:
		/* Instances run side by side: each line says whose it is. */
		log_console_line(stream, cfg->name,
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
