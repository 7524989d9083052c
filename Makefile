# tend: a process supervisor. GNU make.
#
#   make          build build/tendd and build/tendctl
#   make run      install missing build packages, build, run tendd on
#                 conf/tend.ini in the foreground, logging to stderr
#   make check    install test packages, build, run the unit tests (plain and
#                 under ASan+UBSan) and the system tests
#   make lint     clang-format check, cppcheck, mandoc -Tlint
#   make install  PREFIX=/usr/local DESTDIR=

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
ETCDIR	?= /etc/tend
# systemd looks in /usr/lib, /usr/local/lib and /lib: the prefix's own.
UNITDIR	?= $(PREFIX)/lib/systemd/system
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions

CC	?= cc
CFLAGS	?= -O2 -g
WARNINGS = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	   -Wmissing-prototypes -Wold-style-definition -Wpointer-arith \
	   -Wwrite-strings -Wundef -Wvla -Wimplicit-fallthrough \
	   -Wredundant-decls -Wnull-dereference -Wcast-align
ALL_CFLAGS = -std=gnu11 -pthread $(WARNINGS) $(CFLAGS) \
	     $$(pkg-config --cflags inih) -D_GNU_SOURCE -D_FORTIFY_SOURCE=2
LIBS	= $$(pkg-config --libs inih) -lev -pthread

B	= build
SAN	= $(B)/san
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer

LIB_SRCS = src/xmalloc.c src/diag.c src/value.c src/cmdline.c \
	   src/signame.c src/endpoint.c src/inifile.c src/manifest.c \
	   src/describe.c src/clock.c src/log.c src/linebuf.c src/policy.c \
	   src/spawn.c src/run.c src/task.c src/notify.c src/supervisor.c \
	   src/proto.c src/control.c src/status.c src/listener.c \
	   src/sockdiag.c src/configdiff.c src/reload.c src/fds.c \
	   src/orphans.c src/ctlsocket.c src/statusenc.c src/escape.c \
	   src/logqueue.c src/logsink.c src/logring.c src/events.c src/metrics.c \
	   src/ctlclient.c src/verbs.c src/ctllog.c src/output.c src/logfile.c \
	   src/outpipe.c src/probespec.c src/probe.c src/notifysock.c \
	   src/readiness.c src/order.c src/fdcloser.c src/taskview.c \
	   src/include.c src/envfile.c src/sockfile.c src/sources.c
LIB_OBJS = $(LIB_SRCS:src/%.c=$(B)/%.o)
SAN_OBJS = $(LIB_SRCS:src/%.c=$(SAN)/%.o)
HEADERS  = $(wildcard src/*.h)

UNIT_SRCS  = $(wildcard tests/unit/test_*.c)
UNIT_TESTS = $(UNIT_SRCS:tests/unit/%.c=$(B)/%)
SAN_TESTS  = $(UNIT_SRCS:tests/unit/%.c=$(SAN)/%)

BUILD_DEPS = gcc make pkg-config libev-dev libinih-dev
TEST_DEPS  = $(BUILD_DEPS) libcmocka-dev python3-pytest python3 procps \
	     faketime
LINT_DEPS  = clang-format cppcheck mandoc

# --confcutdir: no conftest.py from a directory above the checkout.
PYTEST	= /usr/bin/python3 -m pytest --confcutdir=tests/system

.PHONY: all run check unit unit-san system lint install clean \
	deps test-deps lint-deps bench bench-control bench-requests \
	bench-operate bench-ready bench-keys valgrind

all: $(B)/tendd $(B)/tendctl

$(B) $(SAN):
	$(Q)mkdir -p $@

# V=1 shows the commands in full.
Q	= $(if $(V),,@)
say	= $(if $(V),,@echo "  $(1)	$@";)

$(B)/%.o: src/%.c $(HEADERS) | $(B)
	$(call say,CC)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(SAN)/%.o: src/%.c $(HEADERS) | $(SAN)
	$(call say,CC)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c -o $@ $<

$(B)/libtend.a: $(LIB_OBJS)
	$(call say,AR)rm -f $@ && ar rcs $@ $^

$(SAN)/libtend.a: $(SAN_OBJS)
	$(call say,AR)rm -f $@ && ar rcs $@ $^

$(B)/tendd: $(B)/tendd.o $(B)/libtend.a
	$(call say,LD)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

# tendctl needs neither libev nor inih: it starts faster without them.
$(B)/tendctl: $(B)/tendctl.o $(B)/libtend.a
	$(call say,LD)$(CC) $(CFLAGS) -Wl,--as-needed -o $@ $^ $(LIBS)

$(B)/test_%: tests/unit/test_%.c $(B)/libtend.a $(HEADERS)
	$(call say,CC)$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(B)/libtend.a \
		$(LIBS) -lcmocka

$(SAN)/test_%: tests/unit/test_%.c $(SAN)/libtend.a $(HEADERS)
	$(call say,CC)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Isrc -o $@ $< \
		$(SAN)/libtend.a $(LIBS) -lcmocka

# Install what is missing from a list of Debian packages; a no-op when all
# are present. Not root: say what to install and stop.
define apt_install
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
			grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "missing packages:$$missing (run as root or apt-get install them)"; \
			exit 1; \
		fi; \
		echo "installing:$$missing"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call apt_install,$(BUILD_DEPS))

test-deps:
	$(call apt_install,$(TEST_DEPS))

lint-deps:
	$(call apt_install,$(LINT_DEPS))

run: deps
	$(MAKE) all
	exec ./$(B)/tendd -e -f conf/tend.ini

check: test-deps
	$(MAKE) all unit unit-san system

unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do echo "== $$t"; ./$$t || exit 1; done

unit-san: $(SAN_TESTS)
	@for t in $(SAN_TESTS); do echo "== $$t (asan+ubsan)"; \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1 ./$$t || exit 1; done

# Programs the system tests run as tasks (an sd_notify client).
TEST_HELPERS = $(B)/tests/sdnotify
$(B)/tests/%: tests/helpers/%.c
	$(Q)mkdir -p $(B)/tests
	$(call say,CC)$(CC) -std=gnu11 $(WARNINGS) $(CFLAGS) -o $@ $<

system: all $(TEST_HELPERS)
	$(PYTEST) -q tests/system

# The system tests again, with tendd under valgrind (memcheck, leaks).
valgrind: all $(TEST_HELPERS)
	$(call apt_install,valgrind)
	TENDD=$(CURDIR)/tests/valgrind-tendd $(PYTEST) -q tests/system

lint: lint-deps
	clang-format --dry-run -Werror src/*.c src/*.h tests/unit/*.c \
		tests/helpers/*.c
	cppcheck --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --quiet -D__GNUC__ --std=c11 \
		--suppress=missingIncludeSystem src tests/unit tests/helpers
	mandoc -Tlint -Wwarning man/*

# Benchmarks: not tests; figures go in the issue's closing note. The
# programs whose start is timed (ping, hello) are static: no dynamic loader
# in every figure.
$(B)/bench/ping $(B)/bench/hello: BENCH_LDFLAGS = -static
$(B)/bench/loadgen: BENCH_LDFLAGS = -pthread
$(B)/bench/%: bench/%.c
	$(Q)mkdir -p $(B)/bench
	$(call say,LD)$(CC) -std=gnu11 $(WARNINGS) -O2 $(BENCH_LDFLAGS) -o $@ $<

bench: all $(B)/bench/ping $(B)/bench/minisup
	/usr/bin/python3 bench/engine.py

bench-requests: all $(B)/bench/hello $(B)/bench/vforkd $(B)/bench/loadgen \
		$(B)/bench/spawncost
	$(call apt_install,xinetd ucspi-tcp)
	/usr/bin/python3 bench/requests.py

bench-keys: all $(B)/bench/hello $(B)/bench/loadgen
	/usr/bin/python3 bench/keys.py

bench-control: all
	$(call apt_install,supervisor runit)
	/usr/bin/python3 bench/control.py

# Log rings' memory, output throughput, metrics latency (issue 13).
bench-operate: all $(B)/bench/dgramsink
	/usr/bin/python3 bench/operate.py

# Readiness, start order and health checks (issue 14).
bench-ready: all $(TEST_HELPERS)
	/usr/bin/python3 bench/ready.py

# The manifest is a configuration file: installed only where there is none,
# never over one; its pristine copy, tend.ini.example, always.
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(ETCDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPLETIONDIR)
	install -m 755 $(B)/tendd $(DESTDIR)$(SBINDIR)/tendd
	install -m 755 $(B)/tendctl $(DESTDIR)$(BINDIR)/tendctl
	install -m 644 man/tendctl.1 $(DESTDIR)$(MANDIR)/man1/tendctl.1
	install -m 644 man/tend.ini.5 $(DESTDIR)$(MANDIR)/man5/tend.ini.5
	install -m 644 man/tendd.8 $(DESTDIR)$(MANDIR)/man8/tendd.8
	sed 's|^ExecStart=/usr/sbin/tendd|ExecStart=$(SBINDIR)/tendd|' \
		conf/tendd.service > $(B)/tendd.service
	install -m 644 $(B)/tendd.service $(DESTDIR)$(UNITDIR)/tendd.service
	install -m 644 conf/tendctl.bash $(DESTDIR)$(COMPLETIONDIR)/tendctl
	install -m 644 conf/default.ini $(DESTDIR)$(ETCDIR)/tend.ini.example
	test -e $(DESTDIR)$(ETCDIR)/tend.ini || test -L $(DESTDIR)$(ETCDIR)/tend.ini || \
		install -m 644 conf/default.ini $(DESTDIR)$(ETCDIR)/tend.ini

clean:
	rm -rf $(B) tests/system/__pycache__ .pytest_cache
