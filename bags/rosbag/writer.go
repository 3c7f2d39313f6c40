package rosbag

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/pierrec/lz4/v4"
)

// DefaultChunkSize is the uncompressed size at which a Writer closes a chunk unless told otherwise: 768 KiB,
// the default of rosbag record (--chunksize=768).
const DefaultChunkSize = 768 << 10

// WriterConf configures a Writer.
type WriterConf struct {
	// Compression of the chunks: "none" or "lz4" (optional). It defaults to "none", as for rosbag record.
	Compression string
	// ChunkSize is the uncompressed size in bytes at which a chunk is closed (optional). It defaults to
	// DefaultChunkSize. A message larger than it gets a chunk of its own.
	ChunkSize int
}

// Writer writes a bag. Its methods must not be called concurrently.
type Writer struct {
	path string
	tmp  *os.File
	bw   *bufio.Writer
	off  int64 // offset of the next byte written
	conf WriterConf
	comp compression

	conns   []*Connection // by ID
	defined []bool        // the connection's record is in an earlier or the current chunk

	chunk      []byte         // the open chunk's records, uncompressed
	nmsg       int            // messages in the open chunk
	start, end Time           // earliest and latest receive time in the open chunk
	entries    [][]indexEntry // the open chunk's index, by connection ID
	used       []uint32       // connections with messages in the open chunk, in order of first use
	infos      []chunkInfo    // closed chunks

	z   bytes.Buffer
	zw  *lz4.Writer
	hdr []byte // scratch for a record header
	rec []byte // scratch for a record

	err    error // the first error; every later call returns it
	closed bool
}

type indexEntry struct {
	t   Time
	off uint32
}

type chunkInfo struct {
	pos        int64
	start, end Time
	counts     []connCount
}

// Create starts writing a bag to path. The bag is written to a temporary file in the same folder and
// renamed to path by Close; until then path is left as it was.
func Create(path string, conf WriterConf) (*Writer, error) {
	w := &Writer{path: path, conf: conf}
	switch conf.Compression {
	case "", "none":
		w.conf.Compression, w.comp = "none", compNone
	case "lz4":
		w.comp = compLZ4
		w.zw = lz4.NewWriter(&w.z)
		// 1 MiB blocks with a content checksum, the frames roslz4 itself writes.
		if err := w.zw.Apply(lz4.BlockSizeOption(lz4.Block1Mb), lz4.ChecksumOption(true)); err != nil {
			return nil, fmt.Errorf("rosbag: writing %s: lz4: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("rosbag: writing %s: compression %q is not supported (none or lz4)", path, conf.Compression)
	}
	switch {
	case conf.ChunkSize == 0:
		w.conf.ChunkSize = DefaultChunkSize
	case conf.ChunkSize < 0 || conf.ChunkSize > math.MaxUint32/2:
		return nil, fmt.Errorf("rosbag: writing %s: chunk size %d out of range", path, conf.ChunkSize)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("rosbag: writing %s: %w", path, err)
	}
	w.tmp = tmp
	w.bw = bufio.NewWriterSize(tmp, 1<<20)
	w.write([]byte(magic))
	w.write(bagHeaderRecord(0, 0, 0))
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	return w, nil
}

// AddConnection adds a connection (a topic with its message type) and returns it with its ID set; pass
// it to WriteMessage, and do not modify it. c.ID is ignored, so a Reader's connection can be copied with
// AddConnection(*m.Conn). A connection without messages is left out of the bag.
func (w *Writer) AddConnection(c Connection) (*Connection, error) {
	if w.err != nil {
		return nil, w.err
	}
	switch {
	case c.Topic == "":
		return nil, fmt.Errorf("rosbag: writing %s: connection without a topic", w.path)
	case c.Type == "" || c.MD5Sum == "":
		return nil, fmt.Errorf("rosbag: writing %s: connection on %s needs Type and MD5Sum", w.path, c.Topic)
	}
	c.ID = uint32(len(w.conns))
	p := &c
	w.conns = append(w.conns, p)
	w.defined = append(w.defined, false)
	w.entries = append(w.entries, nil)
	return p, nil
}

// WriteMessage adds one message: data is its serialized form (no length prefix), received at t. data is
// copied, so the caller may reuse it.
func (w *Writer) WriteMessage(c *Connection, t Time, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if c == nil || int(c.ID) >= len(w.conns) || w.conns[c.ID] != c {
		return fmt.Errorf("rosbag: writing %s: the connection was not added by this Writer", w.path)
	}
	h := appendFieldOp(w.hdr[:0], opMsgData)
	h = appendFieldU32(h, "conn", c.ID)
	h = appendFieldTime(h, "time", t)
	w.hdr = h
	n := int64(8+len(h)) + int64(len(data))
	if !w.defined[c.ID] {
		n += int64(len(c.Topic)+len(c.Type)+len(c.MD5Sum)+len(c.MessageDefinition)+len(c.CallerID)) + 200
	}
	if n > math.MaxUint32 {
		return fmt.Errorf("rosbag: writing %s: a message of %d bytes does not fit in a chunk", w.path, len(data))
	}
	if w.nmsg > 0 && int64(len(w.chunk))+n > math.MaxUint32 {
		w.closeChunk()
	}
	if !w.defined[c.ID] {
		w.chunk = appendConnectionRecord(w.chunk, c)
		w.defined[c.ID] = true
	}
	off := uint32(len(w.chunk))
	w.chunk = appendRecord(w.chunk, h, data)
	if len(w.entries[c.ID]) == 0 {
		w.used = append(w.used, c.ID)
	}
	w.entries[c.ID] = append(w.entries[c.ID], indexEntry{t, off})
	ns := t.UnixNano()
	if w.nmsg == 0 || ns < w.start.UnixNano() {
		w.start = t
	}
	if w.nmsg == 0 || ns > w.end.UnixNano() {
		w.end = t
	}
	w.nmsg++
	if len(w.chunk) >= w.conf.ChunkSize {
		w.closeChunk()
	}
	return w.err
}

// Close writes the open chunk and the index, rewrites the bag header, syncs the file and renames it into
// place. On error the temporary file is removed and path is left as it was.
func (w *Writer) Close() error {
	if w.err != nil {
		if !w.closed {
			w.Abort()
		}
		return w.err
	}
	if w.nmsg > 0 {
		w.closeChunk()
	}
	indexPos := w.off
	nconn := 0
	for _, c := range w.conns {
		if w.defined[c.ID] {
			w.write(appendConnectionRecord(w.rec[:0], c))
			nconn++
		}
	}
	for i := range w.infos {
		w.write(chunkInfoRecord(w.rec[:0], &w.infos[i]))
	}
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.fail(err)
		}
	}
	if w.err == nil {
		if _, err := w.tmp.WriteAt(bagHeaderRecord(uint64(indexPos), uint32(nconn), uint32(len(w.infos))), int64(len(magic))); err != nil {
			w.fail(err)
		}
	}
	for _, step := range []func() error{
		func() error { return w.tmp.Chmod(0o644) },
		w.tmp.Sync,
		w.tmp.Close,
		func() error { return os.Rename(w.tmp.Name(), w.path) },
	} {
		if w.err != nil {
			break
		}
		if err := step(); err != nil {
			w.fail(err)
		}
	}
	if w.err != nil {
		err := w.err
		w.Abort()
		return err
	}
	w.closed = true
	w.err = errors.New("rosbag: writing " + w.path + ": the Writer is closed")
	if d, err := os.Open(filepath.Dir(w.path)); err == nil {
		d.Sync() // make the rename durable too
		d.Close()
	}
	return nil
}

// Abort stops writing and removes the temporary file; path is left as it was. It is for a caller that
// gives up on the bag; after Close it does nothing.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	if w.err == nil {
		w.err = errors.New("rosbag: writing " + w.path + ": the Writer was aborted")
	}
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}

func (w *Writer) fail(err error) {
	if w.err == nil {
		w.err = fmt.Errorf("rosbag: writing %s: %w", w.path, err)
	}
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.bw.Write(b)
	w.off += int64(n)
	if err != nil {
		w.fail(err)
	}
}

// closeChunk writes the open chunk, its index data records, and notes its chunk info.
func (w *Writer) closeChunk() {
	if w.err != nil {
		return
	}
	payload := w.chunk
	if w.comp == compLZ4 {
		w.z.Reset()
		w.zw.Reset(&w.z)
		if _, err := w.zw.Write(w.chunk); err != nil {
			w.fail(fmt.Errorf("lz4: %w", err))
			return
		}
		if err := w.zw.Close(); err != nil {
			w.fail(fmt.Errorf("lz4: %w", err))
			return
		}
		payload = w.z.Bytes()
	}
	info := chunkInfo{pos: w.off, start: w.start, end: w.end}
	h := appendFieldOp(w.hdr[:0], opChunk)
	h = appendFieldString(h, "compression", w.conf.Compression)
	h = appendFieldU32(h, "size", uint32(len(w.chunk)))
	w.hdr = h
	w.rec = appendRecord(w.rec[:0], h, nil)
	binary.LittleEndian.PutUint32(w.rec[len(w.rec)-4:], uint32(len(payload)))
	w.write(w.rec)
	w.write(payload)
	for _, id := range w.used {
		es := w.entries[id]
		info.counts = append(info.counts, connCount{id, uint32(len(es))})
		h := appendFieldOp(w.hdr[:0], opIndexData)
		h = appendFieldU32(h, "conn", id)
		h = appendFieldU32(h, "ver", 1)
		h = appendFieldU32(h, "count", uint32(len(es)))
		w.hdr = h
		b := appendRecord(w.rec[:0], h, nil)
		binary.LittleEndian.PutUint32(b[len(b)-4:], uint32(12*len(es)))
		for _, e := range es {
			b = binary.LittleEndian.AppendUint32(b, e.t.Sec)
			b = binary.LittleEndian.AppendUint32(b, e.t.Nsec)
			b = binary.LittleEndian.AppendUint32(b, e.off)
		}
		w.rec = b
		w.write(b)
		w.entries[id] = es[:0]
	}
	w.infos = append(w.infos, info)
	w.chunk = w.chunk[:0]
	w.used = w.used[:0]
	w.nmsg = 0
}

// appendRecord appends a record with header h and data to b.
func appendRecord(b, h, data []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	b = append(b, h...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// bagHeaderRecord is the bag header record, padded with spaces to 4096 bytes of header and data as ROS
// writes it, so that Close can rewrite it in place.
func bagHeaderRecord(indexPos uint64, conns, chunks uint32) []byte {
	h := appendFieldOp(nil, opBagHeader)
	h = appendFieldU64(h, "index_pos", indexPos)
	h = appendFieldU32(h, "conn_count", conns)
	h = appendFieldU32(h, "chunk_count", chunks)
	return appendRecord(nil, h, bytes.Repeat([]byte{' '}, bagHeaderLen-len(h)))
}

func chunkInfoRecord(b []byte, ci *chunkInfo) []byte {
	h := appendFieldOp(nil, opChunkInfo)
	h = appendFieldU32(h, "ver", 1)
	h = appendFieldU64(h, "chunk_pos", uint64(ci.pos))
	h = appendFieldTime(h, "start_time", ci.start)
	h = appendFieldTime(h, "end_time", ci.end)
	h = appendFieldU32(h, "count", uint32(len(ci.counts)))
	b = appendRecord(b, h, nil)
	binary.LittleEndian.PutUint32(b[len(b)-4:], uint32(8*len(ci.counts)))
	for _, cc := range ci.counts {
		b = binary.LittleEndian.AppendUint32(b, cc.conn)
		b = binary.LittleEndian.AppendUint32(b, cc.count)
	}
	return b
}
