/*
 * spawn.c: fork and exec one process of a task. Everything the child needs
 * (argv, environment, the paths to try, the fds) is built before fork, and
 * nothing here blocks (the group list was resolved with the manifest);
 * between fork and exec the child makes only async-signal-safe calls. A
 * failure in the child is written to a CLOEXEC pipe as the step and errno;
 * the pipe still empty once clone returns means exec succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tend.h"

#define TEND_TASK_PREFIX "TEND_TASK="
#define TEND_TASK_SIZE   (sizeof(TEND_TASK_PREFIX) + TASK_NAME_MAX)
#define DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *step_names[] = {
    [STEP_SETSID] = "setsid",
    [STEP_DUP2] = "dup2",
    [STEP_UMASK] = "umask",
    [STEP_CHDIR] = "chdir",
    [STEP_SETGROUPS] = "setgroups",
    [STEP_SETGID] = "setgid",
    [STEP_SETUID] = "setuid",
    [STEP_ENV_FILE] = "read env file",
    [STEP_RLIMIT] = "setrlimit",
    [STEP_NICE] = "set nice",
    [STEP_OOM_SCORE_ADJ] = "set oom_score_adj",
    [STEP_EXEC] = "exec",
};

const char *
spawn_step_name(int step)
{
	if (step < 0 || step > STEP_EXEC)
		return "spawn";
	return step_names[step];
}

/* The limit_* keys: the name after "limit_", and what setrlimit takes. */
static const struct {
	const char *name;
	int resource;
} limits[NLIMITS] = {
    [LIMIT_NOFILE] = {"nofile", RLIMIT_NOFILE},
    [LIMIT_NPROC] = {"nproc", RLIMIT_NPROC},
    [LIMIT_CORE] = {"core", RLIMIT_CORE},
    [LIMIT_AS] = {"as", RLIMIT_AS},
    [LIMIT_CPU] = {"cpu", RLIMIT_CPU},
    [LIMIT_FSIZE] = {"fsize", RLIMIT_FSIZE},
    [LIMIT_MEMLOCK] = {"memlock", RLIMIT_MEMLOCK},
    [LIMIT_STACK] = {"stack", RLIMIT_STACK},
};

const char *
spawn_limit_name(int which)
{
	if (which < 0 || which >= NLIMITS)
		return "?";
	return limits[which].name;
}

/* All the child will use, built before fork. */
struct plan {
	char **argv;
	char **envp;
	char **paths;          /* where to look for argv[0], in order */
	const char *directory; /* or NULL: stay in / */
	mode_t umask;
	bool set_umask;
	int fd[3]; /* become 0, 1, 2 */
	bool set_ids;
	bool set_gid;
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* the config's */
	int ngroups;
	const struct task_limit *limits; /* the config's, NLIMITS of them */
	bool set_nice;
	int nice;
	bool set_oom;
	char oom[16]; /* oom_score_adj, as written to /proc */
	size_t oom_len;
	struct envlist env_files; /* their entries, in order */
	char **env_texts; /* the files' buffers the entries point into */
	size_t nenv_texts;
	char *why;   /* an env file's failure, or NULL */
	int env_err; /* with why: its errno */
	int status_fd;
};

static int devnull_fd = -1;

/* The child's stack: one child at a time, since tendd waits for its exec. */
static char child_stack[64 * 1024] __attribute__((aligned(16)));

/*
 * tendd as the child inherits it, read once at the first spawn: tendd sets
 * up its signals, umask and directory before it starts any task and keeps
 * them after. The child undoes only what differs from what a task gets.
 */
static struct {
	bool read;
	/* Signals handled or ignored: exec resets handlers, not SIG_IGN. */
	int changed_signals[NSIG];
	int nchanged;
	/* Of those, libc's own, which only a raw system call resets. */
	int raw_signals[NSIG];
	int nraw;
	/* A handler must not run in the child: block signals around clone. */
	bool has_handlers;
	mode_t umask;
	bool in_root; /* the working directory is / */
	/*
	 * The status pipe, one for all spawns: there is one child at a time,
	 * and it writes its failure, if any, before tendd returns from clone.
	 */
	int status[2];
} parent = {.status = {-1, -1}};

/* tendd's own open-file limit, raised for itself; tasks get the original. */
static struct rlimit child_nofile;
static bool child_nofile_set;

void
spawn_set_child_nofile(const struct rlimit *rl)
{
	child_nofile = *rl;
	child_nofile_set = true;
}

/*
 * The kernel's struct sigaction, for the signals libc keeps for itself
 * (glibc's 32 and 33): its sigaction refuses them, yet a parent may have
 * left them ignored. Only where the layout is known: the handler first,
 * a 64-bit signal set (not so on mips, whose flags come first and whose
 * set is 128 bits, nor on alpha or sparc). All zeroes is SIG_DFL with no
 * flags and no mask; the words after the handler leave room for flags,
 * restorer and mask. Elsewhere those signals stay as inherited.
 */
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || \
    defined(__arm__) || defined(__riscv) || defined(__powerpc__) ||     \
    defined(__s390__) || defined(__loongarch__)
#define RAW_SIGACTION 1
struct ksigaction {
	unsigned long handler;
	unsigned long flags;
	unsigned long restorer;
	uint64_t mask[2];
};

/* libc's _NSIG is the highest signal plus one; the kernel's set holds 64. */
#define KSIGSET_SIZE ((_NSIG - 1) / 8)
_Static_assert(KSIGSET_SIZE == 8, "the kernel's sigset_t is 64 bits here");
#else
#define RAW_SIGACTION 0
#endif

/* The handler of sig through the raw system call: 0 if it has one. */
static int
read_raw_handler(int sig, unsigned long *handler)
{
#if RAW_SIGACTION
	struct ksigaction old;

	if (syscall(SYS_rt_sigaction, sig, NULL, &old, KSIGSET_SIZE) == -1)
		return -1;
	*handler = old.handler;
	return 0;
#else
	(void)sig;
	(void)handler;
	return -1;
#endif
}

static void
read_signals(void)
{
	struct sigaction old;
	unsigned long handler;
	bool raw;

	for (int sig = 1; sig < NSIG; sig++) {
		raw = sigaction(sig, NULL, &old) == -1;
		if (!raw)
			handler = (unsigned long)old.sa_handler;
		else if (read_raw_handler(sig, &handler) == -1)
			continue;
		if (sig != SIGCHLD && handler == (unsigned long)SIG_DFL)
			continue;
		if (handler > (unsigned long)SIG_IGN)
			parent.has_handlers = true;
		if (raw)
			parent.raw_signals[parent.nraw++] = sig;
		else
			parent.changed_signals[parent.nchanged++] = sig;
	}
}

static int
read_parent(void)
{
	char cwd[2];

	if (parent.read)
		return 0;
	if (pipe2(parent.status, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	read_signals();
	parent.umask = umask(0);
	umask(parent.umask);
	/* The path, not the inode: a bind mount of / elsewhere is not /. */
	parent.in_root =
	    getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, "/") == 0;
	parent.read = true;
	return 0;
}

static int
spawn_devnull(void)
{
	if (devnull_fd == -1)
		devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	return devnull_fd;
}

/*
 * An environment being built: entries, and where each name stands, by a
 * hash of the name (open addressing, slot = index + 1, 0 empty), so that
 * an env file of 100,000 names merges in linear time, not quadratic: it
 * is built on the loop, at every spawn.
 */
struct envbuild {
	char **env; /* NULL-terminated */
	size_t n;
	size_t *slots;
	size_t mask; /* slots - 1, a power of two above twice the entries */
};

static size_t
env_hash(const char *entry, size_t keylen)
{
	size_t h = 14695981039346656037ULL & SIZE_MAX;

	for (size_t i = 0; i < keylen; i++)
		h = (h ^ (unsigned char)entry[i]) *
		    (1099511628211ULL & SIZE_MAX);
	return h;
}

/* Add or replace "KEY=..." in b, where it stands. */
static void
env_put(struct envbuild *b, const char *entry)
{
	size_t keylen = strcspn(entry, "=") + 1;
	size_t s = env_hash(entry, keylen) & b->mask;

	for (; b->slots[s] != 0; s = (s + 1) & b->mask)
		if (strncmp(b->env[b->slots[s] - 1], entry, keylen) == 0) {
			b->env[b->slots[s] - 1] = (char *)entry;
			return;
		}
	b->slots[s] = b->n + 1;
	b->env[b->n++] = (char *)entry;
	b->env[b->n] = NULL;
}

/*
 * Whether a task gets this entry of tendd's environment: not the remote
 * address of another connection, and not tendd's own NOTIFY_SOCKET, with
 * which a task could speak for tendd's systemd unit.
 */
static bool
plan_inherits(const char *entry)
{
	return strncmp(entry, "TEND_REMOTE_", 12) != 0 &&
	       strncmp(entry, "NOTIFY_SOCKET=", 14) != 0;
}

/*
 * The env files, read now, at each spawn: a changed file takes effect at
 * the next start. The first that fails stops the others: p->why says why.
 */
static void
plan_env_files(struct plan *p, const struct task_config *cfg)
{
	if (cfg->nenv_files == 0)
		return;
	p->env_texts = xcalloc(cfg->nenv_files, sizeof(*p->env_texts));
	p->nenv_texts = cfg->nenv_files;
	for (size_t i = 0; i < cfg->nenv_files && p->why == NULL; i++)
		p->why = envfile_load(cfg->env_files[i], &p->env_files,
		                      &p->env_texts[i]);
	p->env_err = errno;
}

/*
 * The environment: tendd's own unless clear_env, then the env files'
 * entries, the task's env keys, TEND_TASK (written into tend_task,
 * TEND_TASK_SIZE bytes of the caller's) and extra, each replacing an
 * earlier entry of its name. Entries point into their owners; only the
 * array is ours (freed with plan_free).
 */
static char **
plan_env(const struct task_config *cfg, const struct envlist *files,
         char *const *extra, char *tend_task)
{
	size_t max = cfg->nenv + files->n + 2, size = 16, i;
	struct envbuild b = {0};

	for (i = 0; !cfg->clear_env && environ[i]; i++)
		max++;
	for (i = 0; extra && extra[i]; i++)
		max++;
	while (size < 2 * max)
		size *= 2;
	b.env = xcalloc(max, sizeof(*b.env));
	b.slots = xcalloc(size, sizeof(*b.slots));
	b.mask = size - 1;
	for (i = 0; !cfg->clear_env && environ[i]; i++)
		if (plan_inherits(environ[i]))
			env_put(&b, environ[i]);
	for (i = 0; i < files->n; i++)
		env_put(&b, files->v[i]);
	for (i = 0; i < cfg->nenv; i++)
		env_put(&b, cfg->env[i]);
	/* Copied, not formatted: this runs for every connection. */
	stpcpy(stpcpy(tend_task, TEND_TASK_PREFIX), cfg->name);
	env_put(&b, tend_task);
	for (i = 0; extra && extra[i]; i++)
		env_put(&b, extra[i]);
	free(b.slots);
	return b.env;
}

/* The paths to try for argv[0]: itself if it has a '/', else along PATH. */
static char **
plan_paths(const char *prog, char *const *envp)
{
	const char *path = DEFAULT_PATH;
	char **paths;
	size_t n = 0, max = 2;

	if (strchr(prog, '/') != NULL) {
		paths = xcalloc(2, sizeof(*paths));
		paths[0] = xstrdup(prog);
		return paths;
	}
	for (size_t i = 0; envp[i]; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	for (const char *p = path; *p; p++)
		max += *p == ':';
	paths = xcalloc(max, sizeof(*paths));
	for (const char *p = path;; p++) {
		size_t len = strcspn(p, ":");
		/* An empty PATH element means the current directory. */
		paths[n++] = len ? xasprintf("%.*s/%s", (int)len, p, prog)
		                 : xasprintf("./%s", prog);
		p += len;
		if (*p == '\0')
			break;
	}
	return paths;
}

/* Limits, nice and oom_score_adj: all but the system calls, done now. */
static void
plan_resources(struct plan *p, const struct task_config *cfg)
{
	p->limits = cfg->limits;
	p->set_nice = cfg->has_nice;
	p->nice = cfg->nice;
	p->set_oom = cfg->has_oom_score_adj;
	if (p->set_oom)
		p->oom_len = (size_t)snprintf(p->oom, sizeof(p->oom), "%d\n",
		                              cfg->oom_score_adj);
}

/* The ids to take: the groups were resolved when the manifest loaded. */
static void
plan_ids(struct plan *p, const struct task_config *cfg)
{
	p->uid = cfg->uid;
	p->gid = cfg->gid;
	p->set_gid = cfg->has_group && cfg->gid != getegid();
	if (!cfg->has_user || (cfg->uid == geteuid() && cfg->gid == getegid()))
		return;
	p->set_ids = true;
	p->groups = cfg->groups;
	p->ngroups = cfg->ngroups;
}

static void
plan_free(struct plan *p)
{
	for (size_t i = 0; p->paths && p->paths[i]; i++)
		free(p->paths[i]);
	free(p->paths);
	free(p->envp);
	for (size_t i = 0; p->env_texts && i < p->nenv_texts; i++)
		free(p->env_texts[i]);
	free(p->env_texts);
	envlist_free(&p->env_files);
	free(p->why);
}

/*
 * The child runs on child_stack, in tendd's memory: AddressSanitizer
 * takes its stack for a buffer of tendd's and reports a false underflow
 * when it exits (google/sanitizers#189), in a child that shares the
 * parent's memory and so wedges both. The child's few functions are left
 * out of its checks.
 */
#define CHILD_CODE __attribute__((no_sanitize_address))

static void CHILD_CODE __attribute__((noreturn))
child_fail_which(int status_fd, int step, int which, int err)
{
	struct spawn_failure f = {.step = step, .err = err, .which = which};
	ssize_t w;

	w = write(status_fd, &f, sizeof(f));
	(void)w;
	_exit(127);
}

static void CHILD_CODE __attribute__((noreturn))
child_fail(int status_fd, int step, int err)
{
	child_fail_which(status_fd, step, 0, err);
}

/*
 * In the child, before it gives up its ids: raising a hard limit, lowering
 * nice or oom_score_adj may need privileges that setuid drops. The limits
 * last: a low limit_nofile would leave no fd for /proc. The vfork child's
 * oom_score_adj is its own: the kernel leaves tendd's alone.
 */
static void CHILD_CODE
child_resources(const struct plan *p)
{
	struct rlimit rl;
	ssize_t w;
	int fd;

	if (p->set_oom) {
		fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
		if (fd == -1)
			child_fail(p->status_fd, STEP_OOM_SCORE_ADJ, errno);
		w = write(fd, p->oom, p->oom_len);
		if (w != (ssize_t)p->oom_len)
			child_fail(p->status_fd, STEP_OOM_SCORE_ADJ,
			           w == -1 ? errno : EIO);
		close(fd);
	}
	if (p->set_nice && setpriority(PRIO_PROCESS, 0, p->nice) == -1)
		child_fail(p->status_fd, STEP_NICE, errno);
	for (int i = 0; i < NLIMITS; i++) {
		if (!p->limits[i].set)
			continue;
		rl.rlim_cur = p->limits[i].soft;
		rl.rlim_max = p->limits[i].hard;
		if (setrlimit(limits[i].resource, &rl) == -1)
			child_fail_which(p->status_fd, STEP_RLIMIT, i, errno);
	}
}

/* In the child: libc's own signals, which tendd found ignored, reset. */
static void CHILD_CODE
child_raw_signals(void)
{
#if RAW_SIGACTION
	const struct ksigaction dfl = {0};

	for (int i = 0; i < parent.nraw; i++)
		syscall(SYS_rt_sigaction, parent.raw_signals[i], &dfl, NULL,
		        KSIGSET_SIZE);
#endif
}

/* In the child, on its own stack: system calls only. */
static int CHILD_CODE
child_exec(void *arg)
{
	const struct plan *p = arg;
	const struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	int err = ENOENT;

	/*
	 * Dispositions first, then the mask lets signals in. libc's sigaction
	 * and sigprocmask are bare system calls (async-signal-safe); libc's
	 * own signals, which its sigaction refuses, by the raw one.
	 */
	for (int i = 0; i < parent.nchanged; i++)
		sigaction(parent.changed_signals[i], &dfl, NULL);
	child_raw_signals();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() == -1)
		child_fail(p->status_fd, STEP_SETSID, errno);
	/* An env file failed in tendd: report it as any step's failure. */
	if (p->why != NULL)
		child_fail(p->status_fd, STEP_ENV_FILE, p->env_err);
	for (int fd = 0; fd < 3; fd++)
		if (p->fd[fd] != fd && dup2(p->fd[fd], fd) == -1)
			child_fail(p->status_fd, STEP_DUP2, errno);
	if (p->set_umask)
		umask(p->umask);
	if (p->directory != NULL && chdir(p->directory) == -1)
		child_fail(p->status_fd, STEP_CHDIR, errno);
	child_resources(p);
	/*
	 * Raw system calls: libc's wrappers may coordinate with other threads
	 * through memory the child shares with tendd.
	 */
	if (p->set_ids) {
		if (syscall(SYS_setgroups, p->ngroups, p->groups) == -1)
			child_fail(p->status_fd, STEP_SETGROUPS, errno);
		if (syscall(SYS_setgid, p->gid) == -1)
			child_fail(p->status_fd, STEP_SETGID, errno);
		if (syscall(SYS_setuid, p->uid) == -1)
			child_fail(p->status_fd, STEP_SETUID, errno);
	} else if (p->set_gid) {
		/* As root, drop root's supplementary groups with it. */
		if (geteuid() == 0 && syscall(SYS_setgroups, 1, &p->gid) == -1)
			child_fail(p->status_fd, STEP_SETGROUPS, errno);
		if (syscall(SYS_setgid, p->gid) == -1)
			child_fail(p->status_fd, STEP_SETGID, errno);
	}
	/* tendd's raised NOFILE is its own; limit_nofile, set above, wins. */
	if (child_nofile_set && !p->limits[LIMIT_NOFILE].set)
		setrlimit(RLIMIT_NOFILE, &child_nofile);
	for (size_t i = 0; p->paths[i]; i++) {
		execve(p->paths[i], p->argv, p->envp);
		/* Like execvp: keep the most telling error along PATH. */
		if (errno != ENOENT && errno != ENOTDIR)
			err = errno;
	}
	child_fail(p->status_fd, STEP_EXEC, err);
}

/*
 * Whether the child reported a failure on the status pipe. clone returns
 * once the child has exited (having written its failure first) or is past
 * execve's point of no return: the answer is there, so the read never
 * waits, and the pipe, empty again after it, can serve the next spawn.
 */
static bool
spawn_read_status(int fd, struct spawn_failure *f)
{
	ssize_t n;

	do
		n = read(fd, f, sizeof(*f));
	while (n == -1 && errno == EINTR);
	return n == (ssize_t)sizeof(*f);
}

static int
spawn_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) == -1) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	return 0;
}

static void
close_pair(int fds[2])
{
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/*
 * The child's end of an output pipe, given to the task's user and group:
 * a pipe is created 0600, and a task that reopens /dev/stdout (nginx's
 * access_log /dev/stdout) opens it anew, checked against its own ids.
 * Not fatal: a tendd that may not chown cannot setuid either, and the
 * child's setuid then names the problem.
 */
static void
spawn_give_pipe(const struct task_config *cfg, int fd)
{
	uid_t uid = cfg->has_user ? cfg->uid : (uid_t)-1;
	gid_t gid = cfg->has_user || cfg->has_group ? cfg->gid : (gid_t)-1;

	if ((uid == (uid_t)-1 || uid == geteuid()) &&
	    (gid == (gid_t)-1 || gid == getegid()))
		return;
	if (fchown(fd, uid, gid) == -1)
		return; /* not fatal, as said above */
}

/* The fd for stdout or stderr, and a pipe to read it from unless none. */
static int
spawn_output(const struct task_config *cfg, enum output_mode mode, int fd,
             int pipefds[2])
{
	switch (mode) {
	case OUTPUT_SYSLOG:
	case OUTPUT_CONSOLE:
	case OUTPUT_FILE:
		if (spawn_pipe(pipefds) == -1)
			return -1;
		spawn_give_pipe(cfg, pipefds[1]);
		return pipefds[1];
	case OUTPUT_NULL:
		return spawn_devnull();
	case OUTPUT_INHERIT:
		break;
	}
	return fd;
}

/* clone sharing memory, tendd suspended until the child execs or exits. */
static pid_t
spawn_clone(struct plan *p)
{
	sigset_t all, old;
	pid_t pid;
	int saved;

	sigfillset(&all);
	if (parent.has_handlers)
		sigprocmask(SIG_SETMASK, &all, &old);
	pid = clone(child_exec, child_stack + sizeof(child_stack),
	            CLONE_VM | CLONE_VFORK | SIGCHLD, p);
	saved = errno;
	if (parent.has_handlers)
		sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return pid;
}

/*
 * Start one process of cfg. io may give stdin and stdout (a connection) and
 * extra environment. On success fills out and returns 0; on failure in
 * tendd itself (pipe, fork) returns -1 with errno set and nothing left open.
 */
int
spawn_process(const struct task_config *cfg, const struct spawn_io *io,
              struct spawned *out)
{
	struct plan p = {.argv = cfg->argv, .umask = cfg->umask};
	int opipe[2] = {-1, -1}, epipe[2] = {-1, -1};
	char tend_task[TEND_TASK_SIZE];
	int saved;
	pid_t pid;

	plan_env_files(&p, cfg);
	p.envp =
	    plan_env(cfg, &p.env_files, io ? io->extra_env : NULL, tend_task);
	p.paths = plan_paths(cfg->argv[0], p.envp);
	plan_ids(&p, cfg);
	plan_resources(&p, cfg);
	p.fd[0] = io && io->in >= 0 ? io->in : spawn_devnull();
	p.fd[1] = io && io->out >= 0 ? io->out
	                             : spawn_output(cfg, cfg->out, 1, opipe);
	p.fd[2] = spawn_output(cfg, cfg->err, 2, epipe);
	/* Last before clone: what tendd is like once all the above is done. */
	if (p.fd[0] == -1 || p.fd[1] == -1 || p.fd[2] == -1 ||
	    read_parent() == -1)
		goto fail;
	p.status_fd = parent.status[1];
	p.set_umask = cfg->umask != parent.umask;
	p.directory = cfg->directory ? cfg->directory : "/";
	if (parent.in_root && strcmp(p.directory, "/") == 0)
		p.directory = NULL;

	pid = spawn_clone(&p);
	if (pid == -1)
		goto fail;
	if (opipe[1] >= 0)
		close(opipe[1]);
	if (epipe[1] >= 0)
		close(epipe[1]);
	out->pid = pid;
	out->exec_failed = spawn_read_status(parent.status[0], &out->failure);
	out->why = p.why;
	p.why = NULL;
	out->out_fd = opipe[0];
	out->err_fd = epipe[0];
	plan_free(&p);
	return 0;

fail:
	saved = errno;
	close_pair(opipe);
	close_pair(epipe);
	plan_free(&p);
	errno = saved;
	return -1;
}
