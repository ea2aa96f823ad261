/* kraftld's compiler launcher for Unikraft's build: runs the compiler in the build folder, its paths relative to it.
 *
 * kraftld_cc_launcher BUILD_DIR [--objects=STORE --config=HEADER] COMPILER [ARGS...] (compiled on
 * the host once per cache with blake2b.c, objects.c and tables.c; see kraftld/ccache.py for why
 * each step is there):
 *   1. change to BUILD_DIR by its real path; if that fails (Unikraft asks `$(CC) -E -P -x c -`
 *      before the folder exists), run COMPILER ARGS as they are;
 *   2. every word that starts with "BUILD_DIR/", "-IBUILD_DIR/" or "-Wp,-MD,BUILD_DIR/" loses the
 *      folder, so the command reads the same for every build folder (a compiler cache's key);
 *   3. run it with -fno-working-directory -fdebug-prefix-map=BUILD_DIR=DEBUG_PREFIX added; with
 *      --objects, a compile of one object is served from (or kept in) the object store at STORE
 *      (objects.c), HEADER being Unikraft's configuration header relative to BUILD_DIR;
 *   4. make runs in the Unikraft tree: in the dependency file gcc wrote (-Wp,-MD,FILE), every
 *      name that is not absolute is made absolute again by putting BUILD_DIR/ before it, where a
 *      space is followed by anything but '/', ' ', '\' or the end of the line.
 * It is C, not a shell script: a musl build compiles some 1,400 files, and a bash launcher
 * (bash's start and its expansions over 300 words, then a sed) cost about 10 ms a compile, more
 * than a ccache hit's own lookup.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher.h"

#ifndef KRAFTLD_DEBUG_PREFIX
#error "KRAFTLD_DEBUG_PREFIX must be defined (kraftld/ccache.py passes it)"
#endif

static const char *strip(const char *word, const char *prefix, const char *dir, size_t dir_len, char **made)
{
	size_t prefix_len = strlen(prefix);

	if (strncmp(word, prefix, prefix_len) != 0 || strncmp(word + prefix_len, dir, dir_len) != 0 ||
	    word[prefix_len + dir_len] != '/')
		return NULL;
	if (asprintf(made, "%s%s", prefix, word + prefix_len + dir_len + 1) < 0) {
		perror("kraftld_cc_launcher");
		exit(1);
	}
	return *made;
}

static int rewrite_depfile(const char *path, const char *dir)
{
	size_t dir_len = strlen(dir), length = 0, capacity = 0, i;
	char *text = NULL, *out, *temporary = NULL, *p;
	FILE *file = fopen(path, "rb");
	FILE *written;

	if (file == NULL)
		goto fail;
	for (;;) {
		if (length == capacity) {
			capacity = capacity ? capacity * 2 : 65536;
			p = realloc(text, capacity);
			if (p == NULL)
				goto fail;
			text = p;
		}
		size_t got = fread(text + length, 1, capacity - length, file);
		length += got;
		if (got == 0)
			break;
	}
	if (ferror(file))
		goto fail;
	fclose(file);
	file = NULL;

	/* at most one insertion per two bytes */
	out = malloc(length + (length / 2 + 1) * (dir_len + 1));
	if (out == NULL)
		goto fail;
	p = out;
	for (i = 0; i < length; i++) {
		*p++ = text[i];
		if (text[i] == ' ' && i + 1 < length && !strchr("/ \\\n", text[i + 1])) {
			memcpy(p, dir, dir_len);
			p += dir_len;
			*p++ = '/';
		}
	}
	/* a new file renamed over the old one, as `sed -i` does */
	if (asprintf(&temporary, "%s.kraftld-%ld", path, (long)getpid()) < 0)
		goto fail;
	written = fopen(temporary, "wb");
	if (written == NULL)
		goto fail;
	if (fwrite(out, 1, (size_t)(p - out), written) != (size_t)(p - out) || fclose(written) != 0 ||
	    rename(temporary, path) != 0) {
		unlink(temporary);
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "kraftld_cc_launcher: %s: %s\n", path, strerror(errno));
	if (file != NULL)
		fclose(file);
	return 1;
}

int run_compiler(char **args, int stderr_fd)
{
	pid_t child = fork();
	int status;

	if (child < 0) {
		perror("kraftld_cc_launcher: fork");
		return 1;
	}
	if (child == 0) {
		if (stderr_fd != 2 && dup2(stderr_fd, 2) < 0)
			_exit(127);
		execvp(args[0], args);
		fprintf(stderr, "kraftld_cc_launcher: %s: %s\n", args[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("kraftld_cc_launcher: waitpid");
			return 1;
		}
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static const char *option(const char *word, const char *name)
{
	size_t n = strlen(name);

	return strncmp(word, name, n) == 0 ? word + n : NULL;
}

int main(int argc, char **argv)
{
	char *dir, **args, *made;
	const char *depfile = NULL, *store = NULL, *config = NULL, *value, *output = NULL;
	size_t dir_len;
	int i, n = 0, first = 2, status;

	for (; first < argc; first++) {
		if ((value = option(argv[first], "--objects=")) != NULL)
			store = value;
		else if ((value = option(argv[first], "--config=")) != NULL)
			config = value;
		else
			break;
	}
	if (argc - first < 1 || (store != NULL) != (config != NULL)) {
		fprintf(stderr, "usage: kraftld_cc_launcher BUILD_DIR [--objects=STORE --config=HEADER] COMPILER [ARGS...]\n");
		return 2;
	}
	if (chdir(argv[1]) != 0 || (dir = getcwd(NULL, 0)) == NULL) {
		execvp(argv[first], argv + first);
		fprintf(stderr, "kraftld_cc_launcher: %s: %s\n", argv[first], strerror(errno));
		return 127;
	}
	dir_len = strlen(dir);
	args = calloc((size_t)argc + 2, sizeof(*args));
	if (args == NULL) {
		perror("kraftld_cc_launcher");
		return 1;
	}
	for (i = first; i < argc; i++) {
		const char *word = argv[i], *relative;

		made = NULL;
		if (strncmp(word, "-Wp,-MD,", 8) == 0 && strncmp(word + 8, dir, dir_len) == 0 && word[8 + dir_len] == '/')
			depfile = word + 8;
		if ((relative = strip(word, "", dir, dir_len, &made)) == NULL &&
		    (relative = strip(word, "-I", dir, dir_len, &made)) == NULL &&
		    (relative = strip(word, "-Wp,-MD,", dir, dir_len, &made)) == NULL)
			relative = word;
		args[n++] = (char *)relative;
	}
	args[n++] = "-fno-working-directory";
	if (asprintf(&made, "-fdebug-prefix-map=%s=%s", dir, KRAFTLD_DEBUG_PREFIX) < 0) {
		perror("kraftld_cc_launcher");
		return 1;
	}
	args[n++] = made;
	args[n] = NULL;

	if (store != NULL && depfile != NULL && objects_eligible(args, &output)) {
		struct compile compile = {args, output, depfile + dir_len + 1, store, config, dir, made};

		status = objects_compile(&compile);
	} else {
		status = run_compiler(args, 2);
	}
	if (status != 0)
		return status;
	if (depfile != NULL) {
		struct stat info;

		if (stat(depfile, &info) == 0 && S_ISREG(info.st_mode))
			return rewrite_depfile(depfile, dir);
	}
	return 0;
}
