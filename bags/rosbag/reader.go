package rosbag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"sync"
)

// Info describes a bag, from its index or, for an unindexed bag, from the linear scan Open made.
type Info struct {
	Size    int64 // bytes in the file
	Indexed bool  // the bag's own index was used; false after a linear scan
	// IndexErr says why a bag with an index_pos was scanned instead (the index is cut short or damaged);
	// nil when the index was used or the bag has none (index_pos 0, as a killed recorder leaves it).
	IndexErr error
	// Damage is the first damage Open met: in an indexed bag a bad chunk header, in a scanned one any bad
	// record (a last chunk cut short, typically). Reading messages stops there with this error. Damage
	// inside the chunks of an indexed bag shows only when they are read.
	Damage error

	Start, End    Time              // receive times of the first and last message (zero for an empty bag)
	MessageCount  uint64            // messages in the bag (for a scanned bag: those before Damage)
	MessageCounts map[uint32]uint64 // messages per connection ID
	Connections   []*Connection     // ordered by ID
	ChunkCount    int
	Compression   map[string]int // chunks per compression ("none", "lz4", "bz2")
}

// TopicMessageCount is the number of messages on topic, over all its connections.
func (i Info) TopicMessageCount(topic string) uint64 {
	var n uint64
	for _, c := range i.Connections {
		if c.Topic == topic {
			n += i.MessageCounts[c.ID]
		}
	}
	return n
}

// Reader reads one bag. It holds no per-read state, so several iterators may run on it at once (from
// different goroutines too), each with its own buffers.
type Reader struct {
	src    source
	file   *os.File // owned by the Reader when Open made it
	info   Info
	conns  map[uint32]*Connection
	chunks []chunk
	// tail is where reading stops with an error: damage found while building the chunk list.
	tail error
	// maxChunk bounds a chunk's uncompressed size (a corrupt size field must not become a huge allocation;
	// the fuzz test lowers it).
	maxChunk int64
	ahead    int // chunks an iterator reads ahead (readAhead)
	// mu is held for reading by the goroutines that read chunks ahead, and for writing by Close, which so
	// waits for them before it unmaps the file.
	mu     sync.RWMutex
	closed bool
}

type compression uint8

const (
	compNone compression = iota
	compLZ4
	compBZ2
	compOther
)

func parseCompression(b []byte) compression {
	switch string(b) {
	case "none":
		return compNone
	case "lz4":
		return compLZ4
	case "bz2":
		return compBZ2
	}
	return compOther
}

// chunk is one chunk record, as the iterator needs it.
type chunk struct {
	pos     int64 // offset of the chunk record
	dataOff int64
	dataLen int64 // clipped to the end of the file when cut
	size    int64 // uncompressed size from the header; -1 when open
	comp    compression
	compStr string // the compression field, for the error on an unknown one
	// open marks a chunk whose recorder was killed before it closed it: its header says size 0 and its
	// data runs to the end of the file.
	open bool
	cut  error // the file ends inside the data: reported after the messages before the cut
	// counts is messages per connection, from the chunk info or index data records; nil when unknown.
	counts     []connCount
	start, end Time
	timed      bool // start and end are known
}

type connCount struct{ conn, count uint32 }

// Open opens the bag at path and reads its index (or scans an unindexed bag). On Linux the file is mapped
// read-only, so message data of uncompressed chunks is handed out without a copy; as with any mapping,
// the file must not be truncated while the Reader is open (a growing .bag.active is fine: the Reader sees
// the size it had at Open).
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rosbag: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("rosbag: %w", err)
	}
	src := source{name: path, ra: f, size: st.Size()}
	if mm, err := mapFile(f, st.Size()); err == nil {
		src.mm, src.mapped = mm, true
	}
	r, err := newReader(src, math.MaxUint32)
	if err != nil {
		if src.mapped {
			unmapFile(src.mm)
		}
		f.Close()
		return nil, err
	}
	r.file, r.ahead = f, readAheadMapped
	// Reading the index touched a page of every chunk: give them back, or the Reader starts out with
	// pages all over the file resident.
	src.release(0, src.size)
	return r, nil
}

// NewReader reads the bag in ra, which holds size bytes; name identifies it in errors. Iterators read
// chunks ahead with ReadAt calls from goroutines of their own, in parallel, as io.ReaderAt allows. Close
// waits for those calls but does not close ra: close ra after the Reader.
func NewReader(ra io.ReaderAt, size int64, name string) (*Reader, error) {
	return newReader(source{name: name, ra: ra, size: size}, math.MaxUint32)
}

// Close releases the file, once the chunks that iterators are reading ahead are read. Message data
// handed out before must not be used after it.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var err error
	if r.src.mapped {
		err = unmapFile(r.src.mm)
		r.src.mm, r.src.mapped = nil, false
	}
	if r.file != nil {
		if cerr := r.file.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Info describes the bag. Its maps and slices are shared with the Reader: do not modify them.
func (r *Reader) Info() Info { return r.info }

// Connection returns the connection with the given ID, or nil.
func (r *Reader) Connection(id uint32) *Connection { return r.conns[id] }

func (r *Reader) errAt(off int64, err error) *Error {
	return &Error{File: r.src.name, Offset: off, Err: err}
}

func newReader(src source, maxChunk int64) (*Reader, error) {
	r := &Reader{src: src, maxChunk: maxChunk, ahead: readAhead, conns: map[uint32]*Connection{}}
	r.info.Size = src.size
	var buf []byte
	b, err := src.at(0, int64(len(magic)), &buf)
	if err != nil || string(b) != magic {
		switch {
		case bytes.HasPrefix(b, []byte("#ROSBAG V")) && len(b) == len(magic):
			return nil, r.errAt(0, fmt.Errorf("bag format %q is not supported, only 2.0", bytes.TrimSpace(b[9:])))
		case err != nil && bytes.HasPrefix([]byte(magic), b):
			return nil, r.errAt(0, fmt.Errorf("version line: %w", err))
		}
		return nil, r.errAt(0, fmt.Errorf("%w: no %q line", ErrNotBag, bytes.TrimSpace([]byte(magic))))
	}
	rec, err := r.readRecord(int64(len(magic)), &buf, false)
	if err == nil && rec.h.op != opBagHeader {
		err = fmt.Errorf("first record is %s, want the bag header", opName(rec.h.op))
	}
	if err == nil {
		err = rec.h.need("bag header", hasIndexPos|hasConnCount|hasChunkCount)
	}
	if err != nil {
		return nil, r.errAt(int64(len(magic)), err)
	}
	first := rec.end
	if rec.h.indexPos != 0 {
		infos, err := r.readIndex(first, rec.h)
		if err == nil {
			r.info.Indexed = true
			r.finishInfo(infos)
			return r, nil
		}
		r.info.IndexErr = err
		r.conns = map[uint32]*Connection{}
		r.chunks = nil
		r.tail = nil
	}
	r.scan(first, int64(rec.h.indexPos))
	r.finishInfo(r.chunks)
	return r, nil
}

// record is one record's header and where its data is.
type record struct {
	off     int64
	h       header
	dataOff int64
	dataLen int64 // as the record says; may run past the end of the file when err says so
	end     int64
}

// headerGuess is what readRecord reads first: enough for a chunk's header and the length after it.
const headerGuess = 128

// readRecord reads the header of the record at off. A data length that runs past the end of the file is
// reported with the record filled in, so that a caller can use the data there is. dense says that the
// records around are read too (the index section), so that a mapped file is better read through the
// mapping; otherwise headers are peeked (see source.peek).
func (r *Reader) readRecord(off int64, buf *[]byte, dense bool) (record, error) {
	rec := record{off: off}
	get := r.src.peek
	if dense {
		get = r.src.at
	}
	// One read brings the usual header, of a few dozen bytes, and the data length after it. When it does
	// not, the two reads below do, and give the errors.
	var b []byte
	hl := int64(-1)
	if r.src.size-off >= headerGuess {
		g, err := get(off, headerGuess, buf)
		if err == nil {
			if n := int64(binary.LittleEndian.Uint32(g)); 4+n+4 <= headerGuess {
				hl, b = n, g[4:4+n+4]
			}
		}
	}
	if hl < 0 {
		l, err := get(off, 4, buf)
		if err != nil {
			return rec, fmt.Errorf("record header length: %w", err)
		}
		hl = int64(binary.LittleEndian.Uint32(l))
		if hl > maxHeaderLen {
			return rec, fmt.Errorf("record header length %d is implausible (more than %d)", hl, maxHeaderLen)
		}
		if b, err = get(off+4, hl+4, buf); err != nil {
			return rec, fmt.Errorf("record header of %d bytes: %w", hl, err)
		}
	}
	if err := parseHeader(b[:hl], &rec.h); err != nil {
		return rec, err
	}
	rec.dataOff = off + 8 + hl
	rec.dataLen = int64(binary.LittleEndian.Uint32(b[hl:]))
	rec.end = rec.dataOff + rec.dataLen
	if rec.end > r.src.size {
		return rec, fmt.Errorf("%s record: data length %d runs %d bytes past the end of the file: %w",
			opName(rec.h.op), rec.dataLen, rec.end-r.src.size, io.ErrUnexpectedEOF)
	}
	return rec, nil
}

// readIndex reads the index section of an indexed bag and the header of every chunk it lists. An error
// means the index cannot be trusted (the caller falls back to a scan); damage in a chunk header instead
// ends the chunk list there and is kept in r.tail.
func (r *Reader) readIndex(first int64, bh header) ([]chunk, error) {
	start := int64(bh.indexPos)
	if start < first || start > r.src.size {
		return nil, r.errAt(int64(len(magic)), fmt.Errorf("index_pos %d is outside the file's records (%d to %d)", start, first, r.src.size))
	}
	var buf []byte
	var infos []chunk
	for off := start; off < r.src.size; {
		rec, err := r.readRecord(off, &buf, true)
		if err != nil {
			return nil, r.errAt(off, fmt.Errorf("index section: %w", err))
		}
		switch rec.h.op {
		case opConnection:
			c, err := r.readConnection(&rec)
			if err != nil {
				return nil, r.errAt(off, err)
			}
			r.conns[c.ID] = c
		case opChunkInfo:
			ci, err := r.readChunkInfo(&rec, &buf)
			if err != nil {
				return nil, r.errAt(off, err)
			}
			infos = append(infos, ci)
		default:
			return nil, r.errAt(off, fmt.Errorf("%s record in the index section", opName(rec.h.op)))
		}
		off = rec.end
	}
	if uint32(len(r.conns)) != bh.connCount || uint32(len(infos)) != bh.chunkCount {
		return nil, r.errAt(start, fmt.Errorf("the bag header announces %d connections and %d chunks, the index holds %d and %d",
			bh.connCount, bh.chunkCount, len(r.conns), len(infos)))
	}
	sort.SliceStable(infos, func(i, j int) bool { return infos[i].pos < infos[j].pos })
	for i := range infos {
		ci := &infos[i]
		if ci.pos < first || ci.pos >= start {
			return nil, r.errAt(start, fmt.Errorf("chunk info points to byte %d, outside the chunks (%d to %d)", ci.pos, first, start))
		}
		for _, cc := range ci.counts {
			if r.conns[cc.conn] == nil {
				return nil, r.errAt(start, fmt.Errorf("chunk info for the chunk at byte %d counts messages of connection %d, which the index does not define", ci.pos, cc.conn))
			}
		}
	}
	// The chunk records themselves: a bad one ends the readable part of the bag. (Their headers are read
	// with peek, which maps no pages, so there are none to give back here.)
	r.chunks = make([]chunk, 0, len(infos))
	for i := range infos {
		ci := &infos[i]
		limit := start
		if i+1 < len(infos) {
			limit = infos[i+1].pos
		}
		rec, err := r.readRecord(ci.pos, &buf, false)
		if err == nil && rec.h.op != opChunk {
			err = fmt.Errorf("the index lists a chunk here, but the record is %s", opName(rec.h.op))
		}
		if err == nil {
			err = rec.h.need("chunk", hasCompression|hasSize)
		}
		if err == nil && rec.end > limit {
			err = fmt.Errorf("chunk data length %d runs %d bytes into the next record", rec.dataLen, rec.end-limit)
		}
		if err != nil {
			r.tail = r.errAt(ci.pos, err)
			break
		}
		ci.dataOff, ci.dataLen, ci.size = rec.dataOff, rec.dataLen, int64(rec.h.size)
		ci.comp, ci.compStr = parseCompression(rec.h.compression), string(rec.h.compression)
		r.chunks = append(r.chunks, *ci)
	}
	return infos, nil
}

func (r *Reader) readConnection(rec *record) (*Connection, error) {
	if rec.dataLen > maxConnDataLen {
		return nil, fmt.Errorf("connection record: data length %d is implausible (more than %d)", rec.dataLen, maxConnDataLen)
	}
	// Not into buf: rec.h's topic is a view of it.
	var own []byte
	data, err := r.src.at(rec.dataOff, rec.dataLen, &own)
	if err != nil {
		return nil, fmt.Errorf("connection record: %w", err)
	}
	c, err := parseConnection(&rec.h, data)
	if err != nil {
		return nil, fmt.Errorf("connection record: %w", err)
	}
	return c, nil
}

func (r *Reader) readChunkInfo(rec *record, buf *[]byte) (chunk, error) {
	h := &rec.h
	if err := h.need("chunk info", hasVer|hasChunkPos|hasStartTime|hasEndTime|hasCount); err != nil {
		return chunk{}, err
	}
	if h.ver != 1 {
		return chunk{}, fmt.Errorf("chunk info record version %d, want 1", h.ver)
	}
	if rec.dataLen != 8*int64(h.count) {
		return chunk{}, fmt.Errorf("chunk info record: %d connections need %d bytes of data, it has %d", h.count, 8*int64(h.count), rec.dataLen)
	}
	if h.chunkPos > math.MaxInt64 {
		return chunk{}, fmt.Errorf("chunk info record: chunk_pos %d out of range", h.chunkPos)
	}
	data, err := r.src.at(rec.dataOff, rec.dataLen, buf)
	if err != nil {
		return chunk{}, fmt.Errorf("chunk info record: %w", err)
	}
	c := chunk{pos: int64(h.chunkPos), start: h.startTime, end: h.endTime, timed: true, counts: make([]connCount, h.count)}
	for i := range c.counts {
		c.counts[i] = connCount{binary.LittleEndian.Uint32(data[8*i:]), binary.LittleEndian.Uint32(data[8*i+4:])}
	}
	return c, nil
}

// scan builds the chunk list of an unindexed bag from its records: chunk headers, the index data records
// after each chunk (message counts and times without decompressing), and connection records. Chunks that
// no index data describes, or that define connections met nowhere else, are decompressed once here. The
// first damage ends the list and is kept in r.tail. indexPos is the bag header's index_pos: once the scan
// reaches it, the rest is the (unusable) index, and damage there does not stop reading.
func (r *Reader) scan(first, indexPos int64) {
	var buf []byte
	inIndex := false
	fail := func(off int64, err error) {
		if !inIndex {
			r.tail = r.errAt(off, err)
		}
	}
	off, released := first, int64(0)
	for ; off < r.src.size; off = r.next(off, &buf, fail) {
		if indexPos != 0 && off == indexPos {
			inIndex = true
		}
		released = r.passed(released, off)
	}
	if r.tail == nil && indexPos > r.src.size && off == r.src.size {
		r.tail = r.errAt(r.src.size, fmt.Errorf("the file ends before the index the bag header places at byte %d: %w", indexPos, io.ErrUnexpectedEOF))
	}
	r.scanChunks()
}

// next reads the record at off for the scan and returns the offset of the next one, or the end of the
// file when the scan must stop (after calling fail, on damage).
func (r *Reader) next(off int64, buf *[]byte, fail func(int64, error)) int64 {
	end := r.src.size
	rec, err := r.readRecord(off, buf, false)
	if err != nil {
		if rec.h.op == opChunk && rec.dataLen > 0 && errors.Is(err, io.ErrUnexpectedEOF) && rec.dataOff <= r.src.size {
			// A chunk cut by the end of the file: read what there is, then report the cut.
			if err := rec.h.need("chunk", hasCompression|hasSize); err != nil {
				fail(off, err)
				return end
			}
			r.chunks = append(r.chunks, chunk{pos: off, dataOff: rec.dataOff, dataLen: r.src.size - rec.dataOff,
				size: int64(rec.h.size), comp: parseCompression(rec.h.compression), compStr: string(rec.h.compression),
				cut: r.errAt(off, err)})
			return end
		}
		fail(off, err)
		return end
	}
	switch rec.h.op {
	case opChunk:
		if err := rec.h.need("chunk", hasCompression|hasSize); err != nil {
			fail(off, err)
			return end
		}
		c := chunk{pos: off, dataOff: rec.dataOff, dataLen: rec.dataLen, size: int64(rec.h.size),
			comp: parseCompression(rec.h.compression), compStr: string(rec.h.compression)}
		if rec.dataLen == 0 && rec.h.size == 0 {
			// rosbag record writes a chunk's header with zero sizes and fixes it when it closes the chunk.
			c.open, c.size, c.dataLen = true, -1, r.src.size-rec.dataOff
			r.chunks = append(r.chunks, c)
			return end
		}
		r.chunks = append(r.chunks, c)
	case opIndexData:
		if len(r.chunks) == 0 {
			fail(off, errors.New("index data record before any chunk"))
			return end
		}
		if err := r.addIndexData(&r.chunks[len(r.chunks)-1], &rec, buf); err != nil {
			fail(off, err)
			return end
		}
	case opConnection:
		c, err := r.readConnection(&rec)
		if err != nil {
			fail(off, err)
			return end
		}
		r.conns[c.ID] = c
	case opChunkInfo:
		// The index section of a bag whose index_pos is unusable: the scan has what it needs already.
	case opBagHeader:
		fail(off, errors.New("a second bag header"))
		return end
	case opMsgData:
		fail(off, errors.New("message data record outside a chunk"))
		return end
	}
	return rec.end
}

// scanChunks reads the chunks that the index data records do not fully describe.
func (r *Reader) scanChunks() {
	var bufs chunkBufs // serve every chunk
	for i := range r.chunks {
		c := &r.chunks[i]
		known := c.counts != nil && c.cut == nil && !c.open
		for _, cc := range c.counts {
			if r.conns[cc.conn] == nil {
				known = false
			}
		}
		if known {
			continue
		}
		if err := r.countChunk(&bufs, c); err != nil {
			r.chunks = r.chunks[:i+1]
			r.tail = err
			return
		}
	}
}

// addIndexData adds an index data record's counts and times to the chunk it follows.
func (r *Reader) addIndexData(c *chunk, rec *record, buf *[]byte) error {
	h := &rec.h
	if err := h.need("index data", hasVer|hasConn|hasCount); err != nil {
		return err
	}
	if h.ver != 1 {
		return fmt.Errorf("index data record version %d, want 1", h.ver)
	}
	if rec.dataLen != 12*int64(h.count) {
		return fmt.Errorf("index data record: %d entries need %d bytes of data, it has %d", h.count, 12*int64(h.count), rec.dataLen)
	}
	data, err := r.src.at(rec.dataOff, rec.dataLen, buf)
	if err != nil {
		return fmt.Errorf("index data record: %w", err)
	}
	if c.counts == nil {
		c.counts = []connCount{}
	}
	c.counts = append(c.counts, connCount{h.conn, h.count})
	for p := 0; p < len(data); p += 12 {
		c.addTime(getTime(data[p:]))
	}
	return nil
}

func (c *chunk) addTime(t Time) {
	if !c.timed || t.UnixNano() < c.start.UnixNano() {
		c.start = t
	}
	if !c.timed || t.UnixNano() > c.end.UnixNano() {
		c.end = t
	}
	c.timed = true
}

// countChunk decompresses c once to learn its connections, message counts and times. It returns the
// damage that stops reading in it (its records before the damage are counted).
func (r *Reader) countChunk(bufs *chunkBufs, c *chunk) error {
	data, derr := r.decompress(c, bufs, nil)
	counts := map[uint32]uint32{}
	c.timed = false
	off, perr := walkRecords(data, func(h *header, body []byte) error {
		switch h.op {
		case opConnection:
			conn, err := parseConnection(h, body)
			if err != nil {
				return err
			}
			if r.conns[conn.ID] == nil {
				r.conns[conn.ID] = conn
			}
		case opMsgData:
			if err := h.need("message data", hasConn|hasTime); err != nil {
				return err
			}
			if r.conns[h.conn] == nil {
				return fmt.Errorf("message data record of connection %d, which no connection record defines", h.conn)
			}
			counts[h.conn]++
			c.addTime(h.time)
		default:
			return fmt.Errorf("%s record inside a chunk", opName(h.op))
		}
		return nil
	})
	c.counts = make([]connCount, 0, len(counts))
	for id, n := range counts {
		c.counts = append(c.counts, connCount{id, n})
	}
	sort.Slice(c.counts, func(i, j int) bool { return c.counts[i].conn < c.counts[j].conn })
	if perr != nil {
		return r.recordErr(c, off, perr, derr)
	}
	return derr
}

// finishInfo fills r.info from the chunk list: the index's chunk infos for an indexed bag (all of them,
// even past damage in a chunk header), the scanned chunks otherwise.
func (r *Reader) finishInfo(chunks []chunk) {
	in := &r.info
	in.MessageCounts = map[uint32]uint64{}
	in.Compression = map[string]int{}
	in.Connections = make([]*Connection, 0, len(r.conns))
	for _, c := range r.conns {
		in.Connections = append(in.Connections, c)
	}
	sort.Slice(in.Connections, func(i, j int) bool { return in.Connections[i].ID < in.Connections[j].ID })
	in.Damage = r.tail
	for _, c := range r.chunks {
		in.Compression[c.compStr]++
	}
	first := true
	for _, c := range chunks {
		in.ChunkCount++
		for _, cc := range c.counts {
			in.MessageCounts[cc.conn] += uint64(cc.count)
			in.MessageCount += uint64(cc.count)
		}
		if c.timed && len(c.counts) > 0 {
			if first || c.start.UnixNano() < in.Start.UnixNano() {
				in.Start = c.start
			}
			if first || c.end.UnixNano() > in.End.UnixNano() {
				in.End = c.end
			}
			first = false
		}
	}
}

// passed gives back the pages of a mapped bag in [released, off) once they make a batch, so that a pass
// over the whole file keeps little of it resident; it returns the new start of what is kept.
func (r *Reader) passed(released, off int64) int64 {
	if off-released < releaseBatch {
		return released
	}
	r.src.release(released, off-released)
	return off
}
