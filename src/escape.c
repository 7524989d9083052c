/*
 * escape.c: a line of task output made safe for a terminal or a syslog
 * file. Every control byte but TAB, and DEL, is written as \xHH (NUL as
 * \0), so that a task cannot move the cursor, overwrite a line with CR or
 * cut it short with NUL. Bytes from 0x80 up pass: they are UTF-8. A
 * backslash is left as it is, so that text the task escaped itself (JSON,
 * for one) reads as written.
 */
#include "tend.h"

static bool
escape_needed(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/*
 * Write the len bytes at in, escaped and NUL-terminated, to out, which
 * holds ESCAPE_SIZE(len) bytes; return the length written.
 */
size_t
escape_bytes(char *out, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (!escape_needed(c)) {
			out[n++] = (char)c;
			continue;
		}
		out[n++] = '\\';
		if (c == '\0') {
			out[n++] = '0';
			continue;
		}
		out[n++] = 'x';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 0xf];
	}
	out[n] = '\0';
	return n;
}
