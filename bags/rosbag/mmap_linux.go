package rosbag

import (
	"errors"
	"os"
	"syscall"
)

// mapFile maps the whole file read-only. A mapped bag must not be truncated while it is open.
func mapFile(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || size != int64(int(size)) {
		return nil, errors.New("cannot map a file of this size")
	}
	return syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
}

func unmapFile(b []byte) error { return syscall.Munmap(b) }

// dropPages unmaps the whole pages inside [off, off+n) from this process; the page cache keeps them and a
// later access maps them again.
func dropPages(mm []byte, off, n int64) {
	page := int64(os.Getpagesize())
	lo := (off + page - 1) / page * page
	hi := (off + n) / page * page
	if hi > lo {
		syscall.Madvise(mm[lo:hi], syscall.MADV_DONTNEED)
	}
}
