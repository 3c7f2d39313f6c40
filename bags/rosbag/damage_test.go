package rosbag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
)

// smallBags are bags small enough to damage at every byte: ours (none and lz4, several chunks, three
// connections) and one that ROS's Python API wrote with bz2. They are made once; callers get copies.
func smallBags(t testing.TB) map[string][]byte {
	t.Helper()
	smallOnce.Do(func() { small = makeSmallBags(t) })
	if small == nil {
		t.Fatal("making the small bags failed (see the first test that tried)")
	}
	bags := map[string][]byte{}
	for k, b := range small {
		bags[k] = bytes.Clone(b)
	}
	return bags
}

var (
	smallOnce sync.Once
	small     map[string][]byte
)

func makeSmallBags(t testing.TB) map[string][]byte {
	t.Helper()
	var ms []testMessage
	for i := range 15 {
		tm := Time{Sec: 1700000000 + uint32(i), Nsec: uint32(i)}
		switch i % 3 {
		case 0:
			ms = append(ms, testMessage{"/a", StringType, tm, append([]byte{9, 0, 0, 0}, fmt.Sprintf("message %d", i%10)...)})
		case 1:
			img := sensor_msgs.Image{Height: 2, Width: 2, Encoding: "mono8", Step: 2, Data: []byte{byte(i), 1, 2, 3}}
			ms = append(ms, testMessage{"/b", ImageType, tm, AppendImage(nil, &img)})
		case 2:
			ms = append(ms, testMessage{"/c", ClockType, tm, binary.LittleEndian.AppendUint64(nil, uint64(i))})
		}
	}
	bags := map[string][]byte{}
	for _, comp := range []string{"none", "lz4"} {
		path := filepath.Join(sharedDir(t), "small_"+comp+".bag")
		writeBag(t, path, WriterConf{Compression: comp, ChunkSize: 200}, ms)
		bags[comp] = readFile(t, path)
	}
	path := filepath.Join(sharedDir(t), "small_bz2.bag")
	pyBag(t, "write", path, "bz2", "600", "4")
	bags["bz2"] = readFile(t, path)
	return bags
}

// readBytes opens b as a bag named name and reads every message; it returns what Open or the iterator
// said.
func readBytes(b []byte, name string) (*Reader, []Message, error) {
	r, err := NewReader(bytes.NewReader(b), int64(len(b)), name)
	if err != nil {
		return nil, nil, err
	}
	var ms []Message
	it := r.Messages(Filter{})
	for it.Next() {
		m := it.Message()
		m.Data = bytes.Clone(m.Data)
		ms = append(ms, m)
	}
	return r, ms, it.Err()
}

// checkBagError checks that err is one *Error naming the file and an offset inside it.
func checkBagError(t *testing.T, err error, name string, size int) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if e.File != name || e.Offset < 0 || e.Offset > int64(size) || !strings.Contains(err.Error(), name) ||
		!strings.Contains(err.Error(), fmt.Sprintf("record at byte %d: ", e.Offset)) {
		t.Fatalf("error %q: want it to name %s and an offset within its %d bytes", err, name, size)
	}
	return e
}

func TestTruncatedBagGivesOneErrorAfterTheMessagesBeforeTheCut(t *testing.T) {
	t.Parallel()
	for comp, full := range smallBags(t) {
		t.Run(comp, func(t *testing.T) {
			t.Parallel()
			r, all, err := readBytes(full, "full.bag")
			if err != nil {
				t.Fatal(err)
			}
			indexPos := len(unindex(t, full))
			// complete(n) is the number of messages in chunks that end before byte n.
			complete := func(n int) int {
				k := 0
				for _, c := range r.chunks {
					if int(c.dataOff+c.dataLen) <= n {
						for _, cc := range c.counts {
							k += int(cc.count)
						}
					}
				}
				return k
			}
			for _, n := range damagePositions(full, r.chunks, comp) {
				name := fmt.Sprintf("cut%d.bag", n)
				_, got, err := readBytes(full[:n], name)
				if n >= indexPos {
					// Only the index is cut: the scan reads every message.
					if err != nil || len(got) != len(all) {
						t.Fatalf("cut at %d (in the index, which starts at %d): %d of %d messages, error %v", n, indexPos, len(got), len(all), err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("cut at %d of %d: no error after %d messages", n, len(full), len(got))
				}
				checkBagError(t, err, name, n)
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("cut at %d: %v does not wrap io.ErrUnexpectedEOF", n, err)
				}
				if len(got) < complete(n) || len(got) > len(all) {
					t.Fatalf("cut at %d: %d messages delivered before the error, want at least the %d of the whole chunks before the cut", n, len(got), complete(n))
				}
				for i, m := range got {
					w := all[i]
					if m.Conn.Topic != w.Conn.Topic || m.Time != w.Time || !bytes.Equal(m.Data, w.Data) {
						t.Fatalf("cut at %d: message %d is not the bag's message %d", n, i, i)
					}
				}
			}
		})
	}
}

func TestCorruptedBytesGiveAnErrorOrMessagesButNeverAPanic(t *testing.T) {
	t.Parallel()
	for comp, full := range smallBags(t) {
		t.Run(comp, func(t *testing.T) {
			t.Parallel()
			_, all, err := readBytes(full, "full.bag")
			if err != nil {
				t.Fatal(err)
			}
			r, _ := NewReader(bytes.NewReader(full), int64(len(full)), "full.bag")
			b := bytes.Clone(full)
			errs := 0
			for _, i := range damagePositions(full, r.chunks, comp) {
				flips := []byte{0xFF, 0x01, 0x80}
				if comp == "bz2" {
					flips = flips[:1]
				}
				for _, flip := range flips {
					b[i] ^= flip
					_, got, err := readBytes(b, "corrupt.bag")
					b[i] ^= flip
					if err != nil {
						checkBagError(t, err, "corrupt.bag", len(b))
						errs++
					}
					if len(got) > len(all)+1 {
						t.Fatalf("byte %d ^ 0x%02x: %d messages from a bag of %d", i, flip, len(got), len(all))
					}
				}
			}
			if errs == 0 {
				t.Fatal("no corruption was detected at all")
			}
		})
	}
}

func TestReadingAheadDeliversWhatReadingEachChunkInTurnDelivers(t *testing.T) {
	t.Parallel()
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("reading ahead needs more than one CPU")
	}
	// read returns what reading b gives with the given read-ahead: messages and the error that ended them.
	read := func(t *testing.T, b []byte, ahead int, f Filter) ([]msgSummary, string) {
		r, err := NewReader(bytes.NewReader(b), int64(len(b)), "x.bag")
		if err != nil {
			return nil, err.Error()
		}
		r.ahead = ahead
		ms, err := readAll(t, r, f)
		return ms, fmt.Sprint(err)
	}
	for comp, full := range smallBags(t) {
		t.Run(comp, func(t *testing.T) {
			t.Parallel()
			r, _ := NewReader(bytes.NewReader(full), int64(len(full)), "full.bag")
			b := bytes.Clone(full)
			for k, i := range damagePositions(full, r.chunks, comp) {
				if k%3 != 0 {
					continue
				}
				b[i] ^= 0xFF
				for _, tc := range []struct {
					what string
					b    []byte
					f    Filter
				}{
					{fmt.Sprintf("cut at %d", i), full[:i], Filter{}},
					{fmt.Sprintf("byte %d flipped", i), b, Filter{}},
					{fmt.Sprintf("byte %d flipped, reading /b", i), b, Filter{Topics: []string{"/b"}}},
				} {
					inTurn, inTurnErr := read(t, tc.b, 0, tc.f)
					ahead, aheadErr := read(t, tc.b, readAhead, tc.f)
					if !slices.Equal(ahead, inTurn) || aheadErr != inTurnErr {
						t.Fatalf("%s: reading ahead gave %d messages and error %s, reading in turn %d and %s",
							tc.what, len(ahead), aheadErr, len(inTurn), inTurnErr)
					}
				}
				b[i] ^= 0xFF
			}
		})
	}
}

// TestChunksReadInPairsReportTheDamagedOne damages the lz4 data of one chunk at a time in a bag of chunks
// large enough for the paired checksum (each a message of incompressible bytes, so each a stored block
// that decodes whatever its bytes are, and only the content checksum can notice) and checks that reading
// ahead, where the chunks go two to a goroutine, delivers the messages before that chunk and the error
// reading each chunk in turn gives: its content checksum, at its offset. With a topic filter the pairs
// are chunks that are not next to each other in the file.
func TestChunksReadInPairsReportTheDamagedOne(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("reading ahead needs more than one CPU")
	}
	var ms []testMessage
	for i := range 11 {
		topic := []string{"/a", "/b"}[i%3/2]
		data := append(binary.LittleEndian.AppendUint32(nil, 6000), noise(6000, uint32(i+1))...)
		ms = append(ms, testMessage{topic, StringType, Time{Sec: 1700000000, Nsec: uint32(i)}, data})
	}
	path := filepath.Join(t.TempDir(), "pairs.bag")
	writeBag(t, path, WriterConf{Compression: "lz4", ChunkSize: 4096}, ms)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	read := func(b []byte, ahead int, f Filter) ([]msgSummary, error, bool) {
		r, err := NewReader(bytes.NewReader(b), int64(len(b)), "pairs.bag")
		if err != nil {
			t.Fatal(err)
		}
		r.ahead = ahead
		it := r.Messages(f)
		var got []msgSummary
		for it.Next() {
			got = append(got, summarize(it.Message()))
		}
		return got, it.Err(), it.pairs
	}
	r, err := NewReader(bytes.NewReader(full), int64(len(full)), "pairs.bag")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.chunks) != len(ms) {
		t.Fatalf("%d chunks, want one per message (%d)", len(r.chunks), len(ms))
	}
	if _, _, pairs := read(full, readAhead, Filter{}); !pairs {
		t.Logf("no AVX2 here: chunks are read one to a goroutine, and this compares that with reading in turn")
	}
	for _, f := range []Filter{{}, {Topics: []string{"/b"}}} {
		all, err, _ := read(full, readAhead, f)
		if inTurn, _, _ := read(full, 0, f); err != nil || !slices.Equal(all, inTurn) {
			t.Fatalf("undamaged, topics %v: reading ahead gave %d messages and %v, in turn %d", f.Topics, len(all), err, len(inTurn))
		}
		for k, c := range r.chunks {
			b := bytes.Clone(full)
			b[c.dataOff+c.dataLen/2] ^= 0x40
			ahead, aheadErr, _ := read(b, readAhead, f)
			inTurn, inTurnErr, _ := read(b, 0, f)
			if !slices.Equal(ahead, inTurn) || fmt.Sprint(aheadErr) != fmt.Sprint(inTurnErr) {
				t.Fatalf("chunk %d damaged, topics %v: reading ahead gave %d messages and %v, in turn %d and %v",
					k, f.Topics, len(ahead), aheadErr, len(inTurn), inTurnErr)
			}
			wanted := f.Topics == nil || ms[k].topic == "/b"
			var e *Error
			switch {
			case !wanted && (aheadErr != nil || len(ahead) != len(all)):
				t.Fatalf("chunk %d of another topic damaged: %d of %d messages, %v", k, len(ahead), len(all), aheadErr)
			case wanted && (!errors.As(aheadErr, &e) || e.Offset != c.pos || !strings.Contains(aheadErr.Error(), "content checksum mismatch")):
				t.Fatalf("chunk %d at %d damaged, topics %v: error %v, want its content checksum at its offset", k, c.pos, f.Topics, aheadErr)
			case wanted && !slices.Equal(ahead, all[:len(ahead)]):
				t.Fatalf("chunk %d damaged: the messages before it differ", k)
			}
		}
	}
}

// damagePositions are the byte offsets the truncation and corruption tests try: every byte of a bag
// except the bag header's padding (every 101st). bz2 is slow to decode (every new decoder clears a
// 3.6 MB table) and its records are the same code as the others': there only the ends of each chunk's
// compressed stream stay dense, and the rest gets every 53rd byte.
func damagePositions(b []byte, chunks []chunk, comp string) []int {
	padStart := 21 + int(binary.LittleEndian.Uint32(b[13:]))
	var ps []int
	for i := range b {
		keep := i < padStart || i >= 4117 || (i-padStart)%101 == 0
		if comp == "bz2" {
			keep = i%53 == 0
			for _, c := range chunks {
				if int(c.dataOff) <= i && i < int(c.dataOff)+16 || int(c.dataOff+c.dataLen)-16 <= i && i < int(c.dataOff+c.dataLen) {
					keep = true
				}
			}
		}
		if keep {
			ps = append(ps, i)
		}
	}
	return ps
}

// at returns the offset of the first match of pat in b at or after from.
func at(t *testing.T, b []byte, from int, pat string) int {
	t.Helper()
	i := bytes.Index(b[from:], []byte(pat))
	if i < 0 {
		t.Fatalf("%q not found after byte %d", pat, from)
	}
	return from + i
}

func TestDamageErrorsSayWhatIsWrongAndWhere(t *testing.T) {
	bags := smallBags(t)
	layout := func(b []byte) []chunk {
		r, err := NewReader(bytes.NewReader(b), int64(len(b)), "x")
		if err != nil {
			t.Fatal(err)
		}
		return r.chunks
	}
	type damage struct {
		name    string
		bag     string
		mutate  func(b []byte, cs []chunk) []byte
		chunk   int    // the chunk at fault; -1: the bag header (Open fails)
		want    string // in the error
		atOpen  bool   // Open reports it (as Info.Damage for a bag it can still read)
		earlier bool   // the messages of the chunks before are delivered
	}
	for _, tc := range []damage{
		{name: "bag header is not one", bag: "none", chunk: -1, want: "first record is chunk, want the bag header",
			mutate: func(b []byte, _ []chunk) []byte { b[at(t, b, 13, "op=")+3] = opChunk; return b }},
		{name: "unknown compression", bag: "lz4", chunk: 1, want: `unknown chunk compression "xz4"`, earlier: true,
			mutate: func(b []byte, cs []chunk) []byte { b[at(t, b, int(cs[1].pos), "compression=")+12] = 'x'; return b }},
		{name: "chunk data runs into the next record", bag: "none", chunk: 0, want: "bytes into the next record", atOpen: true,
			mutate: func(b []byte, cs []chunk) []byte {
				binary.LittleEndian.PutUint32(b[cs[0].dataOff-4:], uint32(cs[0].dataLen)+100)
				return b
			}},
		{name: "chunk data runs past the end of the file", bag: "lz4", chunk: 1, want: "runs 1000000 bytes past the end of the file", atOpen: true, earlier: true,
			mutate: func(b []byte, cs []chunk) []byte {
				binary.LittleEndian.PutUint32(b[cs[1].dataOff-4:], uint32(len(b)-int(cs[1].dataOff))+1000000)
				return b
			}},
		{name: "header field longer than its header", bag: "lz4", chunk: 1, earlier: true, atOpen: true,
			want:   "header field at byte 0 of the header: length 65535 beyond the header's",
			mutate: func(b []byte, cs []chunk) []byte { binary.LittleEndian.PutUint32(b[cs[1].pos+4:], 0xFFFF); return b }},
		{name: "bad lz4 data", bag: "lz4", chunk: 1, want: "lz4 chunk data: lz4: frame at byte 0: ", earlier: true,
			mutate: func(b []byte, cs []chunk) []byte {
				for i := cs[1].dataOff + 11; i < cs[1].dataOff+cs[1].dataLen-4; i++ {
					b[i] ^= 0x33
				}
				return b
			}},
		{name: "bad bz2 data", bag: "bz2", chunk: 1, want: "bz2 chunk data: bad compressed data: bzip2 data invalid", earlier: true,
			mutate: func(b []byte, cs []chunk) []byte { b[cs[1].dataOff+cs[1].dataLen/2] ^= 0x55; return b }},
		{name: "message of a connection nobody defined", bag: "none", chunk: 1, earlier: true,
			want: "message data record of connection 99, which no connection record defines",
			mutate: func(b []byte, cs []chunk) []byte {
				i := at(t, b, at(t, b, int(cs[1].dataOff), "op=\x02"), "conn=") + 5
				binary.LittleEndian.PutUint32(b[i:], 99)
				return b
			}},
		{name: "implausible record header length in an unindexed bag", bag: "none", chunk: 1, atOpen: true, earlier: true,
			want: "record header length 2147483647 is implausible",
			mutate: func(b []byte, cs []chunk) []byte {
				b = unindex(t, b)
				binary.LittleEndian.PutUint32(b[cs[1].pos:], 0x7FFFFFFF)
				return b
			}},
		{name: "uncompressed chunk whose size field lies", bag: "none", chunk: 1, earlier: true,
			want: "uncompressed chunk: size field says",
			mutate: func(b []byte, cs []chunk) []byte {
				binary.LittleEndian.PutUint32(b[at(t, b, int(cs[1].pos), "size=")+5:], uint32(cs[1].size)+1)
				return b
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full := bags[tc.bag]
			cs := layout(full)
			b := tc.mutate(bytes.Clone(full), cs)
			r, got, err := readBytes(b, "damaged.bag")
			if err == nil {
				t.Fatalf("no error (%d messages)", len(got))
			}
			e := checkBagError(t, err, "damaged.bag", len(b))
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if tc.chunk < 0 {
				if r != nil || e.Offset != 13 {
					t.Fatalf("Open succeeded or blamed byte %d, want it to fail at the bag header (13): %v", e.Offset, err)
				}
				return
			}
			if e.Offset != cs[tc.chunk].pos {
				t.Errorf("error at byte %d, want the damaged chunk at %d", e.Offset, cs[tc.chunk].pos)
			}
			if d := r.Info().Damage; tc.atOpen != (d != nil) || d != nil && d.Error() != err.Error() {
				t.Errorf("Info.Damage %v; want it set (%v) to the error reading gave", d, tc.atOpen)
			}
			want := 0
			if tc.earlier {
				for _, c := range cs[:tc.chunk] {
					for _, cc := range c.counts {
						want += int(cc.count)
					}
				}
			}
			if len(got) != want {
				t.Errorf("%d messages before the error, want the %d of the chunks before the damaged one", len(got), want)
			}
		})
	}
}

func TestCorruptLengthsDoNotTurnIntoAllocations(t *testing.T) {
	bags := smallBags(t)
	b := bytes.Clone(bags["lz4"])
	r, err := NewReader(bytes.NewReader(b), int64(len(b)), "x")
	if err != nil {
		t.Fatal(err)
	}
	c := r.chunks[0]
	for _, tc := range []struct {
		name   string
		mutate func(b []byte)
	}{
		{"chunk size field 4 GiB", func(b []byte) {
			binary.LittleEndian.PutUint32(b[at(t, b, int(c.pos), "size=")+5:], 0xFFFFFFF0)
		}},
		{"chunk data length 4 GiB", func(b []byte) { binary.LittleEndian.PutUint32(b[c.dataOff-4:], 0xFFFFFFF0) }},
		{"record header length 2 GiB", func(b []byte) { binary.LittleEndian.PutUint32(b[c.pos:], 0x7FFFFFF0) }},
		{"index data count 1 G", func(b []byte) {
			i := at(t, b, int(c.dataOff+c.dataLen), "count=") + 6
			binary.LittleEndian.PutUint32(b[i:], 1<<30)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, unindexed := range []bool{false, true} {
				d := bytes.Clone(b)
				tc.mutate(d)
				if unindexed {
					d = unindex(t, d)
				}
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				_, _, err := readBytes(d, "x.bag")
				runtime.ReadMemStats(&after)
				if err == nil && !unindexed {
					continue // the index makes the damaged field irrelevant
				}
				if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
					t.Errorf("unindexed %v: reading allocated %d bytes (error %v)", unindexed, n, err)
				}
			}
		})
	}
}

func TestMessagesOfAChunkCutShortAreDeliveredBeforeTheError(t *testing.T) {
	// A recorder stopped mid-chunk, or a file cut inside an uncompressed chunk: the whole records there
	// are still messages.
	full := smallBags(t)["none"]
	r, all, err := readBytes(full, "x")
	if err != nil {
		t.Fatal(err)
	}
	last := r.chunks[len(r.chunks)-1]
	cut := int(last.dataOff + last.dataLen - 3)
	_, got, err := readBytes(full[:cut], "cut.bag")
	inLast := int(last.counts[0].count)
	for _, cc := range last.counts[1:] {
		inLast += int(cc.count)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != len(all)-1 || inLast < 2 {
		t.Fatalf("cut 3 bytes before the end of the last chunk: %d of %d messages, error %v; want all but the last", len(got), len(all), err)
	}
	if !slices.EqualFunc(got, all[:len(got)], func(a, b Message) bool { return bytes.Equal(a.Data, b.Data) }) {
		t.Fatal("messages differ")
	}
}
