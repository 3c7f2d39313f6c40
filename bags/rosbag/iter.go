package rosbag

import (
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
)

// Filter selects messages. The zero Filter selects every message.
type Filter struct {
	Topics []string // only messages on these topics; empty means every topic
	Start  Time     // only messages received at or after Start
	End    Time     // only messages received at or before End; zero means no limit
}

// Message is one message of a bag.
type Message struct {
	Conn *Connection
	Time Time // when the recorder received it
	// Data is the serialized message (ROS wire format, without a length prefix). It is valid until the
	// next call to Next; copy it to keep it.
	Data []byte
}

// Iterator streams the messages of a bag in file order: chunk by chunk, and within a chunk in the order
// they were written. For a bag made by rosbag record that is the order of reception (rosbag play and
// ROS's Python reader use time order instead; the two differ only where receive times go backwards).
// While the caller works on one chunk's messages, the next ones are read and decompressed ahead in
// goroutines (when the process may use more than one CPU; lz4 chunks two to a goroutine where the CPU has
// AVX2), so a few chunks are held at a time: the current one and two to four ahead on two cores, up to
// eight ahead on more (see Messages), in buffers reused from chunk to chunk. An Iterator is for one
// goroutine; it needs no closing (the read-ahead of an abandoned one ends with its chunks).
//
//	it := r.Messages(rosbag.Filter{Topics: []string{"/camera/rgb/image_raw"}})
//	for it.Next() {
//		m := it.Message()
//		...
//	}
//	if err := it.Err(); err != nil { ... }
type Iterator struct {
	r      *Reader
	f      Filter
	want   map[uint32]bool // nil: every connection
	chunks []chunk
	next   int // next chunk to start reading

	data    []byte // the current chunk's uncompressed records
	pos     int    // next record in data
	cur     *chunk
	pending error // damage at the end of data, reported once its records are delivered

	msg Message
	err error

	released int64 // pages of a mapped bag before this offset have been given back

	ahead          int      // chunks read ahead in goroutines; 0 reads each chunk when it is reached
	pairs          bool     // lz4 chunks are read two to a goroutine (see schedule)
	queue          []*fetch // chunks being read, in file order; queue[0] is delivered next
	curF           *fetch   // the fetch whose buffers hold data
	spare          []*fetch // fetches done with, kept for their buffers
	relOff, relLen int64    // pages for the next fetch to give back

	pendMu    sync.Mutex
	unstarted []job // queued fetches no goroutine has started yet, oldest first (readOldest)
}

// readAhead is how many chunks an Iterator reads ahead of the one it delivers, at least. Decompression
// (and, for a mapped bag, bringing its pages in) then runs on other cores, overlapping with the caller's
// work on the current chunk, and with two the decoding of one chunk with that of the next when the caller
// does little. Where lz4 chunks go two to a goroutine, Messages raises it to two per core, from four to
// eight. (Reader.ahead holds it; tests set that to 0 for the path that reads each chunk when it is
// reached.)
const readAhead = 2

// readAheadMapped is readAhead for a mapped bag, where bringing an uncompressed chunk's pages in is page
// faults, about one per 200 KB, and touches (BenchmarkReadAll, none/mmap: 22–23 ms a read with
// 4 against 29–31 ms with 2, interleaved; 3 and 6 are within noise of 4). With two, the caller, done with
// a chunk sooner than its pages come in, waits on the next fetch almost every time. A decompressed chunk
// ahead costs a buffer of its size.
const readAheadMapped = 4

// chunkBufs are the buffers a chunk is read and decompressed into.
type chunkBufs struct {
	raw []byte // compressed bytes read from the file (ReadAt sources only)
	buf []byte // decompressed chunk
	bzs bytes.Reader
}

// fetch is the reading of one chunk: its records, and the damage met on the way (see decompress).
type fetch struct {
	c              *chunk
	relOff, relLen int64 // pages of a mapped bag to give back first
	bufs           chunkBufs
	data           []byte
	err            error
	done           chan struct{} // receives once data and err are set, for a fetch run in a goroutine
	sink           byte          // what touching the pages read, kept so that the reads are not optimized away
	sum            contentSum    // the lz4 content checksum still to verify (runPair)
}

// Messages returns an iterator over the messages f selects. Chunks whose index shows none of the wanted
// connections, or no time inside [f.Start, f.End], are skipped without being read.
func (r *Reader) Messages(f Filter) *Iterator {
	it := &Iterator{r: r, f: f, chunks: r.chunks, ahead: r.ahead}
	if procs := runtime.GOMAXPROCS(0); procs < 2 {
		it.ahead = 0 // no other core to read on
	} else if useAVX2 && it.ahead > 0 && slices.ContainsFunc(it.chunks, func(c chunk) bool { return c.comp == compLZ4 }) {
		// Pairs of lz4 chunks (schedule): as many pairs in flight as there are cores, up to four, at a
		// buffer per chunk. Two ahead would be one pair, on one core.
		it.pairs = true
		it.ahead = max(it.ahead, 2*min(procs, 4))
	}
	if len(f.Topics) > 0 {
		topics := map[string]bool{}
		for _, t := range f.Topics {
			topics[t] = true
		}
		it.want = map[uint32]bool{}
		for id, c := range r.conns {
			if topics[c.Topic] {
				it.want[id] = true
			}
		}
	}
	return it
}

// Next advances to the next message and reports whether there is one. After false, Err says whether the
// end of the bag or damage stopped it.
func (it *Iterator) Next() bool {
	if it.err != nil {
		return false
	}
	if it.r.closed {
		it.err = errors.New("rosbag: Next on a closed Reader")
		return false
	}
	for {
		if it.pos < len(it.data) {
			if it.nextInChunk() {
				return true
			}
			if it.err != nil {
				return false
			}
			continue
		}
		if it.pending != nil {
			it.err = it.pending
			return false
		}
		if !it.load() {
			return false
		}
	}
}

// Message is the current message. Its Data is valid until the next call to Next.
func (it *Iterator) Message() Message { return it.msg }

// Err is the error that stopped the iterator, or nil at the end of the bag. It is an *Error naming the
// file and the offset of the damaged record.
func (it *Iterator) Err() error { return it.err }

// load makes the next wanted chunk current; false at the end.
func (it *Iterator) load() bool {
	it.cur, it.data, it.pos = nil, nil, 0
	if it.curF != nil {
		// The caller is past the current chunk's messages: its buffers may take another chunk.
		it.spare = append(it.spare, it.curF)
		it.curF = nil
	}
	it.schedule(max(it.ahead, 1))
	if len(it.queue) == 0 {
		it.r.src.release(it.released, it.r.src.size-it.released)
		it.released = it.r.src.size
		if it.r.tail != nil {
			it.err = it.r.tail
		}
		return false
	}
	f := it.queue[0]
	it.queue = append(it.queue[:0], it.queue[1:]...)
	if it.ahead > 0 {
		<-f.done
	}
	it.curF, it.cur = f, f.c
	it.data, it.pending = f.data, f.err
	// Pages of a mapped bag that the iterator has passed are given back in batches (a call per chunk
	// costs more than it saves), so that a full read keeps at most about releaseBatch resident. The next
	// fetch does it, off this goroutine; the wait for that fetch bounds how far the release may lag.
	if it.r.src.mapped && f.c.pos-it.released >= releaseBatch {
		it.relOff, it.relLen = it.released, f.c.pos-it.released
		it.released = f.c.pos
	}
	it.schedule(it.ahead)
	if it.relLen > 0 { // no fetch took it
		it.r.src.release(it.relOff, it.relLen)
		it.relLen = 0
	}
	return true
}

// schedule starts reading wanted chunks until n are queued: in goroutines when reading ahead, else here.
// Reading ahead, two lz4 chunks in a row go to one goroutine, which verifies their content checksums side
// by side (xxh32Pair, the checksum of the pair in about the time of one); while fewer than two places in
// the queue are free, such a pair waits for the second rather than the first going alone. (Groups of four,
// hashed in two vector registers at 22.8 GB/s against a pair's 13.4, were tried on two cores with eight
// chunks ahead: lz4/mmap median 136.9 against 135.9 ms in 5 interleaved runs, at a peak resident set of 57
// MB against 38; not kept.)
func (it *Iterator) schedule(n int) {
	for len(it.queue) < n {
		i := it.nextWanted(it.next)
		if i < 0 {
			it.next = len(it.chunks)
			return
		}
		j := -1
		if it.pairs && it.chunks[i].comp == compLZ4 {
			if j = it.nextWanted(i + 1); j >= 0 && it.chunks[j].comp != compLZ4 {
				j = -1
			}
			if j >= 0 && len(it.queue)+2 > n {
				it.next = i // the chunks before i are unwanted: the next call need not look at them again
				return
			}
		}
		it.next = i + 1
		f := it.queueFetch(&it.chunks[i])
		if it.ahead == 0 {
			f.run(it.r, false)
			continue
		}
		var g *fetch
		if j >= 0 {
			it.next = j + 1
			g = it.queueFetch(&it.chunks[j])
		}
		it.pendMu.Lock()
		it.unstarted = append(it.unstarted, job{f, g})
		it.pendMu.Unlock()
		go it.readOldest()
	}
}

// job is a chunk, or a pair of lz4 chunks, to read ahead.
type job struct{ f, g *fetch }

// readOldest reads the oldest job that no goroutine has started. Each goroutine schedule starts takes the
// oldest rather than its own: Go runs the goroutine started last first, and jobs run out of order kept the
// caller waiting on the oldest while the job it waited for had not begun, often with a core idle
// (BenchmarkReadAll, medians of interleaved runs. none/mmap: 17.0 → 16.3 ms in 5 runs of 40 reads, 22.8 →
// 16.4 in 4 of 20; lz4/mmap: 137 against 138 ms in 5, 168 → 149 in 4).
func (it *Iterator) readOldest() {
	r := it.r
	// Close waits for this (and this finds r closed after it), so the mapping stays valid here.
	r.mu.RLock()
	defer r.mu.RUnlock()
	it.pendMu.Lock()
	j := it.unstarted[0]
	it.unstarted[0] = job{}
	it.unstarted = it.unstarted[1:]
	it.pendMu.Unlock()
	f, g := j.f, j.g
	if r.closed {
		for _, f := range []*fetch{f, g} {
			if f != nil {
				f.data, f.err = nil, r.errAt(f.c.pos, errors.New("the Reader was closed"))
			}
		}
	} else if g != nil {
		runPair(r, f, g)
	} else {
		f.run(r, false)
		if r.src.mapped && f.c.comp == compNone {
			// The data is a view of the mapping: bringing its pages in here moves the page faults
			// (one per few pages) from the caller onto this goroutine.
			f.sink = touchPages(f.data)
		}
	}
	f.done <- struct{}{}
	if g != nil {
		g.done <- struct{}{}
	}
}

// nextWanted is the index of the first wanted chunk from chunk i on, or -1.
func (it *Iterator) nextWanted(i int) int {
	for ; i < len(it.chunks); i++ {
		if it.wanted(&it.chunks[i]) {
			return i
		}
	}
	return -1
}

// queueFetch appends a fetch of c to the queue, with the pages waiting to be given back.
func (it *Iterator) queueFetch(c *chunk) *fetch {
	var f *fetch
	if k := len(it.spare); k > 0 {
		f, it.spare = it.spare[k-1], it.spare[:k-1]
	} else {
		f = &fetch{done: make(chan struct{}, 1)}
	}
	f.c, f.relOff, f.relLen = c, it.relOff, it.relLen
	it.relLen = 0
	it.queue = append(it.queue, f)
	return f
}

// run gives back the pages f is to release, then reads f's chunk. With deferSum the lz4 content checksum
// is left in f.sum for the caller to verify (settle).
func (f *fetch) run(r *Reader, deferSum bool) {
	if f.relLen > 0 {
		r.src.release(f.relOff, f.relLen)
	}
	var sum *contentSum
	if deferSum {
		sum = &f.sum
	}
	f.data, f.err = r.decompress(f.c, &f.bufs, sum)
}

// runPair reads the chunks of a and b and verifies their content checksums together.
func runPair(r *Reader, a, b *fetch) {
	a.run(r, true)
	b.run(r, true)
	if a.sum.set && b.sum.set {
		ha, hb := xxh32Pair(a.data[a.sum.off:a.sum.end], b.data[b.sum.off:b.sum.end])
		a.settle(r, ha)
		b.settle(r, hb)
		return
	}
	for _, f := range []*fetch{a, b} {
		if f.sum.set {
			f.settle(r, xxh32(f.data[f.sum.off:f.sum.end]))
		}
	}
}

// settle compares h, the hash of f's content, with its checksum; a mismatch leaves f the error, and none of
// the data, that decompress gives for it.
func (f *fetch) settle(r *Reader, h uint32) {
	if h != f.sum.want {
		f.data, f.err = nil, r.chunkDataErr(f.c, errContentSum(f.sum.frame))
	}
	f.sum = contentSum{}
}

// touchPages reads a byte of every 64 KB of b, which brings a mapping's pages in: a page fault in a file
// mapping maps the pages around it that the page cache holds, 64 KB of them or more (Linux's fault-around;
// a bag read takes about one fault per 200 KB here), so touching every page would mostly touch pages
// already mapped, each a cache miss. Pages the kernel did not map fault in when the caller reaches them.
// (BenchmarkReadAll, none/mmap, 40 reads, three interleaved pairs: 17.6–19.3 ms a read against
// 20.2–21.5 touching every page.)
func touchPages(b []byte) byte {
	var s byte
	for i := 0; i < len(b); i += 64 << 10 {
		s += b[i]
	}
	return s
}

// wanted reports whether chunk c may hold a selected message.
func (it *Iterator) wanted(c *chunk) bool {
	if c.counts == nil || c.cut != nil || c.open {
		return true
	}
	if c.timed {
		if c.end.UnixNano() < it.f.Start.UnixNano() {
			return false
		}
		if !it.f.End.IsZero() && c.start.UnixNano() > it.f.End.UnixNano() {
			return false
		}
	}
	if it.want == nil {
		return true
	}
	for _, cc := range c.counts {
		if cc.count > 0 && it.want[cc.conn] {
			return true
		}
	}
	return false
}

// nextInChunk reads records of the current chunk until a selected message; false at the end of the
// chunk's data or on damage (then it.err is set).
func (it *Iterator) nextInChunk() bool {
	var h header
	for it.pos < len(it.data) {
		off := it.pos
		body, next, err := nextRecord(it.data, off, &h)
		if err != nil {
			it.err = it.chunkErr(off, err)
			return false
		}
		it.pos = next
		switch h.op {
		case opMsgData:
			if err := h.need("message data", hasConn|hasTime); err != nil {
				it.err = it.chunkErr(off, err)
				return false
			}
			if it.want != nil && !it.want[h.conn] {
				continue
			}
			t := h.time.UnixNano()
			if t < it.f.Start.UnixNano() || (!it.f.End.IsZero() && t > it.f.End.UnixNano()) {
				continue
			}
			c := it.r.conns[h.conn]
			if c == nil {
				it.err = it.chunkErr(off, fmt.Errorf("message data record of connection %d, which no connection record defines", h.conn))
				return false
			}
			it.msg = Message{Conn: c, Time: h.time, Data: body}
			return true
		case opConnection:
			// Already known: Open read the index or scanned this chunk.
		default:
			it.err = it.chunkErr(off, fmt.Errorf("%s record inside a chunk", opName(h.op)))
			return false
		}
	}
	return false
}

// chunkErr places err, met at byte off of the current chunk's data, in the file.
func (it *Iterator) chunkErr(off int, err error) error {
	return it.r.recordErr(it.cur, off, err, it.pending)
}

// recordErr places err, met at byte off of chunk c's uncompressed data, in the file. pending is the
// damage that ended that data early, if any: a record cut short by it is its consequence.
func (r *Reader) recordErr(c *chunk, off int, err, pending error) error {
	if errors.Is(err, errRecordCut) {
		if pending != nil {
			return pending
		}
		if c.open {
			err = fmt.Errorf("%v; the chunk was never closed (its recorder stopped): %w", err, io.ErrUnexpectedEOF)
		}
	}
	return r.errAt(c.pos, fmt.Errorf("record at byte %d of the chunk's uncompressed data: %w", off, err))
}

// releaseBatch is how much of a mapped bag an iterator passes before it gives those pages back. Its pages
// count in the process's resident set, so this bounds what reading a bag adds to it. 32 MB put a 60-frame
// bag (17 MB, never released) 10–11 % below one five times as long in `cen eval`'s peak
// (BenchmarkEvalMemoryOver5xBag, 194 against 217 MB). With 8 MB the two are within 1–2.5 % (188 and 190–193
// MB), and BenchmarkReadAll is within its noise of the 32 MB figures.
const releaseBatch = 8 << 20

var errRecordCut = errors.New("record runs past the end of the chunk's data")

// nextRecord parses the record at data[off:] into h and returns its data and the offset after it.
func nextRecord(data []byte, off int, h *header) (body []byte, next int, err error) {
	rest := len(data) - off
	if rest < 4 {
		return nil, 0, fmt.Errorf("%d bytes left, want a record: %w", rest, errRecordCut)
	}
	hl := int(binary.LittleEndian.Uint32(data[off:]))
	if hl > rest-8 || hl < 0 {
		return nil, 0, fmt.Errorf("header length %d: %w", hl, errRecordCut)
	}
	if err := parseHeader(data[off+4:off+4+hl], h); err != nil {
		return nil, 0, err
	}
	p := off + 4 + hl
	dl := int(binary.LittleEndian.Uint32(data[p:]))
	p += 4
	if dl > len(data)-p || dl < 0 {
		return nil, 0, fmt.Errorf("%s record: data length %d: %w", opName(h.op), dl, errRecordCut)
	}
	return data[p : p+dl : p+dl], p + dl, nil
}

// walkRecords calls fn for each record in a chunk's uncompressed data. It stops at the first error and
// returns it with the offset of the record at fault.
func walkRecords(data []byte, fn func(h *header, body []byte) error) (int, error) {
	var h header
	for off := 0; off < len(data); {
		body, next, err := nextRecord(data, off, &h)
		if err == nil {
			err = fn(&h, body)
		}
		if err != nil {
			return off, err
		}
		off = next
	}
	return 0, nil
}

// decompress returns chunk c's uncompressed records and the damage met on the way. When the data is cut
// short (by the end of the file, or because its recorder never closed the chunk) the records are the part
// that decoded before the cut, so that they can be delivered first; bad compressed data gives none.
//
// With sum not nil, an lz4 chunk's content checksum (of its last frame) is left in *sum for the caller to
// verify, when the chunk decoded without damage; *sum is unset otherwise.
func (r *Reader) decompress(c *chunk, b *chunkBufs, sum *contentSum) ([]byte, error) {
	if sum != nil {
		*sum = contentSum{}
	}
	raw, err := r.src.at(c.dataOff, c.dataLen, &b.raw)
	if err != nil {
		// The chunk list is clipped to the file, so this is an I/O error.
		return nil, r.errAt(c.pos, fmt.Errorf("chunk data: %w", err))
	}
	if c.size > r.maxChunk {
		return nil, r.errAt(c.pos, fmt.Errorf("chunk size %d is beyond the limit of %d bytes", c.size, r.maxChunk))
	}
	limit := c.size
	if c.open {
		limit = r.maxChunk
	}
	var data []byte
	switch c.comp {
	case compNone:
		if !c.open && c.cut == nil && c.size != c.dataLen {
			return nil, r.errAt(c.pos, fmt.Errorf("uncompressed chunk: size field says %d bytes, data length is %d", c.size, c.dataLen))
		}
		if int64(len(raw)) > limit {
			raw = raw[:limit]
		}
		data = raw
	case compLZ4:
		data, err = lz4Decode(b.buf[:0], raw, limit, sum)
		b.buf = data[:0]
		if err == nil && !c.open && int64(len(data)) != c.size {
			if sum != nil {
				err = sum.check(data) // a bad checksum is the error first, as when lz4Decode verifies it
			}
			if err == nil {
				err = fmt.Errorf("decompressed data ends after %d bytes, the chunk's size field says %d", len(data), c.size)
			}
		}
		if sum != nil && (err != nil || c.cut != nil) {
			// The data goes out as the damage leaves it (below), not verified, as when lz4Decode verifies.
			*sum = contentSum{}
		}
	case compBZ2:
		b.bzs.Reset(raw)
		data, err = readChunk(bzip2.NewReader(&b.bzs), b.buf, limit, !c.open, int64(len(raw)))
		b.buf = data[:0]
	default:
		return nil, r.errAt(c.pos, fmt.Errorf("unknown chunk compression %q", c.compStr))
	}
	if c.cut != nil {
		return data, c.cut
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		// Bad compressed data: what decoded before the fault is not to be trusted either.
		data = nil
	}
	if err != nil {
		return data, r.chunkDataErr(c, err)
	}
	return data, nil
}

// chunkDataErr is the error of chunk c whose compressed data gave err.
func (r *Reader) chunkDataErr(c *chunk, err error) error {
	if c.open {
		return r.errAt(c.pos, fmt.Errorf("%s data of a chunk that was never closed (its recorder stopped): %w", c.compStr, err))
	}
	return r.errAt(c.pos, fmt.Errorf("%s chunk data: %w", c.compStr, err))
}

// readChunk decompresses up to limit bytes from zr into buf. With exact, the stream must hold exactly
// limit bytes. The buffer grows with the data actually produced, never straight to a size field's claim:
// a corrupt size costs an error, not an allocation.
func readChunk(zr io.Reader, buf []byte, limit int64, exact bool, compressed int64) ([]byte, error) {
	out := buf[:0]
	for int64(len(out)) < limit {
		if len(out) == cap(out) {
			n := int64(2*cap(out)) + 4*compressed + 64<<10
			if n > limit {
				n = limit
			}
			grown := make([]byte, len(out), n)
			copy(grown, out)
			out = grown
		}
		end := int64(cap(out))
		if end > limit {
			end = limit
		}
		n, err := zr.Read(out[len(out):end])
		out = out[:len(out)+n]
		if err == io.EOF {
			if exact {
				return out, fmt.Errorf("decompressed data ends after %d bytes, the chunk's size field says %d", len(out), limit)
			}
			return out, nil
		}
		if err != nil {
			return out, decodeErr(err)
		}
	}
	// The stream must end here; reading on also checks a trailing checksum.
	var one [1]byte
	for {
		n, err := zr.Read(one[:])
		if n > 0 {
			if exact {
				return out, fmt.Errorf("decompressed data is longer than the chunk's size field, %d bytes", limit)
			}
			return out, fmt.Errorf("chunk decompresses to more than the limit of %d bytes", limit)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, decodeErr(err)
		}
	}
}

// decodeErr keeps a truncated stream recognisable as io.ErrUnexpectedEOF.
func decodeErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	return fmt.Errorf("bad compressed data: %w", err)
}
