package rosbag

import (
	"fmt"
	"io"
)

// source is the bag's bytes: a read-only mapping of the file where the platform allows it (views cost
// no copy), or an io.ReaderAt read into caller-owned buffers.
type source struct {
	name   string
	ra     io.ReaderAt
	size   int64
	mm     []byte // the file's bytes, when they are in memory
	mapped bool   // mm is a mapping of the file (not memory of the Go heap)
}

// at returns the n bytes at off, as a view of the mapping or read into *buf (grown when too small). When
// the file ends before off+n it returns the bytes there are and an error wrapping io.ErrUnexpectedEOF, so a
// caller never allocates more than the file holds.
func (s *source) at(off, n int64, buf *[]byte) ([]byte, error) {
	return s.get(off, n, buf, s.mm != nil)
}

// peek is at for record headers: it reads a mapped file with ReadAt. A chunk's header is a few bytes
// every megabyte or so; touching it in the mapping maps the 64 KB around it (the kernel maps pages around
// a fault), which Open then has to give back again. That fault and teardown per chunk was most of the time
// Open took on a bag of large chunks; a pread of the header costs a fraction of it.
func (s *source) peek(off, n int64, buf *[]byte) ([]byte, error) {
	return s.get(off, n, buf, s.mm != nil && !s.mapped)
}

// get is at and peek: view says whether to return a view of s.mm.
func (s *source) get(off, n int64, buf *[]byte, view bool) ([]byte, error) {
	var short error
	if off < 0 || off > s.size {
		return nil, fmt.Errorf("offset %d is beyond the end of the file (%d bytes): %w", off, s.size, io.ErrUnexpectedEOF)
	}
	if left := s.size - off; n > left {
		n, short = left, fmt.Errorf("%w: the file ends %d bytes into it", io.ErrUnexpectedEOF, left)
	}
	if view {
		return s.mm[off : off+n : off+n], short
	}
	if int64(cap(*buf)) < n {
		// A quarter to spare, so that chunks a little larger than the last do not each take a new buffer;
		// never beyond what the file holds.
		*buf = make([]byte, n, min(n+n/4, s.size-off))
	}
	b := (*buf)[:n]
	m, err := s.ra.ReadAt(b, off)
	if m < len(b) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return b[:m], fmt.Errorf("reading %d bytes: %w", n, err)
	}
	return b, short
}

// release tells the system that the pages of [off, off+n) will not be needed again soon, so that a full
// read of a large mapped bag does not keep the whole file resident. Views of the range stay valid.
func (s *source) release(off, n int64) {
	if s.mapped {
		dropPages(s.mm, off, n)
	}
}
