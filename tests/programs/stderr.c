/* Standard error apart from standard output, through every stdio call a program makes on it
 * (at -O2 gcc turns printf of a plain line into puts, fprintf of a plain string and fputs of a
 * constant into fwrite). For nolibc, whose stdio has no file descriptors. */
#include <stdio.h>

int main(void)
{
	printf("out 1\n");
	fprintf(stderr, "err %d %s\n", 7, "seven");
	fputs("out 2\n", stdout);
	fputs("err fputs\n", stderr);
	fprintf(stderr, "err literal\n");
	fprintf(stderr, "%s", "err via %s\n");
	fputc('!', stderr);
	fputc('\n', stderr);
	fprintf(stdout, "out 3\n");
	return 0;
}
