/* A C test program whose behaviour its arguments choose: print, return, exit, crash, abort, hang. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PROGRAM_NAME
#define PROGRAM_NAME "behave"
#endif

int main(int argc, char *argv[])
{
	printf("program %s argc=%d\n", PROGRAM_NAME, argc);
	for (int i = 1; i < argc; i++)
		printf("arg[%d]=<%s>\n", i, argv[i]);
	if (argc > 2 && strcmp(argv[1], "return") == 0)
		return atoi(argv[2]);
	if (argc > 2 && strcmp(argv[1], "exit") == 0) {
		printf("exiting with %s", argv[2]); /* no newline: output must still arrive whole */
		exit(atoi(argv[2]));
	}
	if (argc > 1 && strcmp(argv[1], "crash") == 0) {
		volatile int *nowhere = (volatile int *)0;
		*nowhere = 1;
	}
	if (argc > 1 && strcmp(argv[1], "abort") == 0)
		abort();
	if (argc > 1 && strcmp(argv[1], "hang") == 0)
		for (;;)
			;
	return 0;
}
