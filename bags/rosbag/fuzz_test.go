package rosbag

import (
	"bytes"
	"errors"
	"runtime/metrics"
	"testing"
)

// FuzzReader feeds damaged bags to Open and the iterator, both from memory (views, as from a mapping)
// and through ReadAt. Nothing may panic, every error must be an *Error, and allocation must stay bounded
// whatever the lengths in the input claim.
func FuzzReader(f *testing.F) {
	bags := smallBags(f)
	// Python writes bz2 at level 9, whose decoder clears a 3.6 MB table per chunk; level 1 (BZh1) decodes
	// the same small blocks with a tenth of that, which keeps every fuzz input cheap.
	bags["bz2"] = bytes.ReplaceAll(bags["bz2"], []byte("BZh9"), []byte("BZh1"))
	for _, b := range bags {
		f.Add(b)
		f.Add(unindex(f, b))
		f.Add(b[:len(b)*2/3])
	}
	// A chunk its recorder never closed: zero sizes, its data running to the end of the file.
	b := unindex(f, bags["none"])
	r, err := NewReader(bytes.NewReader(b), int64(len(b)), "seed")
	if err != nil {
		f.Fatal(err)
	}
	last := r.chunks[len(r.chunks)-1]
	open := bytes.Clone(b[:last.dataOff+last.dataLen])
	copy(open[last.dataOff-4:], []byte{0, 0, 0, 0})
	copy(open[bytes.LastIndex(open[:last.dataOff], []byte("size="))+5:], []byte{0, 0, 0, 0})
	f.Add(open)

	const maxInput = 32 << 10
	const maxChunk = 64 << 10
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	allocated := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxInput {
			return
		}
		for _, inMemory := range []bool{true, false} {
			src := source{name: "fuzz.bag", size: int64(len(data))}
			if inMemory {
				src.mm = data
			} else {
				src.ra = bytes.NewReader(data)
			}
			before := allocated()
			r, err := newReader(src, maxChunk)
			var e *Error
			if err != nil {
				if !errors.As(err, &e) || e.File != "fuzz.bag" {
					t.Fatalf("Open: %v (%T) is not an *Error naming the file", err, err)
				}
				continue
			}
			it := r.Messages(Filter{})
			for it.Next() {
				m := it.Message()
				if m.Conn == nil || m.Conn != r.Connection(m.Conn.ID) {
					t.Fatal("a message without its connection")
				}
			}
			if err := it.Err(); err != nil && (!errors.As(err, &e) || e.File != "fuzz.bag") {
				t.Fatalf("Next: %v (%T) is not an *Error naming the file", err, err)
			}
			// Buffers grow to the input or to a chunk's output (at most maxChunk, doubled while growing);
			// each bz2 decoder takes up to 3.6 MB of tables.
			bz2 := 0
			for _, c := range r.chunks {
				if c.comp == compBZ2 {
					bz2 += 2
				}
			}
			if n, limit := allocated()-before, uint64(8<<20+64*len(data)+8*maxChunk+bz2*4<<20); n > limit {
				t.Fatalf("reading a %d-byte input allocated %d bytes (limit %d)", len(data), n, limit)
			}
		}
	})
}
