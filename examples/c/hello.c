/* The C example: prints its arguments; `exit N` as arguments makes it exit with status N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[])
{
	printf("Hello from a Unikraft unikernel linked by kraftld!\n");
	for (int i = 1; i < argc; i++)
		printf("  argument %d: %s\n", i, argv[i]);
	if (argc > 2 && strcmp(argv[1], "exit") == 0)
		exit(atoi(argv[2]));
	return 0;
}
