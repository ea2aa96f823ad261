/* A C test program (nolibc) reading the files its initrd put at /.
 *
 *   rootfiles cat PATH...   prints each file's contents between < and >
 *   rootfiles ls PATH       prints the names in a folder, sorted, one a line
 * A failed file operation prints the errno on stderr and returns 2.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "%s %s failed: errno %d\n", what, path, errno);
	return 2;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char *argv[])
{
	if (argc > 2 && strcmp(argv[1], "cat") == 0) {
		for (int i = 2; i < argc; i++) {
			char buffer[4096];
			int fd = open(argv[i], O_RDONLY);
			if (fd < 0)
				return fail("open", argv[i]);
			ssize_t got = read(fd, buffer, sizeof(buffer) - 1);
			if (got < 0)
				return fail("read", argv[i]);
			buffer[got] = '\0';
			close(fd);
			printf("<%s>\n", buffer);
		}
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "ls") == 0) {
		char *names[64];
		int count = 0;
		DIR *dir = opendir(argv[2]);
		if (!dir)
			return fail("opendir", argv[2]);
		struct dirent *entry;
		while ((entry = readdir(dir)) && count < 64)
			if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, ".."))
				names[count++] = strdup(entry->d_name);
		closedir(dir);
		qsort(names, count, sizeof(names[0]), by_name);
		for (int i = 0; i < count; i++)
			printf("%s\n", names[i]);
		return 0;
	}
	fprintf(stderr, "usage: rootfiles cat PATH... | ls PATH\n");
	return 64;
}
