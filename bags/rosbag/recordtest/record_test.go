// Package recordtest checks the rosbag package against the ROS tools that need a master: bags that a
// live `rosbag record` writes are read, and bags the Writer makes are published by `rosbag play` (C++).
// It is a package of its own because the master helper (test/rosenv) links much of cen, which the
// rosbag package's own tests and benchmarks do without.
package recordtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/cen-ros/cen/bags/rosbag"
	"github.com/cen-ros/cen/test/rosenv"
)

// recordedImage is the image a test publisher sends as frame seq: its bytes say which frame it is.
func recordedImage(seq uint32) *sensor_msgs.Image {
	m := &sensor_msgs.Image{
		Header: std_msgs.Header{Seq: seq, Stamp: time.Now(), FrameId: "camera"},
		Height: 24, Width: 32, Encoding: "rgb8", Step: 96, Data: make([]byte, 24*96),
	}
	for i := range m.Data {
		m.Data[i] = byte(int(seq) + i)
	}
	return m
}

func TestReadsBagsRecordedByRosbagRecord(t *testing.T) {
	t.Parallel()
	rosbagBin, err := exec.LookPath("rosbag")
	if err != nil {
		t.Fatalf("rosbag not found (Debian packages python3-rosbag, python3-roslz4, python3-sensor-msgs; `make setup` installs them): %v", err)
	}
	m := rosenv.StartMaster(t)
	n, err := goroslib.NewNode(nodeConf(t, "cen_rosbag_test", m))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	img, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: n, Topic: "/camera/image_raw", Msg: &sensor_msgs.Image{}})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	info, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: n, Topic: "/camera/camera_info", Msg: &sensor_msgs.CameraInfo{}})
	if err != nil {
		t.Fatal(err)
	}
	defer info.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for seq := uint32(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			img.Write(recordedImage(seq))
			info.Write(&sensor_msgs.CameraInfo{Header: std_msgs.Header{Seq: seq, Stamp: time.Now(), FrameId: "camera"},
				Height: 24, Width: 32, DistortionModel: "plumb_bob", D: []float64{0, 0, 0, 0, 0}})
		}
	}()
	defer func() { close(stop); <-done }()

	dir := t.TempDir()
	topics := []string{"/camera/image_raw", "/camera/camera_info"}
	bags := map[string]string{}
	var procs []*rosenv.Process
	for _, comp := range []string{"none", "lz4", "bz2"} {
		bags[comp] = filepath.Join(dir, "rec_"+comp+".bag")
		args := []string{"record", "-O", bags[comp], "-l", "30", "--chunksize=16"}
		if comp != "none" {
			args = append(args, "--"+comp)
		}
		procs = append(procs, m.Command(t, rosbagBin, append(args, topics...)...))
	}
	// A recorder killed mid-chunk leaves a .bag.active: closed chunks, their index data, an open chunk.
	killed := filepath.Join(dir, "killed.bag")
	kp := m.Command(t, rosbagBin, append([]string{"record", "-O", killed, "--chunksize=16"}, topics...)...)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, err := os.Stat(killed + ".active"); err == nil && st.Size() > 4117+100<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recorder wrote no 100 KB in 30 s:\n%s", kp.Output())
		}
	}
	syscall.Kill(-kp.Cmd.Process.Pid, syscall.SIGKILL)
	kp.Wait(10 * time.Second)
	for _, p := range procs {
		if err := p.Wait(60 * time.Second); err != nil {
			t.Fatalf("rosbag record: %v\n%s", err, p.Output())
		}
	}

	reindexed := filepath.Join(dir, "reindexed.bag")
	if err := os.WriteFile(reindexed, readFile(t, killed+".active"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(rosbagBin, "reindex", reindexed).CombinedOutput(); err != nil {
		t.Fatalf("rosbag reindex: %v\n%s", err, out)
	}
	py := pythonRead(t, bags["none"], bags["lz4"], bags["bz2"], reindexed)

	for _, comp := range []string{"none", "lz4", "bz2"} {
		t.Run(comp, func(t *testing.T) {
			r := open(t, bags[comp])
			in := r.Info()
			if !in.Indexed || in.MessageCount != 60 || in.TopicMessageCount(topics[0]) != 30 || in.ChunkCount < 2 || in.Compression[comp] != in.ChunkCount {
				t.Errorf("Info: indexed %v, %d messages (%d images) in %d chunks %v; want indexed, 60 (30), several %s chunks",
					in.Indexed, in.MessageCount, in.TopicMessageCount(topics[0]), in.ChunkCount, in.Compression, comp)
			}
			for _, c := range in.Connections {
				if c.CallerID != "/cen_rosbag_test" || c.Latching || c.MessageDefinition == "" {
					t.Errorf("connection %+v: want callerid /cen_rosbag_test, not latching, a definition", c)
				}
			}
			got, err := readAll(t, r, rosbag.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			sameMessages(t, "recorded bag", got, py[bags[comp]])
			checkRecordedImages(t, r)
		})
	}

	t.Run("killed recorder", func(t *testing.T) {
		r := open(t, killed+".active")
		in := r.Info()
		if in.Indexed || in.IndexErr != nil {
			t.Errorf("Info: indexed %v, index error %v; want a scan of an unindexed bag", in.Indexed, in.IndexErr)
		}
		got, err := readAll(t, r, rosbag.Filter{})
		if err != nil && (in.Damage == nil || err.Error() != in.Damage.Error()) {
			t.Fatalf("reading: %v; Info.Damage %v", err, in.Damage)
		}
		if uint64(len(got)) != in.MessageCount {
			t.Errorf("read %d messages, Info counts %d", len(got), in.MessageCount)
		}
		// rosbag reindex recovers the closed chunks; we also read the messages of the open one.
		want := py[reindexed]
		if len(want) == 0 || len(got) < len(want) {
			t.Fatalf("%d messages, rosbag reindex recovered %d", len(got), len(want))
		}
		sameMessages(t, "killed recorder's bag (the messages rosbag reindex recovers)", byTime(got)[:len(want)], want)
		checkRecordedImages(t, r)
		t.Logf("killed recorder: %d messages read, %d recovered by rosbag reindex; damage: %v", len(got), len(want), in.Damage)
	})
}

func TestRosbagPlayPublishesTheMessagesOfOurBags(t *testing.T) {
	t.Parallel()
	rosbagBin, err := exec.LookPath("rosbag")
	if err != nil {
		t.Fatalf("rosbag not found (Debian packages python3-rosbag, python3-roslz4; `make setup` installs them): %v", err)
	}
	const frames = 40
	path := filepath.Join(t.TempDir(), "ours.bag")
	w, err := rosbag.Create(path, rosbag.WriterConf{Compression: "lz4", ChunkSize: 8192})
	if err != nil {
		t.Fatal(err)
	}
	imgC, _ := w.AddConnection(rosbag.Connection{Topic: "/camera/image_raw", MsgType: rosbag.ImageType, CallerID: "/cen_synth"})
	infoC, _ := w.AddConnection(rosbag.Connection{Topic: "/camera/camera_info", MsgType: rosbag.CameraInfoType, CallerID: "/cen_synth"})
	start := time.Unix(1700000000, 0)
	for i := range frames {
		m := recordedImage(uint32(i))
		m.Header.Stamp = start.Add(time.Duration(i) * 10 * time.Millisecond)
		tm := rosbag.StampTime(m.Header.Stamp)
		info := sensor_msgs.CameraInfo{Header: m.Header, Height: 24, Width: 32, DistortionModel: "plumb_bob", D: make([]float64, 5)}
		if w.WriteMessage(imgC, tm, rosbag.AppendImage(nil, m)) != nil || w.WriteMessage(infoC, tm, rosbag.AppendCameraInfo(nil, &info)) != nil {
			t.Fatal("writing the bag failed")
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	m := rosenv.StartMaster(t)
	n, err := goroslib.NewNode(nodeConf(t, "cen_rosbag_play_test", m))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	images, infos := make(chan *sensor_msgs.Image, frames), make(chan *sensor_msgs.CameraInfo, frames)
	for _, conf := range []goroslib.SubscriberConf{
		{Node: n, Topic: "/camera/image_raw", Callback: func(m *sensor_msgs.Image) { images <- m }},
		{Node: n, Topic: "/camera/camera_info", Callback: func(m *sensor_msgs.CameraInfo) { infos <- m }},
	} {
		sub, err := goroslib.NewSubscriber(conf)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
	}
	play := m.Command(t, rosbagBin, "play", "--wait-for-subscribers", "-q", path)
	if err := play.Wait(60 * time.Second); err != nil {
		t.Fatalf("rosbag play: %v\n%s", err, play.Output())
	}
	timeout := time.After(10 * time.Second)
	for i := range frames {
		select {
		case img := <-images:
			want := recordedImage(uint32(i))
			if img.Header.Seq != uint32(i) || string(img.Data) != string(want.Data) || !img.Header.Stamp.Equal(start.Add(time.Duration(i)*10*time.Millisecond)) {
				t.Fatalf("image %d: seq %d, stamp %v, or data differ from what the bag holds", i, img.Header.Seq, img.Header.Stamp)
			}
		case <-timeout:
			t.Fatalf("rosbag play published %d of %d images:\n%s", i, frames, play.Output())
		}
	}
	for i := range frames {
		select {
		case info := <-infos:
			if info.Header.Seq != uint32(i) || info.DistortionModel != "plumb_bob" {
				t.Fatalf("camera info %d: seq %d, model %q", i, info.Header.Seq, info.DistortionModel)
			}
		case <-timeout:
			t.Fatalf("rosbag play published %d of %d camera infos", i, frames)
		}
	}
}

// checkRecordedImages decodes every image of a recorded bag and checks its content against its seq.
func checkRecordedImages(t *testing.T, r *rosbag.Reader) {
	t.Helper()
	it := r.Messages(rosbag.Filter{Topics: []string{"/camera/image_raw"}})
	var m sensor_msgs.Image
	n := 0
	for it.Next() {
		if err := rosbag.DecodeImage(&m, it.Message().Data, rosbag.AliasData); err != nil {
			t.Fatal(err)
		}
		want := recordedImage(m.Header.Seq)
		if m.Width != want.Width || m.Height != want.Height || m.Encoding != want.Encoding || string(m.Data) != string(want.Data) {
			t.Fatalf("image seq %d: %dx%d %s does not hold what was published", m.Header.Seq, m.Width, m.Height, m.Encoding)
		}
		n++
	}
	if err := it.Err(); err != nil && (r.Info().Damage == nil || err.Error() != r.Info().Damage.Error()) {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no images")
	}
}

// nodeConf is a goroslib node on the test's master whose log goes to the test's log (goroslib reports
// each publisher that goes away, as rosbag play does when it ends, as an error).
func nodeConf(t *testing.T, name string, m *rosenv.Master) goroslib.NodeConf {
	return goroslib.NodeConf{Name: name, MasterAddress: m.Addr, Host: "127.0.0.1",
		LogDestinations: goroslib.LogDestinationCallback,
		OnLog:           func(l goroslib.LogLevel, s string) { t.Logf("goroslib: %s", s) }}
}

func open(t *testing.T, path string) *rosbag.Reader {
	t.Helper()
	r, err := rosbag.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// msgSummary is one message as both readers report it (the rosbag package's tests compare the same way).
type msgSummary struct {
	Topic  string `json:"topic"`
	Sec    uint32 `json:"sec"`
	Nsec   uint32 `json:"nsec"`
	Type   string `json:"type"`
	MD5    string `json:"md5"`
	Len    int    `json:"len"`
	SHA256 string `json:"sha256"`
}

func readAll(t *testing.T, r *rosbag.Reader, f rosbag.Filter) ([]msgSummary, error) {
	t.Helper()
	var got []msgSummary
	it := r.Messages(f)
	for it.Next() {
		m := it.Message()
		sum := sha256.Sum256(m.Data)
		got = append(got, msgSummary{Topic: m.Conn.Topic, Sec: m.Time.Sec, Nsec: m.Time.Nsec, Type: m.Conn.Type,
			MD5: m.Conn.MD5Sum, Len: len(m.Data), SHA256: hex.EncodeToString(sum[:])})
	}
	return got, it.Err()
}

// pythonRead is every message of each bag as ROS's Python rosbag reads it (../testdata/pybag.py dump).
func pythonRead(t *testing.T, paths ...string) map[string][]msgSummary {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", append([]string{filepath.Join("..", "testdata", "pybag.py"), "dump"}, paths...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pybag.py dump: %v\n%s", err, stderr.Bytes())
	}
	got := map[string][]msgSummary{}
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var m struct {
			Bag string `json:"bag"`
			msgSummary
		}
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("pybag.py dump: %v: %s", err, line)
		}
		got[m.Bag] = append(got[m.Bag], m.msgSummary)
	}
	return got
}

func byTime(ms []msgSummary) []msgSummary {
	ms = slices.Clone(ms)
	slices.SortStableFunc(ms, func(a, b msgSummary) int {
		if c := (rosbag.Time{Sec: a.Sec, Nsec: a.Nsec}).UnixNano() - (rosbag.Time{Sec: b.Sec, Nsec: b.Nsec}).UnixNano(); c != 0 {
			if c < 0 {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Topic+a.SHA256, b.Topic+b.SHA256)
	})
	return ms
}

func sameMessages(t *testing.T, what string, got, want []msgSummary) {
	t.Helper()
	g, w := byTime(got), byTime(want)
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			t.Fatalf("%s: message %d (in time order) is %s, want %s", what, i, fmt.Sprint(g[i]), fmt.Sprint(w[i]))
		}
	}
	if len(g) != len(w) {
		t.Fatalf("%s: %d messages, want %d", what, len(g), len(w))
	}
}
