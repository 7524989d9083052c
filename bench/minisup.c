/*
 * minisup.c: the least a supervisor can do, for comparison: vfork and exec
 * argv[1..] again each time it dies, with a blocking waitpid. No logging,
 * no pipes, no event loop: the machine's floor for restart latency.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int
main(int argc, char **argv)
{
	int status;
	pid_t pid;

	if (argc < 2)
		return 2;
	for (;;) {
		pid = vfork();
		if (pid == 0) {
			execve(argv[1], argv + 1, environ);
			_exit(127);
		}
		if (pid == -1 || waitpid(pid, &status, 0) == -1)
			return 1;
	}
}
