/*
 * fdcloser.c: the last close of file descriptors that other processes
 * sent tendd (a task's FDSTORE=1 or barrier on the notify socket), done by
 * a thread of its own, never on the loop. Closing the last reference to a
 * file can wait as long as its sender likes: a TCP socket with SO_LINGER
 * and unsent data, a FUSE file whose flush never answers, a tty draining
 * its output. The thread may wait that long; the loop never does.
 *
 * The queue is bounded: a sender waiting on a close that never ends fills
 * it, and then whoever hands fds here stops taking more (fdcloser_room)
 * until it drains (fdcloser_when_room). The thread starts with the first
 * fd, with every signal blocked (they are the loop's), and is never
 * joined: at exit it may be stuck in a close, which exit does not wait
 * for.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	int fds[FDCLOSER_MAX]; /* a ring */
	size_t head, count;
	bool started;
	bool waiting;  /* someone waits for room: fdcloser_when_room */
	ev_async room; /* the thread tells the loop there is room again */
	void (*on_room)(void);
} fc = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .more = PTHREAD_COND_INITIALIZER,
};

static void *
fdcloser_thread(void *arg)
{
	(void)arg;
	for (;;) {
		int fd;
		bool wake;

		pthread_mutex_lock(&fc.lock);
		while (fc.count == 0)
			pthread_cond_wait(&fc.more, &fc.lock);
		fd = fc.fds[fc.head];
		fc.head = (fc.head + 1) % FDCLOSER_MAX;
		fc.count--;
		pthread_mutex_unlock(&fc.lock);
		close(fd); /* may take long: that is why we are here */
		pthread_mutex_lock(&fc.lock);
		wake = fc.waiting && fc.count <= FDCLOSER_MAX / 2;
		if (wake)
			fc.waiting = false;
		pthread_mutex_unlock(&fc.lock);
		if (wake)
			ev_async_send(EV_DEFAULT, &fc.room);
	}
	return NULL;
}

static void
room_cb(EV_P_ ev_async *w, int revents)
{
	(void)EV_A;
	(void)w;
	(void)revents;
	if (fc.on_room)
		fc.on_room();
}

/* The thread, at the first fd; -1 if it cannot be had (logged). */
static int
fdcloser_start(void)
{
	sigset_t all, old;
	pthread_t thread;
	int err;

	ev_async_init(&fc.room, room_cb);
	ev_async_start(EV_DEFAULT, &fc.room);
	ev_unref(EV_DEFAULT); /* the loop may end while it waits */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&thread, NULL, fdcloser_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		log_msg(LOG_ERR, "cannot start a thread to close fds: %s",
		        strerror(err));
		return -1;
	}
	pthread_detach(thread);
	fc.started = true;
	return 0;
}

/* How many more fds fdcloser_give takes now. */
size_t
fdcloser_room(void)
{
	size_t room;

	pthread_mutex_lock(&fc.lock);
	room = FDCLOSER_MAX - fc.count;
	pthread_mutex_unlock(&fc.lock);
	return room;
}

/*
 * Close fd, soon, off the loop; the caller must have made sure of room.
 * Without a thread (none could be started), it is closed here.
 */
void
fdcloser_give(int fd)
{
	if (!fc.started && fdcloser_start() == -1) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&fc.lock);
	if (fc.count < FDCLOSER_MAX) {
		fc.fds[(fc.head + fc.count) % FDCLOSER_MAX] = fd;
		fc.count++;
		fd = -1;
		pthread_cond_signal(&fc.more);
	}
	pthread_mutex_unlock(&fc.lock);
	if (fd != -1)
		close(fd); /* no room: the caller did not ask; at least close */
}

/* Call cb from the loop once the queue has drained to half. */
void
fdcloser_when_room(void (*cb)(void))
{
	bool now;

	fc.on_room = cb;
	pthread_mutex_lock(&fc.lock);
	now = fc.count <= FDCLOSER_MAX / 2;
	fc.waiting = !now;
	pthread_mutex_unlock(&fc.lock);
	if (now)
		cb();
}
