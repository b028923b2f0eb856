/*
 * uringproto.c - throwaway raw-protocol FUSE daemon (no libfuse) to compare
 * the classic /dev/fuse read()/writev() transport with FUSE-over-io_uring.
 *
 * Serves one flat directory (the root) with N regular files "f00000".. of
 * SIZE bytes each.  Content of file i, byte j:
 *     j < 4 : (i >> 8j) & 0xff         (little-endian index)
 *     else  : big[(i % 251) + j - 4],  big[k] = (k*7 + (k>>9)) & 0xff
 *
 * Usage:
 *   uringproto gen DIR N SIZE                    create backing files
 *   uringproto [opts] MOUNTPOINT
 *     -t classic|uring  transport (default classic)
 *     -T n              classic: worker threads (default 1)
 *     -c                classic: clone a /dev/fuse fd per worker (FUSE_DEV_IOC_CLONE)
 *     -d n              uring: ring entries per queue (default 16)
 *     -P                uring: do NOT pin queue thread q to CPU q
 *     -k                uring: no SINGLE_ISSUER|DEFER_TASKRUN ring flags
 *     -p DIR            passthrough: FOPEN_PASSTHROUGH with backing files DIR/fNNNNN
 *     -o                passthrough: BACKING_OPEN per OPEN / BACKING_CLOSE per RELEASE
 *                       (default: one backing id per inode, cached forever)
 *     -n N -s SIZE      files and size (default 4000, 110000)
 *     -f                answer FLUSH with 0 (default -ENOSYS => kernel stops sending it)
 *     -S NAME           stats in /dev/shm/NAME (per-opcode counters)
 *     -r                mount read-only (MS_RDONLY)
 *
 * Protocol structs are defined below by hand from Linux 6.18
 * include/uapi/linux/fuse.h (Debian 12's header is 7.38 and lacks them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <liburing.h>

static int possible_cpus(void)
{
	/* num_possible_cpus(): parse /sys/devices/system/cpu/possible, e.g. "0-1" */
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	int a, b, mx = 0;
	char sep;
	if (!f)
		return sysconf(_SC_NPROCESSORS_CONF);
	while (fscanf(f, "%d", &a) == 1) {
		b = a;
		if (fscanf(f, "%c", &sep) == 1 && sep == '-' && fscanf(f, "%d", &b) == 1)
			fscanf(f, "%c", &sep);
		if (b + 1 > mx)
			mx = b + 1;
	}
	fclose(f);
	return mx;
}

/* ------------------------------------------------------------ protocol */
#define FUSE_KERNEL_VERSION 7
#define FUSE_KERNEL_MINOR_VERSION 44
#define FUSE_ROOT_ID 1

enum {
	FUSE_LOOKUP = 1, FUSE_FORGET = 2, FUSE_GETATTR = 3, FUSE_SETATTR = 4,
	FUSE_OPEN = 14, FUSE_READ = 15, FUSE_WRITE = 16, FUSE_STATFS = 17,
	FUSE_RELEASE = 18, FUSE_FSYNC = 20, FUSE_GETXATTR = 22,
	FUSE_LISTXATTR = 23, FUSE_FLUSH = 25, FUSE_INIT = 26,
	FUSE_OPENDIR = 27, FUSE_READDIR = 28, FUSE_RELEASEDIR = 29,
	FUSE_ACCESS = 34, FUSE_INTERRUPT = 36, FUSE_DESTROY = 38,
	FUSE_IOCTL = 39, FUSE_POLL = 40, FUSE_BATCH_FORGET = 42,
	FUSE_READDIRPLUS = 44, FUSE_LSEEK = 46, FUSE_STATX = 52,
};

#define FUSE_ASYNC_READ (1ULL << 0)
#define FUSE_BIG_WRITES (1ULL << 5)
#define FUSE_PARALLEL_DIROPS (1ULL << 18)
#define FUSE_MAX_PAGES (1ULL << 22)
#define FUSE_INIT_EXT (1ULL << 30)
#define FUSE_PASSTHROUGH (1ULL << 37)
#define FUSE_OVER_IO_URING (1ULL << 41)

#define FOPEN_KEEP_CACHE (1u << 1)
#define FOPEN_PASSTHROUGH (1u << 7)

struct fuse_attr {
	uint64_t ino, size, blocks, atime, mtime, ctime;
	uint32_t atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev,
		blksize, flags;
};
struct fuse_in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};
struct fuse_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};
struct fuse_entry_out {
	uint64_t nodeid, generation, entry_valid, attr_valid;
	uint32_t entry_valid_nsec, attr_valid_nsec;
	struct fuse_attr attr;
};
struct fuse_attr_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec, dummy;
	struct fuse_attr attr;
};
struct fuse_forget_in { uint64_t nlookup; };
struct fuse_forget_one { uint64_t nodeid, nlookup; };
struct fuse_batch_forget_in { uint32_t count, dummy; };
struct fuse_open_in { uint32_t flags, open_flags; };
struct fuse_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};
struct fuse_read_in {
	uint64_t fh, offset;
	uint32_t size, read_flags;
	uint64_t lock_owner;
	uint32_t flags, padding;
};
struct fuse_release_in {
	uint64_t fh;
	uint32_t flags, release_flags;
	uint64_t lock_owner;
};
struct fuse_ioctl_out { int32_t result; uint32_t flags, in_iovs, out_iovs; };
struct fuse_kstatfs {
	uint64_t blocks, bfree, bavail, files, ffree;
	uint32_t bsize, namelen, frsize, padding, spare[6];
};
struct fuse_init_in {
	uint32_t major, minor, max_readahead, flags, flags2, unused[11];
};
struct fuse_init_out {
	uint32_t major, minor, max_readahead, flags;
	uint16_t max_background, congestion_threshold;
	uint32_t max_write, time_gran;
	uint16_t max_pages, map_alignment;
	uint32_t flags2, max_stack_depth;
	uint16_t request_timeout, unused[11];
};
struct fuse_dirent {
	uint64_t ino, off;
	uint32_t namelen, type;
	char name[];
};
struct fuse_backing_map { int32_t fd; uint32_t flags; uint64_t padding; };
#define FUSE_DEV_IOC_MAGIC 229
#define FUSE_DEV_IOC_CLONE _IOR(FUSE_DEV_IOC_MAGIC, 0, uint32_t)
#define FUSE_DEV_IOC_BACKING_OPEN _IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_backing_map)
#define FUSE_DEV_IOC_BACKING_CLOSE _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)

/* io_uring part of the protocol (7.42) */
#define FUSE_URING_IN_OUT_HEADER_SZ 128
#define FUSE_URING_OP_IN_OUT_SZ 128
struct fuse_uring_ent_in_out {
	uint64_t flags, commit_id;
	uint32_t payload_sz, padding;
	uint64_t reserved;
};
struct fuse_uring_req_header {
	char in_out[FUSE_URING_IN_OUT_HEADER_SZ];
	char op_in[FUSE_URING_OP_IN_OUT_SZ];
	struct fuse_uring_ent_in_out ring_ent_in_out;
};
enum { FUSE_IO_URING_CMD_REGISTER = 1, FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2 };
struct fuse_uring_cmd_req {
	uint64_t flags, commit_id;
	uint16_t qid;
	uint8_t padding[6];
};
_Static_assert(sizeof(struct fuse_init_out) == 64, "init_out");
_Static_assert(sizeof(struct fuse_entry_out) == 128, "entry_out");
_Static_assert(sizeof(struct fuse_uring_req_header) == 288, "uring hdr");
_Static_assert(sizeof(struct fuse_uring_cmd_req) <= 80, "cmd area");

/* ------------------------------------------------------------ config */
static int nfiles = 4000;
static size_t fsize = 110000;
static int use_uring, nthreads = 1, clone_fd, depth = 16, pin = 1, deferflags = 1;
static int flush_ok, ro_mount;
static const char *pt_dir;   /* passthrough backing dir */
static int pt_per_open;
static int devfd = -1;
static const char *mnt;
static int nr_queues;
#define MAX_WRITE (128 * 1024)
#define MAX_PAGES 32
#define PAYLOAD_SZ (MAX_WRITE)     /* = max(8192, max_write, max_pages*4096) */
#define DEV_BUFSZ (MAX_WRITE + 4096 + 64)

static uint8_t *big;
static _Atomic int32_t *bid; /* cached backing id per file, 0 = none */
static pthread_mutex_t bid_lock = PTHREAD_MUTEX_INITIALIZER;

struct stats {
	uint64_t op[64];
	uint64_t ring_reqs, dev_reqs, backing_opens, forget_nlookup, ring_ready;
	uint64_t ring_cqe_batches;
};
static struct stats dummy_stats, *st = &dummy_stats;
#define CNT(x) __atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)

#define DIE(...) do { fprintf(stderr, "uringproto: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)
#define LOG(...) do { fprintf(stderr, "uringproto: " __VA_ARGS__); fputc('\n', stderr); } while (0)

static void gen_content(int i, uint64_t off, uint8_t *dst, size_t len)
{
	size_t j = off;
	while (len && j < 4) {
		*dst++ = (i >> (8 * j)) & 0xff;
		j++, len--;
	}
	if (len)
		memcpy(dst, big + (i % 251) + j - 4, len);
}

static void fill_attr(struct fuse_attr *a, uint64_t nodeid)
{
	memset(a, 0, sizeof(*a));
	a->ino = nodeid;
	a->atime = a->mtime = a->ctime = 1700000000;
	a->uid = a->gid = 0;
	a->blksize = 4096;
	if (nodeid == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
		a->size = 4096;
	} else {
		a->mode = S_IFREG | 0444;
		a->nlink = 1;
		a->size = fsize;
		a->blocks = (fsize + 511) / 512;
	}
}

static int file_of(uint64_t nodeid)
{
	if (nodeid < 2 || nodeid >= 2 + (uint64_t)nfiles)
		return -1;
	return (int)(nodeid - 2);
}

static int parse_name(const char *name, size_t maxlen)
{
	if (maxlen < 7 || name[0] != 'f')
		return -1;
	int v = 0;
	for (int k = 1; k < 6; k++) {
		if (name[k] < '0' || name[k] > '9')
			return -1;
		v = v * 10 + (name[k] - '0');
	}
	if (name[6] != 0 || v >= nfiles)
		return -1;
	return v;
}

static int backing_open(int i)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/f%05d", pt_dir, i);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct fuse_backing_map m = { .fd = fd };
	int id = ioctl(devfd, FUSE_DEV_IOC_BACKING_OPEN, &m);
	int e = errno;
	close(fd);
	CNT(st->backing_opens);
	if (id < 0) {
		LOG("FUSE_DEV_IOC_BACKING_OPEN(%s): %s", p, strerror(e));
		return -e;
	}
	return id;
}

/* size of the per-opcode header that precedes the payload on /dev/fuse */
static size_t op_hdr_size(uint32_t op)
{
	switch (op) {
	case FUSE_LOOKUP: case FUSE_STATFS: case FUSE_DESTROY: return 0;
	case FUSE_FORGET: return sizeof(struct fuse_forget_in);
	case FUSE_BATCH_FORGET: return sizeof(struct fuse_batch_forget_in);
	case FUSE_GETATTR: return 16;
	case FUSE_OPEN: case FUSE_OPENDIR: return sizeof(struct fuse_open_in);
	case FUSE_READ: case FUSE_READDIR: case FUSE_READDIRPLUS: return sizeof(struct fuse_read_in);
	case FUSE_RELEASE: case FUSE_RELEASEDIR: return sizeof(struct fuse_release_in);
	case FUSE_FLUSH: return 24;
	case FUSE_INIT: return sizeof(struct fuse_init_in);
	case FUSE_IOCTL: return 32;
	case FUSE_INTERRUPT: return 8;
	case FUSE_ACCESS: case FUSE_GETXATTR: case FUSE_LISTXATTR: return 8;
	default: return 0;
	}
}

static int do_init(const struct fuse_init_in *in, void *out);

/*
 * Handle one request.  op_in: per-op header, pay/paylen: what follows it.
 * Writes the reply args to out (may alias pay: inputs are consumed first).
 * Returns reply payload size >= 0 or -errno; *noreply for FORGET & co.
 */
static int handle(const struct fuse_in_header *ih, const void *op_in,
		  const void *pay, size_t paylen, void *out, int *noreply)
{
	uint32_t op = ih->opcode;
	uint64_t nid = ih->nodeid;
	*noreply = 0;
	if (op < 64)
		CNT(st->op[op]);

	switch (op) {
	case FUSE_INIT:
		return do_init(op_in, out);
	case FUSE_LOOKUP: {
		if (nid != FUSE_ROOT_ID)
			return -ENOENT;
		int i = parse_name(pay, paylen);
		if (i < 0)
			return -ENOENT;
		struct fuse_entry_out *e = out;
		memset(e, 0, sizeof(*e));
		e->nodeid = 2 + i;
		e->entry_valid = e->attr_valid = 86400;
		fill_attr(&e->attr, e->nodeid);
		return sizeof(*e);
	}
	case FUSE_FORGET: {
		const struct fuse_forget_in *f = op_in;
		__atomic_fetch_add(&st->forget_nlookup, f->nlookup, __ATOMIC_RELAXED);
		*noreply = 1;
		return 0;
	}
	case FUSE_BATCH_FORGET: {
		const struct fuse_batch_forget_in *b = op_in;
		const struct fuse_forget_one *o = pay;
		uint64_t s = 0;
		for (uint32_t k = 0; k < b->count && (k + 1) * sizeof(*o) <= paylen; k++)
			s += o[k].nlookup;
		__atomic_fetch_add(&st->forget_nlookup, s, __ATOMIC_RELAXED);
		*noreply = 1;
		return 0;
	}
	case FUSE_INTERRUPT:
		*noreply = 1;
		return 0;
	case FUSE_GETATTR: {
		if (nid != FUSE_ROOT_ID && file_of(nid) < 0)
			return -ENOENT;
		struct fuse_attr_out *a = out;
		memset(a, 0, sizeof(*a));
		a->attr_valid = 86400;
		fill_attr(&a->attr, nid);
		return sizeof(*a);
	}
	case FUSE_OPEN: {
		int i = file_of(nid);
		if (i < 0)
			return -ENOENT;
		const struct fuse_open_in *oi = op_in;
		if ((oi->flags & O_ACCMODE) != O_RDONLY)
			return -EACCES;
		struct fuse_open_out o = { .fh = nid };
		if (pt_dir) {
			int id;
			if (pt_per_open) {
				id = backing_open(i);
				if (id < 0)
					return id;
			} else {
				id = atomic_load_explicit(&bid[i], memory_order_acquire);
				if (!id) {
					pthread_mutex_lock(&bid_lock);
					id = bid[i];
					if (!id) {
						id = backing_open(i);
						if (id > 0)
							atomic_store(&bid[i], id);
					}
					pthread_mutex_unlock(&bid_lock);
					if (id < 0)
						return id;
				}
			}
			o.open_flags = FOPEN_PASSTHROUGH;
			o.backing_id = id;
			o.fh = ((uint64_t)id << 32) | (uint32_t)nid;
		} else {
			o.open_flags = FOPEN_KEEP_CACHE;
		}
		memcpy(out, &o, sizeof(o));
		return sizeof(o);
	}
	case FUSE_READ: {
		int i = file_of(nid);
		if (i < 0)
			return -EBADF;
		struct fuse_read_in r;
		memcpy(&r, op_in, sizeof(r));
		if (r.offset >= fsize)
			return 0;
		size_t n = r.size;
		if (n > fsize - r.offset)
			n = fsize - r.offset;
		if (n > PAYLOAD_SZ)
			n = PAYLOAD_SZ;
		gen_content(i, r.offset, out, n);
		return (int)n;
	}
	case FUSE_IOCTL:
		return -ENOTTY;
	case FUSE_FLUSH:
		return flush_ok ? 0 : -ENOSYS;
	case FUSE_RELEASE: {
		if (pt_dir && pt_per_open) {
			const struct fuse_release_in *ri = op_in;
			uint32_t id = ri->fh >> 32;
			if (ioctl(devfd, FUSE_DEV_IOC_BACKING_CLOSE, &id) < 0)
				LOG("BACKING_CLOSE %u: %s", id, strerror(errno));
		}
		return 0;
	}
	case FUSE_OPENDIR: {
		if (nid != FUSE_ROOT_ID)
			return -ENOTDIR;
		struct fuse_open_out o = { .fh = 0 };
		memcpy(out, &o, sizeof(o));
		return sizeof(o);
	}
	case FUSE_READDIR: {
		if (nid != FUSE_ROOT_ID)
			return -ENOTDIR;
		struct fuse_read_in r;
		memcpy(&r, op_in, sizeof(r));
		size_t cap = r.size < PAYLOAD_SZ ? r.size : PAYLOAD_SZ, used = 0;
		uint8_t *p = out;
		for (uint64_t k = r.offset; k < 2 + (uint64_t)nfiles; k++) {
			char name[16];
			uint64_t ino;
			if (k == 0) strcpy(name, "."), ino = 1;
			else if (k == 1) strcpy(name, ".."), ino = 1;
			else snprintf(name, sizeof(name), "f%05d", (int)(k - 2)), ino = k;
			size_t nl = strlen(name);
			size_t rec = (offsetof(struct fuse_dirent, name) + nl + 7) & ~7ul;
			if (used + rec > cap)
				break;
			struct fuse_dirent *d = (void *)(p + used);
			memset(d, 0, rec);
			d->ino = ino;
			d->off = k + 1;
			d->namelen = nl;
			d->type = k < 2 ? 4 /* DT_DIR */ : 8 /* DT_REG */;
			memcpy(d->name, name, nl);
			used += rec;
		}
		return (int)used;
	}
	case FUSE_RELEASEDIR:
		return 0;
	case FUSE_STATFS: {
		struct fuse_kstatfs s = { .blocks = 1 << 20, .files = nfiles + 1,
					  .bsize = 4096, .namelen = 255, .frsize = 4096 };
		memcpy(out, &s, sizeof(s));
		return sizeof(s);
	}
	case FUSE_DESTROY:
		return 0;
	default:
		return -ENOSYS;
	}
}

static uint64_t kernel_flags;
static int do_init(const struct fuse_init_in *in, void *outp)
{
	struct fuse_init_out *o = outp;
	memset(o, 0, sizeof(*o));
	o->major = FUSE_KERNEL_VERSION;
	o->minor = FUSE_KERNEL_MINOR_VERSION;
	if (in->major != 7)
		return sizeof(*o) < 8 ? 0 : 8;
	uint64_t kf = in->flags;
	if (kf & FUSE_INIT_EXT)
		kf |= (uint64_t)in->flags2 << 32;
	kernel_flags = kf;
	uint64_t want = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES |
			FUSE_INIT_EXT | FUSE_PARALLEL_DIROPS;
	if (pt_dir) {
		if (!(kf & FUSE_PASSTHROUGH))
			LOG("kernel does not offer FUSE_PASSTHROUGH");
		want |= FUSE_PASSTHROUGH;
		o->max_stack_depth = 1;
	}
	if (use_uring) {
		if (!(kf & FUSE_OVER_IO_URING))
			LOG("kernel does not offer FUSE_OVER_IO_URING (enable_uring=N?)");
		want |= FUSE_OVER_IO_URING;
	}
	uint64_t f = want & kf;
	o->flags = (uint32_t)f;
	o->flags2 = (uint32_t)(f >> 32);
	o->max_readahead = in->max_readahead;
	o->max_background = 64;
	o->congestion_threshold = 48;
	o->max_write = MAX_WRITE;
	o->time_gran = 1;
	o->max_pages = MAX_PAGES;
	LOG("INIT: kernel %u.%u flags=%#llx, reply flags=%#llx", in->major, in->minor,
	    (unsigned long long)kf, (unsigned long long)f);
	return sizeof(*o);
}

/* ------------------------------------------------------------ classic */
static int dev_reply(int fd, uint64_t unique, int res, const void *out)
{
	struct fuse_out_header oh = { .unique = unique };
	struct iovec iov[2] = { { &oh, sizeof(oh) }, { (void *)out, 0 } };
	if (res < 0)
		oh.error = res;
	else
		iov[1].iov_len = res;
	oh.len = sizeof(oh) + iov[1].iov_len;
	ssize_t w = writev(fd, iov, res > 0 ? 2 : 1);
	if (w < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* one read()/writev() loop; returns when the connection goes away */
static void *dev_loop(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint8_t *buf = aligned_alloc(4096, DEV_BUFSZ);
	uint8_t *out = aligned_alloc(4096, PAYLOAD_SZ + 4096);
	for (;;) {
		ssize_t n = read(fd, buf, DEV_BUFSZ);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			if (errno != ENODEV)
				LOG("read /dev/fuse: %s", strerror(errno));
			break;
		}
		if ((size_t)n < sizeof(struct fuse_in_header))
			continue;
		struct fuse_in_header *ih = (void *)buf;
		size_t oh = op_hdr_size(ih->opcode);
		uint8_t *opin = buf + sizeof(*ih);
		size_t body = n - sizeof(*ih);
		int noreply;
		CNT(st->dev_reqs);
		int r = handle(ih, opin, opin + oh, body > oh ? body - oh : 0, out, &noreply);
		if (!noreply)
			dev_reply(fd, ih->unique, r, out);
	}
	free(buf);
	free(out);
	return NULL;
}

/* ------------------------------------------------------------ io_uring */
struct ent {
	int qid;
	struct fuse_uring_req_header *hdr;
	uint8_t *pay;
	struct iovec iov[2];
};

static _Atomic int queues_registered;

static void prep_cmd(struct io_uring *ring, struct ent *e, uint32_t cmd, uint64_t commit_id)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
		if (!sqe)
			DIE("no sqe");
	}
	memset(sqe, 0, 128);            /* SQE128: 64-byte sqe + 80-byte cmd area (overlapping addr3) */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = devfd;
	sqe->cmd_op = cmd;
	sqe->addr = (uint64_t)(uintptr_t)e->iov;
	sqe->len = 2;                   /* iov[0] headers, iov[1] payload */
	sqe->user_data = (uint64_t)(uintptr_t)e;
	struct fuse_uring_cmd_req *req = (void *)sqe->cmd;
	req->qid = e->qid;
	req->commit_id = commit_id;
}

static void *queue_loop(void *arg)
{
	int qid = (int)(intptr_t)arg;
	if (pin) {
		cpu_set_t cs;
		CPU_ZERO(&cs);
		CPU_SET(qid, &cs);
		if (pthread_setaffinity_np(pthread_self(), sizeof(cs), &cs))
			LOG("pin q%d failed", qid);
	}
	struct io_uring ring;
	struct io_uring_params p = { 0 };
	p.flags = IORING_SETUP_SQE128;
	if (deferflags)
		p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	int r = io_uring_queue_init_params(depth * 2, &ring, &p);
	if (r < 0)
		DIE("io_uring_queue_init q%d: %s", qid, strerror(-r));

	struct ent *ents = calloc(depth, sizeof(*ents));
	for (int k = 0; k < depth; k++) {
		struct ent *e = &ents[k];
		e->qid = qid;
		e->hdr = aligned_alloc(4096, 4096);
		memset(e->hdr, 0, 4096);
		e->pay = aligned_alloc(4096, PAYLOAD_SZ);
		memset(e->pay, 0, PAYLOAD_SZ);
		e->iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		e->iov[1] = (struct iovec){ e->pay, PAYLOAD_SZ };
		prep_cmd(&ring, e, FUSE_IO_URING_CMD_REGISTER, 0);
	}
	r = io_uring_submit(&ring);
	if (r < 0)
		DIE("submit REGISTER q%d: %s", qid, strerror(-r));
	atomic_fetch_add(&queues_registered, 1);

	int live = depth;
	while (live > 0) {
		r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			LOG("submit_and_wait q%d: %s", qid, strerror(-r));
			break;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			struct ent *e = (void *)(uintptr_t)cqe->user_data;
			int res = cqe->res;
			seen++;
			if (res < 0) {
				if (res != -ENOTCONN && res != -ECONNABORTED && res != -ECANCELED)
					LOG("q%d cqe error %d (%s)", qid, res, strerror(-res));
				live--;
				continue;
			}
			struct fuse_in_header ih;
			memcpy(&ih, e->hdr->in_out, sizeof(ih));
			uint64_t commit_id = e->hdr->ring_ent_in_out.commit_id;
			uint32_t paylen = e->hdr->ring_ent_in_out.payload_sz;
			int noreply;
			CNT(st->ring_reqs);
			int rr = handle(&ih, e->hdr->op_in, e->pay, paylen, e->pay, &noreply);
			if (noreply)
				LOG("q%d: no-reply opcode %u over ring?", qid, ih.opcode);
			struct fuse_out_header oh = { .unique = ih.unique };
			oh.error = rr < 0 ? rr : 0;
			oh.len = sizeof(oh) + (rr > 0 ? rr : 0);
			memcpy(e->hdr->in_out, &oh, sizeof(oh));
			e->hdr->ring_ent_in_out.payload_sz = rr > 0 ? rr : 0;
			prep_cmd(&ring, e, FUSE_IO_URING_CMD_COMMIT_AND_FETCH, commit_id);
		}
		io_uring_cq_advance(&ring, seen);
		if (seen)
			CNT(st->ring_cqe_batches);
	}
	io_uring_queue_exit(&ring);
	return NULL;
}

/* ------------------------------------------------------------ main */
static int gen_files(const char *dir, int n, size_t sz)
{
	mkdir(dir, 0755);
	uint8_t *b = malloc(sz);
	for (int i = 0; i < n; i++) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/f%05d", dir, i);
		gen_content(i, 0, b, sz);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0444);
		if (fd < 0 || write(fd, b, sz) != (ssize_t)sz)
			DIE("write %s: %s", p, strerror(errno));
		close(fd);
	}
	free(b);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "see header comment of uringproto.c\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *shm = NULL;
	if (argc >= 2 && !strcmp(argv[1], "gen")) {
		if (argc != 5)
			usage();
		nfiles = atoi(argv[3]);
		fsize = strtoul(argv[4], 0, 10);
		big = malloc(fsize + 256);
		for (size_t k = 0; k < fsize + 256; k++)
			big[k] = (k * 7 + (k >> 9)) & 0xff;
		return gen_files(argv[2], nfiles, fsize);
	}
	int c;
	while ((c = getopt(argc, argv, "t:T:cd:Pkp:on:s:fS:r")) != -1) {
		switch (c) {
		case 't': use_uring = !strcmp(optarg, "uring"); break;
		case 'T': nthreads = atoi(optarg); break;
		case 'c': clone_fd = 1; break;
		case 'd': depth = atoi(optarg); break;
		case 'P': pin = 0; break;
		case 'k': deferflags = 0; break;
		case 'p': pt_dir = optarg; break;
		case 'o': pt_per_open = 1; break;
		case 'n': nfiles = atoi(optarg); break;
		case 's': fsize = strtoul(optarg, 0, 10); break;
		case 'f': flush_ok = 1; break;
		case 'S': shm = optarg; break;
		case 'r': ro_mount = 1; break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	mnt = argv[optind];
	big = malloc(fsize + 256);
	for (size_t k = 0; k < fsize + 256; k++)
		big[k] = (k * 7 + (k >> 9)) & 0xff;
	bid = calloc(nfiles, sizeof(*bid));
	if (shm) {
		char p[256];
		snprintf(p, sizeof(p), "/dev/shm/%s", shm);
		int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || ftruncate(fd, sizeof(struct stats)))
			DIE("shm %s", p);
		st = mmap(NULL, sizeof(struct stats), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (st == MAP_FAILED)
			DIE("mmap shm");
		close(fd);
	}
	signal(SIGPIPE, SIG_IGN);

	devfd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (devfd < 0)
		DIE("open /dev/fuse: %s", strerror(errno));
	char opts[256];
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other", devfd);
	if (mount("uringproto", mnt, "fuse.uringproto", MS_NOSUID | MS_NODEV | (ro_mount ? MS_RDONLY : 0), opts))
		DIE("mount %s: %s", mnt, strerror(errno));

	/* the INIT request is queued by mount(2); answer it on /dev/fuse */
	{
		uint8_t *buf = aligned_alloc(4096, DEV_BUFSZ), out[256];
		for (;;) {
			ssize_t n = read(devfd, buf, DEV_BUFSZ);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n < 0)
				DIE("read INIT: %s", strerror(errno));
			struct fuse_in_header *ih = (void *)buf;
			int noreply;
			int r = handle(ih, buf + sizeof(*ih), NULL, 0, out, &noreply);
			if (ih->opcode != FUSE_INIT)
				LOG("expected INIT, got %u", ih->opcode);
			dev_reply(devfd, ih->unique, r, out);
			if (ih->opcode == FUSE_INIT)
				break;
		}
		free(buf);
	}
	if (use_uring && !(kernel_flags & FUSE_OVER_IO_URING))
		DIE("io_uring requested but not offered by the kernel");

	pthread_t th[64];
	int nth = 0;
	if (use_uring) {
		/* one queue per *possible* CPU; the ring becomes ready (and the
		 * kernel starts routing requests to it) only when every queue
		 * has at least one registered entry */
		nr_queues = possible_cpus();
		for (int q = 0; q < nr_queues && nth < 63; q++)
			pthread_create(&th[nth++], NULL, queue_loop, (void *)(intptr_t)q);
		while (atomic_load(&queues_registered) < nr_queues)
			usleep(1000);
		st->ring_ready = 1;
		/* FORGET/BATCH_FORGET and INTERRUPT still come through /dev/fuse */
		pthread_create(&th[nth++], NULL, dev_loop, (void *)(intptr_t)devfd);
		LOG("uring: %d queues x %d entries, pinned=%d, defer_taskrun=%d", nr_queues, depth, pin, deferflags);
	} else {
		for (int t = 0; t < nthreads && nth < 64; t++) {
			int fd = devfd;
			if (clone_fd && t > 0) {
				fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
				uint32_t src = devfd;
				if (fd < 0 || ioctl(fd, FUSE_DEV_IOC_CLONE, &src))
					DIE("FUSE_DEV_IOC_CLONE: %s", strerror(errno));
			}
			pthread_create(&th[nth++], NULL, dev_loop, (void *)(intptr_t)fd);
		}
		LOG("classic: %d threads, clone_fd=%d", nthreads, clone_fd);
	}
	LOG("serving %d files of %zu bytes at %s%s%s", nfiles, fsize, mnt,
	    pt_dir ? ", passthrough from " : "", pt_dir ? pt_dir : "");
	for (int k = 0; k < nth; k++)
		pthread_join(th[k], NULL);
	LOG("connection closed, exiting");
	return 0;
}
