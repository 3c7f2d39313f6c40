package rosbag

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestOurBagsPassRosbagInfoAndCheckAndPythonReadsThem(t *testing.T) {
	t.Parallel()
	for _, comp := range []string{"none", "lz4"} {
		t.Run(comp, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "cen_"+comp+".bag")
			ms := testMessages(t, 60)
			want := writeBag(t, path, WriterConf{Compression: comp, ChunkSize: 4096}, ms)
			r := mustOpen(t, path)
			chunks := r.Info().ChunkCount
			if chunks < 3 {
				t.Fatalf("%d chunks, want several (the test needs a multi-chunk bag)", chunks)
			}

			rosbag := tool(t, "rosbag")
			outs := runAll(t, []string{rosbag, "info", path}, []string{rosbag, "info", "-y", path}, []string{rosbag, "check", path})
			info, infoYAML, check := outs[0], outs[1], outs[2]
			py := pythonRead(t, path)

			if !strings.Contains(string(check), "Bag file does not need any migrations.") {
				t.Errorf("rosbag check:\n%s", check)
			}
			re := regexp.MustCompile(`compression:\s+` + comp + ` \[(\d+)/(\d+) chunks`)
			if m := re.FindStringSubmatch(string(info)); m == nil || m[1] != fmt.Sprint(chunks) || m[2] != m[1] {
				t.Errorf("rosbag info does not report %d %s chunks:\n%s", chunks, comp, info)
			}
			var y struct {
				Messages    int    `yaml:"messages"`
				Indexed     bool   `yaml:"indexed"`
				Compression string `yaml:"compression"`
				Types       []struct {
					Type string `yaml:"type"`
					MD5  string `yaml:"md5"`
				} `yaml:"types"`
				Topics []struct {
					Topic    string `yaml:"topic"`
					Type     string `yaml:"type"`
					Messages int    `yaml:"messages"`
				} `yaml:"topics"`
			}
			if err := yaml.Unmarshal(infoYAML, &y); err != nil {
				t.Fatalf("rosbag info -y: %v\n%s", err, infoYAML)
			}
			if y.Messages != len(want) || !y.Indexed || y.Compression != comp {
				t.Errorf("rosbag info -y: %d messages, indexed %v, compression %s; want %d, true, %s", y.Messages, y.Indexed, y.Compression, len(want), comp)
			}
			counts := topicCounts(want)
			for _, tp := range y.Topics {
				if tp.Messages != counts[tp.Topic] {
					t.Errorf("rosbag info -y: %s has %d messages, want %d", tp.Topic, tp.Messages, counts[tp.Topic])
				}
				delete(counts, tp.Topic)
			}
			if len(counts) > 0 {
				t.Errorf("rosbag info -y does not list topics %v", counts)
			}
			md5s := map[string]string{}
			for _, m := range ms {
				md5s[m.typ.Type] = m.typ.MD5Sum
			}
			for _, ty := range y.Types {
				if md5s[ty.Type] != ty.MD5 {
					t.Errorf("rosbag info -y: type %s [%s], want [%s]", ty.Type, ty.MD5, md5s[ty.Type])
				}
				delete(md5s, ty.Type)
			}
			if len(md5s) > 0 {
				t.Errorf("rosbag info -y does not list types %v", md5s)
			}

			sameMessages(t, "ROS's Python reader on our bag", py[path], want)
			got, err := readAll(t, r, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("our reader does not give back the messages in the order written")
			}
		})
	}
}

func TestWriterLeavesNoPartialBagUnderTheFinalName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bag")
	if err := os.WriteFile(path, []byte("previous content"), 0o644); err != nil {
		t.Fatal(err)
	}
	entries := func() []string {
		es, _ := os.ReadDir(dir)
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}

	w, err := Create(path, WriterConf{Compression: "lz4", ChunkSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := w.AddConnection(Connection{Topic: "/chatter", MsgType: StringType})
	for i := range 100 {
		if err := w.WriteMessage(c, Time{Sec: uint32(i) + 1}, []byte{3, 0, 0, 0, 'a', 'b', 'c'}); err != nil {
			t.Fatal(err)
		}
	}
	if got := string(readFile(t, path)); got != "previous content" {
		t.Fatalf("before Close the target holds %q", got)
	}
	if n := len(entries()); n != 2 {
		t.Fatalf("while writing the folder holds %v, want the old file and one temporary file", entries())
	}
	w.Abort()
	if got := entries(); !slices.Equal(got, []string{"out.bag"}) || string(readFile(t, path)) != "previous content" {
		t.Fatalf("after Abort the folder holds %v", got)
	}
	if err := w.WriteMessage(c, Time{Sec: 1}, nil); err == nil || !strings.Contains(err.Error(), "aborted") {
		t.Fatalf("WriteMessage after Abort: %v, want an error saying the Writer was aborted", err)
	}

	w, err = Create(path, WriterConf{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ = w.AddConnection(Connection{Topic: "/chatter", MsgType: StringType})
	if err := w.WriteMessage(c, Time{Sec: 1}, []byte{0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := entries(); !slices.Equal(got, []string{"out.bag"}) {
		t.Fatalf("after Close the folder holds %v", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("bag mode %v, want 0644", st.Mode().Perm())
	}
	if r := mustOpen(t, path); r.Info().MessageCount != 1 {
		t.Errorf("closed bag holds %d messages, want 1", r.Info().MessageCount)
	}
	if err := w.Close(); err == nil {
		t.Error("a second Close gave no error")
	}
}

func TestWriterClosesChunksAtChunkSizeAndGivesBigMessagesTheirOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chunks.bag")
	w, err := Create(path, WriterConf{Compression: "none", ChunkSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := w.AddConnection(Connection{Topic: "/data", MsgType: StringType})
	sizes := []int{100, 100, 100, 100, 100, 100, 100, 100, 100, 5000, 100, 100}
	for i, n := range sizes {
		if err := w.WriteMessage(c, Time{Sec: uint32(i + 1)}, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, path)
	var got []int64
	for _, ch := range r.chunks {
		got = append(got, ch.size)
	}
	// 100-byte messages take 146 bytes as records; the connection record comes first in the first chunk.
	if len(got) != 3 || got[0] < 1000 || got[0] > 1000+146 || got[1] < 5000 || got[2] != 2*146 {
		t.Errorf("chunk sizes %v: want the first closed just past 1000 bytes, the 5000-byte message ending the second, the rest in a third", got)
	}
}

func TestBagHeaderIsPaddedTo4096BytesAndPointsAtTheIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.bag")
	writeBag(t, path, WriterConf{Compression: "lz4"}, testMessages(t, 3))
	b := readFile(t, path)
	if !bytes.HasPrefix(b, []byte("#ROSBAG V2.0\n")) {
		t.Fatalf("bag starts with %q", b[:13])
	}
	hl := binary.LittleEndian.Uint32(b[13:])
	dl := binary.LittleEndian.Uint32(b[17+hl:])
	if hl+dl != 4096 || !bytes.Equal(b[21+hl:21+hl+dl], bytes.Repeat([]byte(" "), int(dl))) {
		t.Errorf("bag header: %d header bytes + %d data bytes, want 4096 in all, the data spaces", hl, dl)
	}
	var h header
	if err := parseHeader(b[17:17+hl], &h); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, path)
	if h.indexPos <= 4117 || h.indexPos >= uint64(len(b)) || h.chunkCount != uint32(r.Info().ChunkCount) || h.connCount != uint32(len(r.Info().Connections)) {
		t.Errorf("bag header index_pos %d conn_count %d chunk_count %d (file %d bytes, %d connections, %d chunks)",
			h.indexPos, h.connCount, h.chunkCount, len(b), len(r.Info().Connections), r.Info().ChunkCount)
	}
}

func TestWriterLeavesOutConnectionsWithoutMessages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.bag")
	w, err := Create(path, WriterConf{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddConnection(Connection{Topic: "/unused", MsgType: ImageType}); err != nil {
		t.Fatal(err)
	}
	c, _ := w.AddConnection(Connection{Topic: "/used", MsgType: StringType, Latching: true})
	if err := w.WriteMessage(c, Time{Sec: 5}, []byte{0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	in := mustOpen(t, path).Info()
	if len(in.Connections) != 1 || in.Connections[0].Topic != "/used" || !in.Connections[0].Latching || in.Connections[0].ID != 1 {
		t.Errorf("connections %+v, want only /used (ID 1, latching)", in.Connections)
	}
}

func TestWriterRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		conf WriterConf
		want string
	}{
		{"bz2 cannot be written", WriterConf{Compression: "bz2"}, `compression "bz2" is not supported`},
		{"negative chunk size", WriterConf{ChunkSize: -1}, "chunk size -1 out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Create(filepath.Join(dir, "x.bag"), tc.conf)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Create: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := Create(filepath.Join(dir, "missing", "x.bag"), WriterConf{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Create in a missing folder: %v", err)
	}

	w, err := Create(filepath.Join(dir, "y.bag"), WriterConf{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.AddConnection(Connection{Topic: "/x"}); err == nil || !strings.Contains(err.Error(), "needs Type and MD5Sum") {
		t.Errorf("AddConnection without a type: %v", err)
	}
	if _, err := w.AddConnection(Connection{MsgType: StringType}); err == nil || !strings.Contains(err.Error(), "without a topic") {
		t.Errorf("AddConnection without a topic: %v", err)
	}
	other := &Connection{Topic: "/x", MsgType: StringType}
	if err := w.WriteMessage(other, Time{}, nil); err == nil || !strings.Contains(err.Error(), "not added by this Writer") {
		t.Errorf("WriteMessage on a foreign connection: %v", err)
	}
}
