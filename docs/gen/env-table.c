/*
 * env-table.c - prints the settings table of shim/config.c, one row a line:
 * variable, values, default ("" when unset) and description, separated by
 * tabs.  docs/gen/env-docs.sh turns the rows into the manual's ENVIRONMENT
 * entries and the README's table.  Built by `make` as build/env-table.
 */
#include <stdio.h>

#include "config.h"

int main(void)
{
	struct zc_setting_doc d;

	for (size_t i = 0; zc_config_doc(i, &d) == 0; i++)
		printf("%s\t%s\t%s\t%s\n", d.var, d.values, d.def ? d.def : "", d.doc);
	return fflush(stdout) != 0 || ferror(stdout);
}
