/*
 * envhelp.c - `zcopy help env`: the ZCOPY_* settings, printed from the
 * library's own settings table (shim/config.c, compiled into the tool), so
 * the help always says what the library reads.  The manual's ENVIRONMENT
 * section and the README's table are generated from the same rows
 * (docs/gen/env-docs.sh), and `make test` fails when they differ.
 */
#include <stdio.h>

#include "config.h"
#include "tool.h"
#include "zcopy.h"

#define WIDTH 79
#define INDENT 6

/* Prints s without its `literal` marks (a terminal shows no markup), words
 * wrapped before WIDTH, each line indented by INDENT. */
static void print_wrapped(const char *s)
{
	size_t col = 0;

	while (*s) {
		size_t len = 0, shown = 0;

		while (*s == ' ')
			s++;
		if (!*s)
			break;
		for (; s[len] && s[len] != ' '; len++)
			shown += s[len] != '`';
		if (col && col + 1 + shown > WIDTH) {
			putchar('\n');
			col = 0;
		}
		if (col == 0) {
			printf("%*s", INDENT, "");
			col = INDENT;
		} else {
			putchar(' ');
			col++;
		}
		for (size_t i = 0; i < len; i++)
			if (s[i] != '`')
				putchar(s[i]);
		col += shown;
		s += len;
	}
	if (col)
		putchar('\n');
}

static void print_plain(const char *s)
{
	for (; *s; s++)
		if (*s != '`')
			putchar(*s);
}

void zt_print_env_help(void)
{
	struct zc_setting_doc d;

	fputs("Settings of libzcopy.so, read once at start-up in every process it is\n"
	      "loaded into.  A bad value is reported on stderr and the default is used\n"
	      "(for ZCOPY_MODE: off).\n", stdout);
	for (size_t i = 0; zc_config_doc(i, &d) == 0; i++) {
		printf("\n  %s: ", d.var);
		print_plain(d.values);
		printf("; default %s\n", d.def ? d.def : "unset");
		print_wrapped(d.doc);
	}
	fputs("\nRead by the zcopy command only:\n"
	      "  " ZCOPY_ENV_LIBRARY ": the absolute path of the libzcopy.so to preload.\n",
	      stdout);
}
