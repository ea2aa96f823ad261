/* The launcher's object store: a compile served from an earlier configuration's object when none of the options it reads changed.
 *
 * Unikraft's make compiles every object again after any configuration change (its rules depend
 * on the configuration header, `uk/bits/config.h`, "until we can handle changes that affect the
 * compile command lines properly": support/build/Makefile.rules), and ccache can only serve those
 * compiles in its preprocessor mode (the header's contents differ), which still runs the
 * preprocessor. Yet most objects read few options: Linux's fixdep (which Unikraft runs too) lists
 * them per object as the CONFIG_ words its sources and headers contain. The store keeps each
 * compiled object under
 *
 *   the command (its words, the compiler's identity, the environment gcc reads) -> a manifest of
 *   entries, each: the files the dependency file named with their contents' hashes, the CONFIG_
 *   words those files contain, and the configuration header's definitions of those words
 *
 * and a later compile whose files hash the same and whose configuration header defines those
 * words the same is given that object: the preprocessor would read the same files and take the
 * same branches, so gcc would write the same bytes (the integration tests compare every object of
 * a configuration served this way with the same configuration compiled without any cache).
 *
 * Nothing is kept when the files could make the preprocessor depend on more than their words:
 * `##` next to a CONFIG_ word (a pasted option name, as posix-environ's environ.c does), the
 * clock (__DATE__, __TIME__, __TIMESTAMP__), or __has_include (a file that is not in the list).
 * As with ccache's direct mode, a header that appears later in an earlier folder of the include
 * path is not seen (ccache's manual, "The direct mode").
 *
 * A file the build generated of nothing but object-like definitions (libuklibid's numbering of
 * the libraries, which every new library changes) is a table (tables.c): its entry line records
 * its hash and the hash of the definitions the compile's other files reach, the reach itself kept
 * beside the object, and a table that changed serves when its reached definitions are the same.
 *
 * Layout: STORE/m/<command hash> manifests, STORE/o/<object hash>.{o,d,err,r}, STORE/tmp.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launcher.h"

#define STORE_VERSION "kraftld-objects 2"
/* A manifest past this size starts again: one per command, a few configurations each. */
#define MANIFEST_LIMIT (256 * 1024)

/* gcc's environment that changes what it reads or writes (gcc's manual, "Environment Variables") */
static const char *const environment[] = {
	"CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "GCC_EXEC_PREFIX",
	"COMPILER_PATH", "SOURCE_DATE_EPOCH", "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES", NULL,
};

struct buffer {
	char *data;
	size_t length;
};

static int read_all(const char *path, struct buffer *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat info;
	size_t done = 0;

	out->data = NULL;
	out->length = 0;
	if (fd < 0)
		return -1;
	if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
		close(fd);
		return -1;
	}
	out->data = malloc((size_t)info.st_size + 1);
	if (out->data == NULL) {
		close(fd);
		return -1;
	}
	while (done < (size_t)info.st_size) {
		ssize_t got = read(fd, out->data + done, (size_t)info.st_size - done);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		done += (size_t)got;
	}
	close(fd);
	out->data[done] = '\0';
	out->length = done;
	return done == (size_t)info.st_size ? 0 : -1;
}

static int write_all(int fd, const char *data, size_t length)
{
	while (length > 0) {
		ssize_t put = write(fd, data, length);

		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			return -1;
		data += put;
		length -= (size_t)put;
	}
	return 0;
}

/* path's new contents appear whole: a temporary beside it, renamed over it */
static int replace_with(const char *path, const char *data, size_t length)
{
	char *temporary;
	int fd, failed;

	if (asprintf(&temporary, "%s.kraftld-%ld", path, (long)getpid()) < 0)
		return -1;
	fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(temporary);
		return -1;
	}
	failed = write_all(fd, data, length) != 0;
	failed |= close(fd) != 0;
	if (!failed)
		failed = rename(temporary, path) != 0;
	if (failed)
		unlink(temporary);
	free(temporary);
	return failed ? -1 : 0;
}

static int hash_file(const char *path, char hex[DIGEST_HEX + 1])
{
	struct buffer contents;
	struct hasher hasher;

	if (read_all(path, &contents) != 0) {
		free(contents.data);
		return -1;
	}
	hasher_init(&hasher);
	hasher_update(&hasher, contents.data, contents.length);
	hasher_final(&hasher, hex);
	free(contents.data);
	return 0;
}

/* an -I folder: see include_dirs */
static int is_include_word(const char *word)
{
	return strncmp(word, "-I", 2) == 0 && word[2] != '\0';
}

/* --- the command's hash ------------------------------------------------------------------- */

static void hash_string(struct hasher *hasher, const char *text)
{
	hasher_update(hasher, text, strlen(text) + 1);
}

/* the program a command word runs, found on PATH as execvp would */
static void hash_program(struct hasher *hasher, const char *word)
{
	const char *path = getenv("PATH");
	char *candidate = NULL;
	struct stat info;

	if (strchr(word, '/') != NULL) {
		if (asprintf(&candidate, "%s", word) < 0)
			return;
	} else {
		const char *p = path ? path : "";

		for (;;) {
			const char *end = strchrnul(p, ':');

			if (asprintf(&candidate, "%.*s/%s", (int)(end - p), p, word) < 0)
				return;
			if (access(candidate, X_OK) == 0)
				break;
			free(candidate);
			candidate = NULL;
			if (*end == '\0')
				break;
			p = end + 1;
		}
	}
	if (candidate == NULL || stat(candidate, &info) != 0) {
		hash_string(hasher, "?");
	} else {
		char identity[128];

		/* ccache's default compiler_check: the program's size and modification time */
		snprintf(identity, sizeof(identity), "%lld %lld.%09ld", (long long)info.st_size,
			 (long long)info.st_mtim.tv_sec, info.st_mtim.tv_nsec);
		hash_string(hasher, identity);
	}
	free(candidate);
}

static void command_hash(const struct compile *compile, char hex[DIGEST_HEX + 1])
{
	struct hasher hasher;
	int i;

	hasher_init(&hasher);
	hash_string(&hasher, STORE_VERSION);
	for (i = 0; compile->args[i] != NULL; i++)
		if (!is_include_word(compile->args[i]) && compile->args[i] != compile->prefix_map)
			hash_string(&hasher, compile->args[i]);
	hash_string(&hasher, "");
	/* the programs: the words before the first option (ccache, distcc, gcc) */
	for (i = 0; compile->args[i] != NULL && compile->args[i][0] != '-'; i++)
		hash_program(&hasher, compile->args[i]);
	for (i = 0; environment[i] != NULL; i++) {
		const char *value = getenv(environment[i]);

		hash_string(&hasher, environment[i]);
		hash_string(&hasher, value ? value : "\001unset");
	}
	hasher_final(&hasher, hex);
}

/* --- the configuration header ------------------------------------------------------------ */

struct definition {
	const char *name;
	const char *value; /* the rest of the #define line */
};

struct configuration {
	struct definition *definitions;
	size_t count;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct definition *)a)->name, ((const struct definition *)b)->name);
}

/* Kconfig's header: one `#define CONFIG_NAME VALUE` a line (and comments) */
static int read_configuration(const char *path, struct configuration *out)
{
	struct buffer text;
	size_t capacity = 0;
	char *line, *next;

	out->definitions = NULL;
	out->count = 0;
	if (read_all(path, &text) != 0)
		return -1;
	for (line = text.data; line != NULL && *line != '\0'; line = next) {
		char *name, *end;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strncmp(line, "#define ", 8) != 0)
			continue;
		name = line + 8;
		end = name + strcspn(name, " \t");
		if (*end != '\0')
			*end++ = '\0';
		if (out->count == capacity) {
			capacity = capacity ? 2 * capacity : 512;
			out->definitions = realloc(out->definitions, capacity * sizeof(*out->definitions));
			if (out->definitions == NULL)
				return -1;
		}
		out->definitions[out->count].name = name;
		out->definitions[out->count].value = end;
		out->count++;
	}
	qsort(out->definitions, out->count, sizeof(*out->definitions), by_name);
	return 0;
}

/* the hash of what the header defines for these words (NUL-separated, sorted) */
static void options_hash(const struct configuration *configuration, const char *words, size_t length,
			 char hex[DIGEST_HEX + 1])
{
	struct hasher hasher;
	const char *word;

	hasher_init(&hasher);
	for (word = words; word < words + length; word += strlen(word) + 1) {
		struct definition key = {word, NULL}, *found;

		found = bsearch(&key, configuration->definitions, configuration->count, sizeof(key), by_name);
		hash_string(&hasher, word);
		hash_string(&hasher, found ? found->value : "\001undefined");
	}
	hasher_final(&hasher, hex);
}

/* --- the words a file contains ------------------------------------------------------------ */

struct words {
	char **list;
	size_t count, capacity;
	int unsafe; /* the file could depend on more than its words: keep nothing */
};

static void add_word(struct words *words, const char *start, size_t length)
{
	if (words->count == words->capacity) {
		words->capacity = words->capacity ? 2 * words->capacity : 256;
		words->list = realloc(words->list, words->capacity * sizeof(*words->list));
		if (words->list == NULL) {
			perror("kraftld_cc_launcher");
			exit(1);
		}
	}
	words->list[words->count] = strndup(start, length);
	if (words->list[words->count] == NULL) {
		perror("kraftld_cc_launcher");
		exit(1);
	}
	words->count++;
}

static int starts_config(const char *p, const char *end)
{
	return end - p >= 7 && memcmp(p, "CONFIG_", 7) == 0;
}

/* A header is read on every compile that includes it, so this looks for the few things that
 * matter with memmem rather than taking every word apart. */
static void scan_words(const char *text, size_t length, struct words *words)
{
	static const char *const unsafe[] = {"__DATE__", "__TIME__", "__TIMESTAMP__", "__has_include", NULL};
	const char *p, *end = text + length;
	int i;

	for (p = text; (p = memmem(p, (size_t)(end - p), "CONFIG_", 7)) != NULL;) {
		const char *q = p + 7;

		if (p > text && is_part(p[-1])) { /* inside a longer word */
			p = q;
			continue;
		}
		while (q < end && is_part(*q))
			q++;
		add_word(words, p, (size_t)(q - p));
		p = q;
	}
	/* `##` next to a CONFIG_ word (spaces apart): a pasted option name */
	for (p = text; (p = memmem(p, (size_t)(end - p), "##", 2)) != NULL; p += 2) {
		const char *r = p, *s;

		while (r > text && (r[-1] == ' ' || r[-1] == '\t'))
			r--;
		for (s = r; s > text && is_part(s[-1]); s--)
			;
		if (starts_config(s, r))
			words->unsafe = 1;
		for (r = p + 2; r < end && (*r == ' ' || *r == '\t'); r++)
			;
		if (starts_config(r, end))
			words->unsafe = 1;
	}
	for (i = 0; unsafe[i] != NULL; i++)
		if (memmem(text, length, unsafe[i], strlen(unsafe[i])) != NULL)
			words->unsafe = 1;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the words sorted, each once, NUL-separated */
static char *joined_words(struct words *words, size_t *length)
{
	size_t i, total = 0, unique = 0;
	char *out, *p;

	qsort(words->list, words->count, sizeof(*words->list), by_string);
	for (i = 0; i < words->count; i++)
		total += strlen(words->list[i]) + 1;
	p = out = malloc(total + 1);
	if (out == NULL) {
		perror("kraftld_cc_launcher");
		exit(1);
	}
	for (i = 0; i < words->count; i++) {
		if (unique > 0 && strcmp(words->list[i], words->list[i - 1]) == 0)
			continue;
		strcpy(p, words->list[i]);
		p += strlen(p) + 1;
		unique++;
	}
	*p = '\0'; /* ends the text once the separators are made spaces */
	*length = (size_t)(p - out);
	return out;
}

/* --- the dependency file ----------------------------------------------------------------- */

/* The prerequisites of gcc's `TARGET: FILE FILE \` lines, NULL-terminated; NULL for anything
 * this reader does not take apart (escaped spaces, `$`: Unikraft refuses such paths anyway). */
static char **dependencies(char *text)
{
	size_t count = 0, capacity = 64;
	char **list = malloc(capacity * sizeof(*list)), *p = text;
	int target = 1;

	if (list == NULL || strpbrk(text, "$") != NULL)
		return NULL;
	while (*p != '\0') {
		char *start;

		while (*p == ' ' || *p == '\t' || *p == '\n' || (*p == '\\' && p[1] == '\n'))
			p += *p == '\\' ? 2 : 1;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n') {
			if (*p == '\\')
				return NULL;
			p++;
		}
		if (*p != '\0')
			*p++ = '\0';
		if (target) {
			size_t n = strlen(start);

			if (n > 0 && start[n - 1] == ':')
				target = 0;
			continue;
		}
		if (count + 1 == capacity) {
			capacity *= 2;
			list = realloc(list, capacity * sizeof(*list));
			if (list == NULL)
				return NULL;
		}
		list[count++] = start;
	}
	list[count] = NULL;
	return target ? NULL : list;
}

static int is_config(const struct compile *compile, const char *path)
{
	size_t n = strlen(compile->build_dir);

	if (strncmp(path, compile->build_dir, n) == 0 && path[n] == '/')
		path += n + 1;
	return strcmp(path, compile->config) == 0;
}

/* A file the build made (in the build folder, which gcc names relatively here) but for what
 * Unikraft unpacks from libraries' archives into `<library>/origin/`: sources, the same for every
 * configuration. Only these are taken for tables (the reach costs a few tens of ms a compile). */
static int is_generated(const char *path)
{
	return path[0] != '/' && strncmp(path, "origin/", 7) != 0 && strstr(path, "/origin/") == NULL;
}

/* --- the include path ------------------------------------------------------------------ */

/* The -I folders, in order: not part of the command's hash, since enabling a library adds its
 * folder to every compile's line (Unikraft's CINCLUDES); an entry records them instead. */
static int include_dirs(char **args, const char **dirs, int most)
{
	int i, n = 0;

	for (i = 0; args[i] != NULL; i++)
		if (is_include_word(args[i]) && n < most)
			dirs[n++] = args[i] + 2;
	return n;
}

static int position(const char *dir, const char **dirs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(dirs[i], dir) == 0)
			return i;
	return -1;
}

/* Whether the files an entry lists would be found where they were with today's include path.
 * The folders both paths share must come in the same order (the same sequence, once the
 * folders only one of them has are left out); no listed file may be in a folder
 * that is gone; and a folder that is new, searched before an old one, may not hold any listed
 * file under the name it could have been found by in that old folder (the folder a path starts
 * with, the rest its name). */
static int same_resolution(const char **old, int old_n, const char **now, int now_n, char **files, int file_n)
{
	int i, j, k;

	/* the folders in both, in the order each path has them (a folder named twice counts once
	 * more each time, as it is named: gcc searches it where it first comes) */
	for (i = 0, j = 0;; i++, j++) {
		while (i < old_n && position(old[i], now, now_n) < 0)
			i++;
		while (j < now_n && position(now[j], old, old_n) < 0)
			j++;
		if (i == old_n || j == now_n) {
			if (i != old_n || j != now_n)
				return 0;
			break;
		}
		if (strcmp(old[i], now[j]) != 0)
			return 0;
	}
	for (i = 0; i < old_n; i++) {
		size_t n = strlen(old[i]);
		int kept = position(old[i], now, now_n);

		for (j = 0; j < file_n; j++) {
			if (strncmp(files[j], old[i], n) != 0 || files[j][n] != '/')
				continue;
			if (kept < 0)
				return 0;
			for (k = 0; k < kept; k++) { /* the folders searched before it today */
				char *shadow;
				struct stat info;
				int found;

				if (position(now[k], old, old_n) >= 0)
					continue;
				if (asprintf(&shadow, "%s/%s", now[k], files[j] + n + 1) < 0)
					return 0;
				found = stat(shadow, &info) == 0;
				free(shadow);
				if (found)
					return 0;
			}
		}
	}
	return 1;
}

/* --- serving and keeping ------------------------------------------------------------------ */

static char *store_path(const struct compile *compile, const char *kind, const char *name, const char *suffix)
{
	char *path;

	if (asprintf(&path, "%s/%s/%s%s", compile->store, kind, name, suffix) < 0) {
		perror("kraftld_cc_launcher");
		exit(1);
	}
	return path;
}

static int copy_file(const char *from, const char *to)
{
	struct buffer contents;
	int failed;

	if (read_all(from, &contents) != 0) {
		free(contents.data);
		return -1;
	}
	failed = replace_with(to, contents.data, contents.length);
	free(contents.data);
	return failed;
}

#define MOST_DIRS 4096
#define MOST_FILES 8192

struct entry {
	char *object, *options, *words, *dirs_line;
	char *hashes[MOST_FILES], *files[MOST_FILES];
	char *reached[MOST_FILES]; /* a table's reached definitions' hash; NULL for other files */
	int file_n;
};

/* Whether every table that changed since the entry was kept still defines what the entry's
 * other files (which hash the same) reach as it did: the reach kept beside the object decides. */
static int same_reached(const struct compile *compile, const struct entry *entry, const int *changed)
{
	char *path = store_path(compile, "o", entry->object, ".r");
	struct buffer reach, table;
	int i, same;

	same = read_all(path, &reach) == 0;
	free(path);
	for (i = 0; same && i < entry->file_n; i++) {
		char hex[DIGEST_HEX + 1];

		if (!changed[i])
			continue;
		same = read_all(entry->files[i], &table) == 0 && table_is(table.data, table.length) &&
		       table_hash((const unsigned char *)reach.data, reach.length, table.data, table.length, hex) == 0 &&
		       strcmp(hex, entry->reached[i]) == 0;
		free(table.data);
	}
	free(reach.data);
	return same;
}

/* One entry, read whole, against today's files, header and include path. */
static int entry_matches(const struct compile *compile, struct entry *entry, const struct configuration *configuration)
{
	const char *old[MOST_DIRS], *now[MOST_DIRS];
	char hex[DIGEST_HEX + 1], *w;
	size_t length = strlen(entry->words);
	int old_n = 0, now_n, i, tables_changed = 0;
	static int changed[MOST_FILES];

	for (w = entry->words; *w != '\0'; w++)
		if (*w == ' ')
			*w = '\0';
	options_hash(configuration, entry->words, length ? length + 1 : 0, hex);
	if (strcmp(hex, entry->options) != 0)
		return 0;
	for (w = strtok(entry->dirs_line, " "); w != NULL && old_n < MOST_DIRS; w = strtok(NULL, " "))
		old[old_n++] = w;
	now_n = include_dirs(compile->args, now, MOST_DIRS);
	if (!same_resolution(old, old_n, now, now_n, entry->files, entry->file_n))
		return 0;
	for (i = 0; i < entry->file_n; i++) {
		changed[i] = hash_file(entry->files[i], hex) != 0 || strcmp(hex, entry->hashes[i]) != 0;
		if (changed[i] && entry->reached[i] == NULL)
			return 0;
		tables_changed |= changed[i];
	}
	return !tables_changed || same_reached(compile, entry, changed);
}

static int give(const struct compile *compile, const char *object)
{
	char *o = store_path(compile, "o", object, ".o"), *d = store_path(compile, "o", object, ".d");
	char *e = store_path(compile, "o", object, ".err");
	struct buffer warnings;

	if (copy_file(o, compile->output) != 0 || copy_file(d, compile->depfile) != 0)
		return 0;
	if (read_all(e, &warnings) == 0)
		write_all(2, warnings.data, warnings.length);
	utimensat(AT_FDCWD, o, NULL, 0); /* recently used, for pruning */
	return 1;
}

/* An entry's lines: "E OBJECT OPTIONS", "I DIR DIR…", "W WORD WORD…", then for each file "F HASH
 * PATH" or, for a table, "T HASH REACHED PATH"; ".". A line out of that order, or an entry
 * without its end (still being written), is no entry. */
static int serve(const struct compile *compile, char *manifest, const struct configuration *configuration)
{
	static struct entry entry;
	char *line = manifest, *next;
	int state = 0; /* 0: before E, 1: after E, 2: after I, 3: after W (F lines) */

	for (; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next == NULL)
			break;
		*next++ = '\0';
		if (line[0] == 'E' && line[1] == ' ' && strlen(line) == 3 + 2 * DIGEST_HEX && line[2 + DIGEST_HEX] == ' ') {
			line[2 + DIGEST_HEX] = '\0';
			entry.object = line + 2;
			entry.options = line + 3 + DIGEST_HEX;
			entry.file_n = 0;
			state = 1;
		} else if (state == 1 && line[0] == 'I' && (line[1] == ' ' || line[1] == '\0')) {
			entry.dirs_line = line[1] ? line + 2 : line + 1;
			state = 2;
		} else if (state == 2 && line[0] == 'W' && (line[1] == ' ' || line[1] == '\0')) {
			entry.words = line[1] ? line + 2 : line + 1;
			state = 3;
		} else if (state == 3 && line[0] == 'F' && line[1] == ' ' && strlen(line) > 3 + DIGEST_HEX &&
			   line[2 + DIGEST_HEX] == ' ' && entry.file_n < MOST_FILES) {
			line[2 + DIGEST_HEX] = '\0';
			entry.hashes[entry.file_n] = line + 2;
			entry.reached[entry.file_n] = NULL;
			entry.files[entry.file_n++] = line + 3 + DIGEST_HEX;
		} else if (state == 3 && line[0] == 'T' && line[1] == ' ' && strlen(line) > 4 + 2 * DIGEST_HEX &&
			   line[2 + DIGEST_HEX] == ' ' && line[3 + 2 * DIGEST_HEX] == ' ' && entry.file_n < MOST_FILES) {
			line[2 + DIGEST_HEX] = '\0';
			line[3 + 2 * DIGEST_HEX] = '\0';
			entry.hashes[entry.file_n] = line + 2;
			entry.reached[entry.file_n] = line + 3 + DIGEST_HEX;
			entry.files[entry.file_n++] = line + 4 + 2 * DIGEST_HEX;
		} else if (state == 3 && strcmp(line, ".") == 0) {
			if (entry_matches(compile, &entry, configuration) && give(compile, entry.object))
				return 1;
			state = 0;
		} else {
			state = 0;
		}
	}
	return 0;
}

static void keep(const struct compile *compile, const char *command, const struct configuration *configuration,
		 const char *warnings_path)
{
	struct buffer depfile;
	struct words words = {NULL, 0, 0, 0};
	struct hasher hasher;
	char **files, options[DIGEST_HEX + 1], object[DIGEST_HEX + 1], *joined, *entry = NULL, *o, *d, *e;
	char *manifest_path, *dirs = NULL, *r = NULL;
	size_t joined_length, entry_size = 0, dirs_size = 0, i, n, kept_length = 0;
	struct buffer *texts;
	unsigned char *kept = NULL; /* what the entry keeps of the reach: <object>.r */
	int *tables, any_table = 0;
	FILE *memory;
	int fd;

	if (read_all(compile->depfile, &depfile) != 0 || (files = dependencies(depfile.data)) == NULL)
		return;
	/* the include path as the entry's "I" line: " DIR DIR…" */
	memory = open_memstream(&dirs, &dirs_size);
	if (memory == NULL)
		return;
	for (i = 0; compile->args[i] != NULL; i++) {
		if (!is_include_word(compile->args[i]))
			continue;
		if (strpbrk(compile->args[i], " \t\n") != NULL) {
			fclose(memory);
			return;
		}
		fprintf(memory, " %s", compile->args[i] + 2);
	}
	if (fclose(memory) != 0)
		return;
	for (n = 0; files[n] != NULL; n++)
		;
	texts = calloc(n + 1, sizeof(*texts));
	tables = calloc(n + 1, sizeof(*tables));
	if (texts == NULL || tables == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (is_config(compile, files[i]))
			continue; /* its words' definitions are the entry's OPTIONS */
		if (read_all(files[i], &texts[i]) != 0)
			return;
		scan_words(texts[i].data, texts[i].length, &words);
		tables[i] = is_generated(files[i]) && table_is(texts[i].data, texts[i].length);
		any_table |= tables[i];
	}
	if (words.unsafe)
		return;
	if (any_table) {
		struct reach *reach = reach_new();

		for (i = 0; i < n; i++)
			if (texts[i].data != NULL && !tables[i])
				reach_add_file(reach, texts[i].data, texts[i].length);
		for (i = 0; i < n; i++)
			if (tables[i])
				reach_add_table(reach, texts[i].data, texts[i].length);
		reach_add_command(reach, compile->args);
		reach_solve(reach);
		kept_length = reach_export(reach, &kept);
		reach_free(reach);
	}
	memory = open_memstream(&entry, &entry_size);
	if (memory == NULL)
		return;
	for (i = 0; i < n; i++) {
		char hex[DIGEST_HEX + 1], reached[DIGEST_HEX + 1];

		if (texts[i].data == NULL)
			continue; /* the configuration header */
		hasher_init(&hasher);
		hasher_update(&hasher, texts[i].data, texts[i].length);
		hasher_final(&hasher, hex);
		if (tables[i] && table_hash(kept, kept_length, texts[i].data, texts[i].length, reached) == 0) {
			fprintf(memory, "T %s %s %s\n", hex, reached, files[i]);
		} else {
			fprintf(memory, "F %s %s\n", hex, files[i]);
		}
		free(texts[i].data);
	}
	joined = joined_words(&words, &joined_length);
	options_hash(configuration, joined, joined_length, options);
	if (fclose(memory) != 0)
		return;

	/* the object's name: the command, the options' definitions and the files */
	hasher_init(&hasher);
	hash_string(&hasher, command);
	hash_string(&hasher, options);
	hash_string(&hasher, dirs);
	hasher_update(&hasher, entry, entry_size);
	hasher_final(&hasher, object);

	o = store_path(compile, "o", object, ".o");
	d = store_path(compile, "o", object, ".d");
	e = store_path(compile, "o", object, ".err");
	r = store_path(compile, "o", object, ".r");
	/* the dependency file, warnings and reach first: an object is only looked for once its entry is written */
	if (copy_file(compile->depfile, d) != 0 || rename(warnings_path, e) != 0 ||
	    (kept != NULL && replace_with(r, (const char *)kept, kept_length) != 0) || copy_file(compile->output, o) != 0)
		return;

	for (i = 0; i < joined_length; i++)
		if (joined[i] == '\0')
			joined[i] = i + 1 == joined_length ? '\n' : ' ';
	manifest_path = store_path(compile, "m", command, "");
	fd = open(manifest_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX) == 0) {
		struct stat info;
		char *block;
		int length;

		if (fstat(fd, &info) == 0 && info.st_size > MANIFEST_LIMIT)
			if (ftruncate(fd, 0) != 0)
				goto done;
		length = asprintf(&block, "E %s %s\nI%s\nW%s%s%s.\n", object, options, dirs, joined_length ? " " : "\n",
				  joined_length ? joined : "", entry);
		if (length > 0)
			write_all(fd, block, (size_t)length);
	}
done:
	close(fd); /* and its lock */
}

int objects_compile(const struct compile *compile)
{
	char command[DIGEST_HEX + 1], *manifest_path, *warnings_path;
	struct configuration configuration;
	struct buffer manifest, warnings;
	int status, fd;

	if (read_configuration(compile->config, &configuration) != 0)
		return run_compiler(compile->args, 2); /* not Unikraft's build as known: just compile */
	command_hash(compile, command);
	manifest_path = store_path(compile, "m", command, "");
	if (read_all(manifest_path, &manifest) == 0 && serve(compile, manifest.data, &configuration))
		return 0;

	/* a miss: compile with the warnings kept aside, to show now and with every later hit */
	if (asprintf(&warnings_path, "%s/tmp/err-XXXXXX", compile->store) < 0)
		return 1;
	fd = mkostemp(warnings_path, O_CLOEXEC);
	if (fd < 0)
		return run_compiler(compile->args, 2);
	status = run_compiler(compile->args, fd);
	if (read_all(warnings_path, &warnings) == 0)
		write_all(2, warnings.data, warnings.length);
	close(fd);
	if (status == 0)
		keep(compile, command, &configuration, warnings_path);
	unlink(warnings_path); /* unless kept */
	return status;
}

int objects_eligible(char **args, const char **output)
{
	int i, compiles = 0, outputs = 0, depfile = 0;

	for (i = 0; args[i] != NULL; i++) {
		const char *word = args[i];
		size_t n = strlen(word);

		if (strcmp(word, "-c") == 0)
			compiles++;
		else if (strcmp(word, "-o") == 0 && args[i + 1] != NULL)
			*output = args[++i], outputs++;
		else if (strncmp(word, "-Wp,-MD,", 8) == 0)
			depfile++;
		else if (strncmp(word, "-g", 2) == 0 && n > 2 && word[n - 1] == '3')
			return 0; /* -g3, -ggdb3: the configuration header's macros in the object */
		else if (strcmp(word, "-E") == 0 || strcmp(word, "-S") == 0 || strncmp(word, "-d", 2) == 0 ||
			 strncmp(word, "-save-temps", 11) == 0)
			return 0;
	}
	return compiles == 1 && outputs == 1 && depfile == 1;
}
