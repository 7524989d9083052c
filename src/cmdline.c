/*
 * cmdline.c: split a command into words the way a POSIX shell does, with
 * none of its expansions. Outside quotes a backslash takes the next
 * character literally; single quotes take everything literally; inside
 * double quotes a backslash escapes only \ " $ and `. '' and "" make an
 * empty word. Nothing else ($VAR, ~, *, ;, |) is special.
 */
#include <stdlib.h>
#include <string.h>

#include "tend.h"

static bool
cmdline_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/*
 * Copy one word starting at *src into dst, advancing both.
 * Returns NULL or why the word is malformed.
 */
static const char *
cmdline_word(const char **src, char **dst)
{
	const char *s = *src;
	char *d = *dst;

	while (*s && !cmdline_blank(*s)) {
		switch (*s) {
		case '\\':
			if (s[1] == '\0')
				return "ends with a backslash";
			*d++ = s[1];
			s += 2;
			break;
		case '\'':
			for (s++; *s != '\''; s++) {
				if (*s == '\0')
					return "unterminated single quote";
				*d++ = *s;
			}
			s++;
			break;
		case '"':
			for (s++; *s != '"'; s++) {
				if (*s == '\0')
					return "unterminated double quote";
				if (*s == '\\' && s[1] &&
				    strchr("\\\"$`", s[1]))
					s++;
				*d++ = *s;
			}
			s++;
			break;
		default:
			*d++ = *s++;
		}
	}
	*d++ = '\0';
	*src = s;
	*dst = d;
	return NULL;
}

/*
 * Split s into a NULL-terminated argv held in one allocation (free(argv)
 * frees it all). Returns NULL, or why s is not a command.
 */
const char *
cmdline_split(const char *s, char ***argvp, int *argcp)
{
	size_t len = strlen(s);
	size_t maxwords =
	    len / 2 + 2; /* each word but the last takes a blank */
	char **argv = xmalloc(maxwords * sizeof(char *) + len + 1);
	char *d = (char *)(argv + maxwords);
	const char *why = NULL;
	int argc = 0;

	for (;;) {
		while (cmdline_blank(*s))
			s++;
		if (*s == '\0')
			break;
		argv[argc++] = d;
		if ((why = cmdline_word(&s, &d)) != NULL)
			break;
	}
	argv[argc] = NULL;
	if (why == NULL && argc == 0)
		why = "empty command";
	else if (why == NULL && argv[0][0] == '\0')
		why = "empty program name";
	if (why != NULL) {
		free(argv);
		return why;
	}
	*argvp = argv;
	*argcp = argc;
	return NULL;
}
