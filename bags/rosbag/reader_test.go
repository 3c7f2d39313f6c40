package rosbag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// pythonBags writes, once per test binary, bags with ROS's Python API: compression none, bz2 and lz4,
// many chunks (chunk_threshold 2048), Image, CameraInfo and String topics. It returns their paths by
// compression and what ROS's Python reader reads from each.
func pyBags(t *testing.T) (map[string]string, map[string][]msgSummary) {
	t.Helper()
	tool(t, debianPython)
	pyOnce.Do(func() {
		paths := map[string]string{}
		var cmds [][]string
		for _, comp := range []string{"none", "bz2", "lz4"} {
			paths[comp] = filepath.Join(sharedDir(t), "py_"+comp+".bag")
			cmds = append(cmds, []string{debianPython, filepath.Join("testdata", "pybag.py"), "write", paths[comp], comp, "2048", "60"})
		}
		runAll(t, cmds...)
		pyPaths = paths
		pyRead = pythonRead(t, paths["none"], paths["bz2"], paths["lz4"])
	})
	if pyRead == nil {
		t.Fatal("writing or reading the bags with ROS's Python API failed (see the first test that tried)")
	}
	return pyPaths, pyRead
}

var (
	pyOnce  sync.Once
	pyPaths map[string]string
	pyRead  map[string][]msgSummary
)

func TestReadsBagsWrittenByROSPython(t *testing.T) {
	t.Parallel()
	paths, py := pyBags(t)
	for _, comp := range []string{"none", "bz2", "lz4"} {
		for _, how := range []string{"Open", "NewReader"} {
			t.Run(comp+"/"+how, func(t *testing.T) {
				t.Parallel()
				path := paths[comp]
				var r *Reader
				if how == "Open" {
					r = mustOpen(t, path)
				} else {
					f, err := os.Open(path)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					st, _ := f.Stat()
					if r, err = NewReader(f, st.Size(), path); err != nil {
						t.Fatal(err)
					}
				}
				want := py[path]
				in := r.Info()
				if !in.Indexed || in.IndexErr != nil || in.Damage != nil {
					t.Errorf("Info: indexed %v, index error %v, damage %v", in.Indexed, in.IndexErr, in.Damage)
				}
				if in.ChunkCount < 5 || in.Compression[comp] != in.ChunkCount {
					t.Errorf("Info: %d chunks, compression %v; want many, all %s", in.ChunkCount, in.Compression, comp)
				}
				if in.MessageCount != uint64(len(want)) {
					t.Errorf("Info: %d messages, want %d", in.MessageCount, len(want))
				}
				for topic, n := range topicCounts(want) {
					if got := in.TopicMessageCount(topic); got != uint64(n) {
						t.Errorf("Info: %d messages on %s, want %d", got, topic, n)
					}
				}
				first, last := byTime(want)[0], byTime(want)[len(want)-1]
				if in.Start != (Time{first.Sec, first.Nsec}) || in.End != (Time{last.Sec, last.Nsec}) {
					t.Errorf("Info: start %v end %v, want %d.%09d and %d.%09d", in.Start, in.End, first.Sec, first.Nsec, last.Sec, last.Nsec)
				}
				got, err := readAll(t, r, Filter{})
				if err != nil {
					t.Fatal(err)
				}
				sameMessages(t, "all messages", got, want)
			})
		}
	}
}

func TestFiltersByTopicAndTime(t *testing.T) {
	t.Parallel()
	paths, py := pyBags(t)
	path := paths["lz4"]
	all := py[path]
	r := mustOpen(t, path)
	mid := byTime(all)[len(all)/2]
	start := Time{mid.Sec, 0}
	end := Time{mid.Sec, 500000000}
	for _, tc := range []struct {
		name string
		f    Filter
		keep func(m msgSummary) bool
	}{
		{"one topic", Filter{Topics: []string{"/chatter"}}, func(m msgSummary) bool { return m.Topic == "/chatter" }},
		{"two topics", Filter{Topics: []string{"/chatter", "/camera/camera_info"}},
			func(m msgSummary) bool { return m.Topic == "/chatter" || m.Topic == "/camera/camera_info" }},
		{"missing topic", Filter{Topics: []string{"/nothing"}}, func(msgSummary) bool { return false }},
		{"from a time on", Filter{Start: start}, func(m msgSummary) bool { return m.Sec >= start.Sec }},
		{"time window and topic", Filter{Topics: []string{"/camera/image_raw"}, Start: start, End: end}, func(m msgSummary) bool {
			t := Time{m.Sec, m.Nsec}.UnixNano()
			return m.Topic == "/camera/image_raw" && t >= start.UnixNano() && t <= end.UnixNano()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []msgSummary
			for _, m := range all {
				if tc.keep(m) {
					want = append(want, m)
				}
			}
			got, err := readAll(t, r, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			sameMessages(t, tc.name, got, want)
		})
	}
}

func TestTopicFilterDoesNotDecompressChunksWithoutTheTopic(t *testing.T) {
	// Chunks of /a, then a chunk with only /b, then /a again. Damaging the /b chunk's compressed data
	// shows whether reading /a touches it.
	path := filepath.Join(t.TempDir(), "ab.bag")
	var ms []testMessage
	for i := range 30 {
		topic := "/a"
		if i >= 10 && i < 20 {
			topic = "/b"
		}
		ms = append(ms, testMessage{topic, StringType, Time{Sec: uint32(1000 + i)}, append([]byte{200, 0, 0, 0}, bytes.Repeat([]byte{byte(i)}, 200)...)})
	}
	writeBag(t, path, WriterConf{Compression: "lz4", ChunkSize: 1000}, ms)
	r := mustOpen(t, path)
	var bOnly *chunk
	for i := range r.chunks {
		c := &r.chunks[i]
		if len(c.counts) == 1 && r.conns[c.counts[0].conn].Topic == "/b" {
			bOnly = c
			break
		}
	}
	if bOnly == nil {
		t.Fatal("no chunk holds only /b")
	}
	b := readFile(t, path)
	for i := bOnly.dataOff + 11; i < bOnly.dataOff+bOnly.dataLen-8; i++ {
		b[i] ^= 0x5A
	}
	damaged := filepath.Join(t.TempDir(), "damaged.bag")
	if err := os.WriteFile(damaged, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r = mustOpen(t, damaged)
	got, err := readAll(t, r, Filter{Topics: []string{"/a"}})
	if err != nil || len(got) != 20 {
		t.Fatalf("reading /a: %d messages, error %v; want 20 and no error (the damaged chunk holds only /b)", len(got), err)
	}
	got, err = readAll(t, r, Filter{})
	var e *Error
	if !errors.As(err, &e) || e.Offset != bOnly.pos || e.File != damaged || !strings.Contains(err.Error(), "lz4") {
		t.Fatalf("reading everything: %v, want an lz4 error at the damaged chunk (byte %d)", err, bOnly.pos)
	}
	if want := int(bOnly.start.Sec - 1000); len(got) != want {
		t.Fatalf("reading everything delivered %d messages before the error, want the %d before the damaged chunk", len(got), want)
	}
}

// unindex cuts off a bag's index section and zeroes index_pos, as a killed recorder leaves a bag.
func unindex(t testing.TB, b []byte) []byte {
	t.Helper()
	hl := binary.LittleEndian.Uint32(b[13:])
	var h header
	if err := parseHeader(b[17:17+hl], &h); err != nil {
		t.Fatal(err)
	}
	b = bytes.Clone(b[:h.indexPos])
	i := bytes.Index(b[:17+hl], []byte("index_pos="))
	binary.LittleEndian.PutUint64(b[i+len("index_pos="):], 0)
	return b
}

func TestReadsUnindexedBagsByScanning(t *testing.T) {
	t.Parallel()
	paths, py := pyBags(t)
	dir := t.TempDir()
	for _, comp := range []string{"none", "bz2", "lz4"} {
		orig := readFile(t, paths[comp])
		indexPos := len(unindex(t, orig))
		badPos := bytes.Clone(orig)
		i := bytes.Index(badPos[:4117], []byte("index_pos=")) + len("index_pos=")
		binary.LittleEndian.PutUint64(badPos[i:], uint64(len(badPos)-1))
		for _, tc := range []struct {
			name     string
			data     []byte
			indexErr string
		}{
			{"index_pos 0, no index", unindex(t, orig), ""},
			{"index cut short", orig[:len(orig)-3], "index section"},
			{"index cut one byte into it", orig[:indexPos+1], "index section"},
			{"index_pos wrong", badPos, "index section"},
		} {
			t.Run(comp+"/"+tc.name, func(t *testing.T) {
				path := filepath.Join(dir, comp+strings.ReplaceAll(tc.name, " ", "_")+".bag")
				if err := os.WriteFile(path, tc.data, 0o644); err != nil {
					t.Fatal(err)
				}
				r := mustOpen(t, path)
				in := r.Info()
				if in.Indexed {
					t.Fatal("Info says indexed")
				}
				if tc.indexErr == "" && in.IndexErr != nil || tc.indexErr != "" && (in.IndexErr == nil || !strings.Contains(in.IndexErr.Error(), tc.indexErr)) {
					t.Errorf("IndexErr %v, want one containing %q", in.IndexErr, tc.indexErr)
				}
				want := py[paths[comp]]
				if in.Damage != nil || in.MessageCount != uint64(len(want)) || in.ChunkCount < 5 {
					t.Errorf("Info: damage %v, %d messages in %d chunks; want none, %d, many", in.Damage, in.MessageCount, in.ChunkCount, len(want))
				}
				for topic, n := range topicCounts(want) {
					if got := in.TopicMessageCount(topic); got != uint64(n) {
						t.Errorf("Info: %d messages on %s, want %d", got, topic, n)
					}
				}
				got, err := readAll(t, r, Filter{})
				if err != nil {
					t.Fatal(err)
				}
				sameMessages(t, "scanned bag", got, want)
				got, err = readAll(t, r, Filter{Topics: []string{"/chatter"}})
				if err != nil || len(got) != topicCounts(want)["/chatter"] {
					t.Errorf("filtered scan: %d messages, %v", len(got), err)
				}
			})
		}
	}
}

func TestRejectsFilesThatAreNotVersion2Bags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
		is                  error
	}{
		{"empty", "", "version line", io.ErrUnexpectedEOF},
		{"text", "hello, this is not a bag at all\n", "not a ROS bag", ErrNotBag},
		{"bag format 1.2", "#ROSBAG V1.2\n" + strings.Repeat("x", 100), `bag format "1.2" is not supported, only 2.0`, nil},
		{"only the version line", "#ROSBAG V2.0\n", "record header length", io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			os.WriteFile(path, []byte(tc.content), 0o644)
			_, err := Open(path)
			var e *Error
			if !errors.As(err, &e) || e.File != path || !strings.Contains(err.Error(), tc.want) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("Open: %v, want an *Error naming the file, containing %q", err, tc.want)
			}
		})
	}
	if _, err := Open(filepath.Join(dir, "missing.bag")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing file: %v", err)
	}
}

func TestIteratorsRunIndependentlyAndStopAfterClose(t *testing.T) {
	paths, py := pyBags(t)
	r, err := Open(paths["lz4"])
	if err != nil {
		t.Fatal(err)
	}
	a, b := r.Messages(Filter{}), r.Messages(Filter{})
	var ga, gb []msgSummary
	for a.Next() {
		ga = append(ga, summarize(a.Message()))
		if b.Next() {
			gb = append(gb, summarize(b.Message()))
		}
	}
	for b.Next() {
		gb = append(gb, summarize(b.Message()))
	}
	if a.Err() != nil || b.Err() != nil || !slices.Equal(ga, gb) || len(ga) != len(py[paths["lz4"]]) {
		t.Fatalf("interleaved iterators: %d and %d messages, errors %v %v", len(ga), len(gb), a.Err(), b.Err())
	}
	c := r.Messages(Filter{})
	c.Next()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if c.Next() || c.Err() == nil || !strings.Contains(c.Err().Error(), "closed") {
		t.Fatalf("Next after Close: error %v", c.Err())
	}
}
