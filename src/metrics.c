/*
 * metrics.c: Prometheus text exposition (version 0.0.4) of tendd and its
 * tasks, written a part at a time.
 *
 * The exposition is a fixed list of families, each a HELP and a TYPE line
 * then its samples: one for a daemon family, one per task for a task
 * family. A cursor (a family, a task) says where the next part starts, so
 * that the control socket writes 1000 tasks' worth without ever holding the
 * loop for long or the whole text in memory; the text is the same however
 * it is cut.
 */
#include <math.h>

#include "tend.h"

/* A task's value in a family, from its view; NAN: no sample. */
typedef double value_fn(const struct task *, const struct taskview *);

struct family {
	const char *name;
	const char *type; /* "gauge" or "counter" */
	const char *help;
	value_fn *value; /* NULL: a daemon family, one sample */
	bool seconds;    /* else a count */
};

/*
 * Text is added without buf_addf, whose allocation per call made up half
 * the time of 1000 tasks' metrics.
 */
static void
metrics_add(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* A count, and the end of its line. */
static void
metrics_count(struct buf *b, unsigned long n)
{
	char text[24];
	char *p = text + sizeof(text);

	*--p = '\n';
	do
		*--p = (char)('0' + n % 10);
	while ((n /= 10) != 0);
	buf_add(b, p, (size_t)(text + sizeof(text) - p));
}

/* A task's labels, as every task family's sample starts. */
static void
metrics_labels(struct buf *b, const char *family, const struct task *t)
{
	metrics_add(b, family);
	metrics_add(b, "{task=\"");
	metrics_escape(b, t->cfg->name);
	metrics_add(b, "\",class=\"");
	metrics_escape(b, manifest_class_name(t->cfg->class));
	metrics_add(b, "\"} ");
}

/* Seconds as a strict parser takes them: never negative, never "nan". */
static void
metrics_seconds(struct buf *b, double s)
{
	char text[32];
	int len;

	if (!(s > 0.0)) /* NaN too */
		s = 0.0;
	if (s > DESCRIBE_DURATION_MAX)
		s = DESCRIBE_DURATION_MAX;
	len = snprintf(text, sizeof(text), "%.3f\n", s);
	buf_add(b, text, (size_t)len);
}

static double
value_up(const struct task *t, const struct taskview *v)
{
	(void)t;
	return v->up;
}

static double
value_restarts(const struct task *t, const struct taskview *v)
{
	(void)v;
	return (double)t->policy.restarts;
}

/* A task that never ended a run has no sample: no code is not code 0. */
static double
value_last_exit(const struct task *t, const struct taskview *v)
{
	(void)v;
	return t->has_last_exit ? describe_exit_code(t->last_wstatus) : NAN;
}

/* Of the process of a durable or log-only task; 0 when none runs. */
static double
value_uptime(const struct task *t, const struct taskview *v)
{
	(void)t;
	return v->has_pid ? v->uptime : 0.0;
}

static double
value_next_start(const struct task *t, const struct taskview *v)
{
	(void)t;
	return v->next_start;
}

static double
value_requests(const struct task *t, const struct taskview *v)
{
	(void)v;
	return (double)t->requests;
}

static double
value_failures(const struct task *t, const struct taskview *v)
{
	(void)v;
	return (double)t->failures;
}

static double
value_active(const struct task *t, const struct taskview *v)
{
	(void)t;
	return (double)v->active;
}

static double
value_refused(const struct task *t, const struct taskview *v)
{
	(void)v;
	return (double)t->refused;
}

static double
value_ready(const struct task *t, const struct taskview *v)
{
	(void)t;
	return v->ready;
}

static double
value_health_failures(const struct task *t, const struct taskview *v)
{
	(void)t;
	return (double)v->health_failures;
}

/* The families, in the order they are written. */
static const struct family families[] = {
    {"tend_up", "gauge", "Whether tendd is up (always 1).", NULL, false},
    {"tend_build_info", "gauge", "The version of tendd (always 1).", NULL,
     false},
    {"tend_log_dropped_total", "counter",
     "Log lines tendd dropped since it started: a log sink was full or "
     "failing.",
     NULL, false},
    {"tend_notify_dropped_total", "counter",
     "Datagrams tendd's notify socket dropped since it started: malformed, "
     "oversized, or from no task's process group.",
     NULL, false},
    {"tend_task_up", "gauge",
     "1 when a process of the task runs (per-request: when it is listening "
     "or idle).",
     value_up, false},
    {"tend_task_restarts_total", "counter",
     "Restarts of the task since tendd started.", value_restarts, false},
    {"tend_task_last_exit_code", "gauge",
     "Exit code of the task's last ended run (128+N for signal N); absent "
     "before one ends.",
     value_last_exit, false},
    {"tend_task_uptime_seconds", "gauge",
     "Seconds the task's process has run; 0 when none runs.", value_uptime,
     true},
    {"tend_task_next_start_seconds", "gauge",
     "Seconds until a task in backoff restarts; 0 otherwise.", value_next_start,
     true},
    {"tend_task_requests_total", "counter", "Per-request instances started.",
     value_requests, false},
    {"tend_task_failures_total", "counter",
     "Per-request instances that ended abnormally.", value_failures, false},
    {"tend_task_active", "gauge", "Per-request instances running.",
     value_active, false},
    {"tend_task_refused_total", "counter",
     "Per-request connections refused: their client was at max_per_source.",
     value_refused, false},
    {"tend_task_ready", "gauge",
     "1 when the task is ready: durable, its ready condition holds; log-only, "
     "its last run exited 0; per-request, it listens (or has no listen key).",
     value_ready, false},
    {"tend_task_health_failures_total", "counter",
     "Failed health probes of the task since tendd started.",
     value_health_failures, false},
};

#define NFAMILIES (sizeof(families) / sizeof(families[0]))

/*
 * Append s as a label value: backslash, double quote and newline escaped
 * (the three the format escapes; every other byte stands for itself).
 */
void
metrics_escape(struct buf *b, const char *s)
{
	const char *plain = s;

	for (; *s != '\0'; s++) {
		const char *esc = *s == '\\'   ? "\\\\"
		                  : *s == '"'  ? "\\\""
		                  : *s == '\n' ? "\\n"
		                               : NULL;

		if (esc == NULL)
			continue;
		buf_add(b, plain, (size_t)(s - plain));
		buf_add(b, esc, 2);
		plain = s + 1;
	}
	buf_add(b, plain, (size_t)(s - plain));
}

static void
metrics_header(struct buf *b, const struct family *f)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
	         f->type);
}

/* The one sample of daemon family i. */
static void
metrics_daemon_sample(struct buf *b, size_t i)
{
	switch (i) {
	case 0:
		buf_add(b, "tend_up 1\n", 10);
		break;
	case 1:
		buf_add(b, "tend_build_info{version=\"", 25);
		metrics_escape(b, TEND_VERSION);
		buf_add(b, "\"} 1\n", 5);
		break;
	case 2:
		buf_addf(b, "tend_log_dropped_total %lu\n", log_dropped());
		break;
	default:
		buf_addf(b, "tend_notify_dropped_total %lu\n",
		         notifysock_dropped());
		break;
	}
}

/* t's sample of family f, if it has one. */
static void
metrics_task_sample(struct buf *b, const struct family *f, const struct task *t,
                    double now)
{
	struct taskview view;
	double v;

	taskview_of(t, now, &view);
	v = f->value(t, &view);
	if (isnan(v))
		return;
	metrics_labels(b, f->name, t);
	if (f->seconds)
		metrics_seconds(b, v);
	else
		metrics_count(b, (unsigned long)v);
}

/*
 * Append the exposition from *cur on, until text holds at least low bytes
 * or everything is written. Returns true once everything is. Each call
 * writes at least one part (a header with its first sample, or a sample),
 * so a caller that empties text between calls always gets on.
 */
bool
metrics_fill(struct buf *text, struct metrics_cursor *cur,
             struct task *const *tasks, size_t ntasks, double now, size_t low)
{
	while (cur->family < NFAMILIES) {
		const struct family *f = &families[cur->family];

		/* Not cur->task == 0: a reload may take it back there. */
		if (!cur->headed)
			metrics_header(text, f);
		cur->headed = true;
		if (f->value == NULL)
			metrics_daemon_sample(text, cur->family);
		else if (cur->task < ntasks) /* fewer after a reload */
			metrics_task_sample(text, f, tasks[cur->task], now);
		if (f->value != NULL && ++cur->task < ntasks) {
			if (text->len >= low)
				return false;
			continue;
		}
		cur->family++;
		cur->task = 0;
		cur->headed = false;
		if (text->len >= low && cur->family < NFAMILIES)
			return false;
	}
	return true;
}
