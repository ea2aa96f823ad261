/*
 * Files as on Linux, where Unikraft's vfscore and ramfs answer otherwise and kraftld can make up
 * the difference from outside the user's Unikraft tree. Included by kraftld_runtime.c.
 *
 * lib-musl reaches vfscore through the syscall shim's static functions (uk_syscall_r_open…,
 * lib-musl's patch 0005), which are undefined symbols of libmusl.o and defined in libvfscore.o:
 * `--wrap` on them stands in front of every open musl makes (open, fopen…). These wrappers
 * return what the shim returns: a result, or a negative error number.
 *
 * open("") and openat(fd, "") succeed on vfscore, opening the current folder (task_conv in
 * lib/vfscore/main.c makes "" the folder's path); Linux says ENOENT, and programs test for it.
 *
 * Reading a folder while removing its entries (std::fs::remove_dir_all, `rm -r`) skips entries on
 * ramfs: ramfs_readdir (lib/ramfs/ramfs_vnops.c) takes the file offset as the index of an entry in
 * the folder's list, so every removal shifts the entries not read yet one place back, and the
 * next read starts past as many entries as were removed. remove_dir_all then fails with
 * ENOTEMPTY. Linux's file systems keep a reader's position stable instead. vfscore's readdir
 * family (lib/vfscore/main.c: readdir, readdir64, readdir_r, readdir64_r, which lib-musl uses
 * instead of musl's own) reads one entry per call through sys_readdir, so the wrappers are on
 * those names: a readdir from the start of a folder (offset 0: after opendir or rewinddir) reads
 * the whole folder at once into a snapshot, which the following calls hand out, a stable
 * listing; at its end the snapshot goes. Any other position (seekdir) reads the file system.
 *
 * linkat has no system call in vfscore (musl's linkat gets ENOSYS); on the current folder or
 * absolute paths it is link(), which vfscore has (and ramfs answers EPERM, as a Linux file system
 * without hard links does).
 */

#define KF_ENOENT 2
#define KF_ENOMEM 12
#define KF_ENOSYS 38
#define KF_AT_FDCWD (-100)
#define KF_AT_SYMLINK_FOLLOW 0x400
#define KF_SEEK_CUR 1
#define KF_SNAPSHOTS 16     /* folders being read at once; more read the file system directly */

extern long __real_uk_syscall_r_open(long path, long flags, long mode) __attribute__((weak));
extern long __real_uk_syscall_r_openat(long dirfd, long path, long flags, long mode) __attribute__((weak));
extern long uk_syscall_r_lseek(long fd, long offset, long whence) __attribute__((weak));
extern int __real_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
	__attribute__((weak));
extern int link(const char *oldpath, const char *newpath) __attribute__((weak));
extern void *realloc(void *pointer, kraftld_size size) __attribute__((weak));
extern void free(void *pointer) __attribute__((weak));

long __wrap_uk_syscall_r_open(long path, long flags, long mode);
long __wrap_uk_syscall_r_openat(long dirfd, long path, long flags, long mode);
int __wrap_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags);

long __wrap_uk_syscall_r_open(long path, long flags, long mode)
{
	if (path && *(const char *)path == '\0')
		return -KF_ENOENT;
	return __real_uk_syscall_r_open ? __real_uk_syscall_r_open(path, flags, mode) : -KF_ENOSYS;
}

long __wrap_uk_syscall_r_openat(long dirfd, long path, long flags, long mode)
{
	if (path && *(const char *)path == '\0')
		return -KF_ENOENT;
	return __real_uk_syscall_r_openat ? __real_uk_syscall_r_openat(dirfd, path, flags, mode) : -KF_ENOSYS;
}

/* vfscore's struct dirent64, and struct dirent: the same on x86-64 (musl's layout). */
struct kf_dirent {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[256];
};

extern int __real_readdir64_r(void *dir, struct kf_dirent *entry, struct kf_dirent **result) __attribute__((weak));
extern int dirfd(void *dir) __attribute__((weak));

struct kf_snapshot {
	void *dir;          /* the DIR being read; null: a free slot */
	long resume_offset; /* the folder's offset once the snapshot was taken */
	struct kf_dirent *entries;
	long count, served;
	struct kf_dirent current; /* what readdir returned last: valid until the next call, as POSIX says */
};

static struct kf_snapshot kf_snapshots[KF_SNAPSHOTS];

static void kf_drop(struct kf_snapshot *snapshot)
{
	free(snapshot->entries);
	snapshot->entries = (struct kf_dirent *)0;
	snapshot->dir = (void *)0;
}

/* The whole folder, read through vfscore's readdir; 0 or an error number. */
static int kf_take_snapshot(void *dir, long fd, struct kf_snapshot *snapshot)
{
	struct kf_dirent *entries = (struct kf_dirent *)0, *result;
	long count = 0, capacity = 0;
	int error;

	for (;;) {
		if (count == capacity) {
			struct kf_dirent *grown = realloc(entries, sizeof(*entries) * (kraftld_size)(capacity += 32));

			if (!grown) {
				free(entries);
				return KF_ENOMEM;
			}
			entries = grown;
		}
		error = __real_readdir64_r(dir, &entries[count], &result);
		if (error) {
			free(entries);
			return error;
		}
		if (!result)
			break;
		count++;
	}
	snapshot->dir = dir;
	snapshot->entries = entries;
	snapshot->count = count;
	snapshot->served = 0;
	snapshot->resume_offset = uk_syscall_r_lseek(fd, 0, KF_SEEK_CUR);
	return 0;
}

/* The next entry of a folder's listing into *entry (null at its end), or an error number. */
static int kf_readdir(void *dir, struct kf_dirent *entry, struct kf_dirent **result)
{
	struct kf_snapshot *found = (struct kf_snapshot *)0, *empty = (struct kf_snapshot *)0;
	long fd, offset;
	int error;

	if (!__real_readdir64_r)
		return KF_ENOSYS; /* no vfscore: nothing to read */
	if (!uk_syscall_r_lseek || !dirfd || !realloc || !free || (fd = dirfd(dir)) < 0 ||
	    (offset = uk_syscall_r_lseek(fd, 0, KF_SEEK_CUR)) < 0)
		return __real_readdir64_r(dir, entry, result);
	for (int i = 0; i < KF_SNAPSHOTS; i++) {
		struct kf_snapshot *snapshot = &kf_snapshots[i];

		if (snapshot->dir == dir) {
			/* resume_offset is 0 only where a folder's offset does not move: the snapshot
			 * then holds until its end, or the reader would start over forever */
			if (offset == snapshot->resume_offset) {
				found = snapshot;
				break;
			}
			kf_drop(snapshot); /* rewound, or seekdir, or a new DIR at a freed one's address */
		}
		if (!snapshot->dir && !empty)
			empty = snapshot;
	}
	if (!found && offset == 0 && empty) {
		error = kf_take_snapshot(dir, fd, empty);
		if (error)
			return error;
		found = empty;
	}
	if (!found) /* mid-folder after a seekdir, or too many folders at once: the file system's own */
		return __real_readdir64_r(dir, entry, result);
	if (found->served == found->count) {
		kf_drop(found); /* the end was read: the next listing starts afresh */
		*result = (struct kf_dirent *)0;
		return 0;
	}
	*entry = found->entries[found->served++];
	*result = entry;
	return 0;
}

struct kf_dirent *__wrap_readdir64(void *dir);
struct kf_dirent *__wrap_readdir(void *dir);
int __wrap_readdir64_r(void *dir, struct kf_dirent *entry, struct kf_dirent **result);
int __wrap_readdir_r(void *dir, struct kf_dirent *entry, struct kf_dirent **result);

struct kf_dirent *__wrap_readdir64(void *dir)
{
	static struct kf_dirent entry; /* one per process, as vfscore's own readdir (a __thread there) */
	struct kf_dirent *result;
	int error = kf_readdir(dir, &entry, &result);

	if (error && __errno_location)
		*__errno_location() = error;
	return error ? (struct kf_dirent *)0 : result;
}

struct kf_dirent *__wrap_readdir(void *dir)
{
	return __wrap_readdir64(dir);
}

int __wrap_readdir64_r(void *dir, struct kf_dirent *entry, struct kf_dirent **result)
{
	return kf_readdir(dir, entry, result);
}

int __wrap_readdir_r(void *dir, struct kf_dirent *entry, struct kf_dirent **result)
{
	return kf_readdir(dir, entry, result);
}

int __wrap_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
	int relative = !oldpath || !newpath || (oldpath[0] != '/' && olddirfd != KF_AT_FDCWD) ||
		       (newpath[0] != '/' && newdirfd != KF_AT_FDCWD);

	/* link() follows no symbolic link at oldpath, as linkat without AT_SYMLINK_FOLLOW. */
	if (relative || (flags & ~KF_AT_SYMLINK_FOLLOW) || !link) {
		if (__real_linkat)
			return __real_linkat(olddirfd, oldpath, newdirfd, newpath, flags);
		if (__errno_location)
			*__errno_location() = KF_ENOSYS;
		return -1;
	}
	return link(oldpath, newpath);
}
