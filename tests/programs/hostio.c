/* A C test program that reaches the host: environment variables and files in shared folders.
 *
 *   hostio env NAME...            prints NAME=<value> (or NAME unset) for each NAME
 *   hostio read PATH              prints the file's contents between < and >
 *   hostio write PATH TEXT        writes TEXT to PATH (created or truncated)
 *   hostio list PATH              prints the names in a folder, one a line
 *   hostio hang                   prints "running" and never ends (the runner's timeout stops it)
 * A failed file operation prints the errno and returns 2.
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
	printf("%s %s failed: errno %d\n", what, path, errno);
	return 2;
}

int main(int argc, char *argv[])
{
	if (argc > 1 && strcmp(argv[1], "env") == 0) {
		for (int i = 2; i < argc; i++) {
			const char *value = getenv(argv[i]);
			if (value)
				printf("%s=<%s>\n", argv[i], value);
			else
				printf("%s unset\n", argv[i]);
		}
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "read") == 0) {
		char buffer[4096];
		int fd = open(argv[2], O_RDONLY);
		if (fd < 0)
			return fail("open", argv[2]);
		ssize_t got = read(fd, buffer, sizeof(buffer) - 1);
		if (got < 0)
			return fail("read", argv[2]);
		buffer[got] = '\0';
		close(fd);
		printf("<%s>\n", buffer);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "write") == 0) {
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return fail("open", argv[2]);
		size_t length = strlen(argv[3]);
		if (write(fd, argv[3], length) != (ssize_t)length)
			return fail("write", argv[2]);
		if (close(fd) != 0)
			return fail("close", argv[2]);
		printf("wrote %zu bytes\n", length);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "list") == 0) {
		DIR *folder = opendir(argv[2]);
		if (!folder)
			return fail("opendir", argv[2]);
		for (struct dirent *entry; (entry = readdir(folder)) != NULL;)
			if (entry->d_name[0] != '.')
				printf("%s\n", entry->d_name);
		closedir(folder);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "hang") == 0) {
		printf("running\n");
		for (;;)
			;
	}
	printf("usage: hostio env NAME... | read PATH | write PATH TEXT | list PATH | hang\n");
	return 64;
}
