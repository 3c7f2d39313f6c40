package rosbag

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
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/geometry_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/rosgraph_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/tf2_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/protocommon"
)

// debianPython is the Python that has ROS's rosbag and message packages (the first python3 on PATH may
// not be it).
const debianPython = "/usr/bin/python3"

// sharedDir is a folder for files that several tests share (written once per test binary); TestMain
// removes it.
func sharedDir(t testing.TB) string {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = os.MkdirTemp("", "rosbag-test-") })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

var (
	sharedOnce sync.Once
	shared     string
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != "" {
		os.RemoveAll(shared)
	}
	os.Exit(code)
}

// tool returns the path of a ROS tool the tests run, failing the test with what to install if it is
// missing: these tests check against the real ROS tools, never stand-ins.
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (Debian packages python3-rosbag, python3-roslz4, python3-sensor-msgs, python3-tf2-msgs, python3-rosgraph-msgs; `make setup` installs them): %v", name, err)
	}
	return p
}

// run runs a command and returns its standard output, failing the test with its output on error.
func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := runErr(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runErr is run for goroutines other than the test's: it returns the failure instead.
func runErr(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// runAll runs commands at once and returns their outputs, failing the test if any fails.
func runAll(t testing.TB, cmds ...[]string) [][]byte {
	t.Helper()
	outs := make([][]byte, len(cmds))
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, c := range cmds {
		wg.Add(1)
		go func() { defer wg.Done(); outs[i], errs[i] = runErr(c[0], c[1:]...) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return outs
}

// pyBag runs testdata/pybag.py with Debian's Python.
func pyBag(t testing.TB, args ...string) []byte {
	t.Helper()
	tool(t, debianPython)
	return run(t, debianPython, append([]string{filepath.Join("testdata", "pybag.py")}, args...)...)
}

// msgSummary is one message as both sides report it: where, when, what type, and a hash of its bytes.
type msgSummary struct {
	Topic  string `json:"topic"`
	Sec    uint32 `json:"sec"`
	Nsec   uint32 `json:"nsec"`
	Type   string `json:"type"`
	MD5    string `json:"md5"`
	Len    int    `json:"len"`
	SHA256 string `json:"sha256"`
}

func (m msgSummary) String() string {
	return fmt.Sprintf("%s@%d.%09d %s %d bytes %.8s", m.Topic, m.Sec, m.Nsec, m.Type, m.Len, m.SHA256)
}

func summarize(m Message) msgSummary {
	sum := sha256.Sum256(m.Data)
	return msgSummary{Topic: m.Conn.Topic, Sec: m.Time.Sec, Nsec: m.Time.Nsec, Type: m.Conn.Type, MD5: m.Conn.MD5Sum,
		Len: len(m.Data), SHA256: hex.EncodeToString(sum[:])}
}

// pythonRead is every message of each bag as ROS's Python rosbag reads it (in time order).
func pythonRead(t testing.TB, paths ...string) map[string][]msgSummary {
	t.Helper()
	out := map[string][]msgSummary{}
	for _, line := range bytes.Split(bytes.TrimSpace(pyBag(t, append([]string{"dump"}, paths...)...)), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m struct {
			Bag string `json:"bag"`
			msgSummary
		}
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("pybag.py dump: %v: %s", err, line)
		}
		out[m.Bag] = append(out[m.Bag], m.msgSummary)
	}
	return out
}

// readAll reads every message f selects with our reader, in its order, and the error that ended it.
func readAll(t testing.TB, r *Reader, f Filter) ([]msgSummary, error) {
	t.Helper()
	var got []msgSummary
	it := r.Messages(f)
	for it.Next() {
		got = append(got, summarize(it.Message()))
	}
	return got, it.Err()
}

// byTime orders messages as ROS's Python reader yields them: by time, ties in a fixed order.
func byTime(ms []msgSummary) []msgSummary {
	ms = slices.Clone(ms)
	slices.SortStableFunc(ms, func(a, b msgSummary) int {
		if c := int64(a.Sec)*1e9 + int64(a.Nsec) - (int64(b.Sec)*1e9 + int64(b.Nsec)); c != 0 {
			if c < 0 {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Topic+a.SHA256, b.Topic+b.SHA256)
	})
	return ms
}

// sameMessages reports the first difference between two message lists, compared in time order.
func sameMessages(t testing.TB, what string, got, want []msgSummary) {
	t.Helper()
	g, w := byTime(got), byTime(want)
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			t.Fatalf("%s: message %d (in time order) is %v, want %v", what, i, g[i], w[i])
		}
	}
	if len(g) != len(w) {
		t.Fatalf("%s: %d messages, want %d", what, len(g), len(w))
	}
}

// goroslibBody serializes a goroslib message with goroslib's own codec, without its length prefix.
func goroslibBody(t testing.TB, msg any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := protocommon.MessageEncode(&b, msg); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()[4:]
}

// testMessage is one message a test writes.
type testMessage struct {
	topic string
	typ   MsgType
	time  Time
	data  []byte
}

// testMessages are frames of a small RGB-D-like recording with every message type cen writes:
// Image and CameraInfo on two cameras, CompressedImage, TF, Clock and a String.
func testMessages(t testing.TB, frames int) []testMessage {
	var ms []testMessage
	base := time.Unix(1700000000, 0).UTC()
	for i := range frames {
		stamp := base.Add(time.Duration(i) * 33333333 * time.Nanosecond)
		tm := StampTime(stamp)
		hdr := std_msgs.Header{Seq: uint32(i), Stamp: stamp, FrameId: "camera_rgb_optical_frame"}
		rgb := sensor_msgs.Image{Header: hdr, Height: 12, Width: 16, Encoding: "rgb8", Step: 48, Data: make([]byte, 12*48)}
		for k := range rgb.Data {
			rgb.Data[k] = byte(i*31 + k)
		}
		depth := sensor_msgs.Image{Header: hdr, Height: 12, Width: 16, Encoding: "16UC1", Step: 32, Data: make([]byte, 12*32)}
		for k := range depth.Data {
			depth.Data[k] = byte(i ^ k)
		}
		ms = append(ms,
			testMessage{"/camera/rgb/image_raw", ImageType, tm, AppendImage(nil, &rgb)},
			testMessage{"/camera/depth/image_raw", ImageType, tm, AppendImage(nil, &depth)})
		if i%4 == 0 {
			info := sensor_msgs.CameraInfo{Header: hdr, Height: 12, Width: 16, DistortionModel: "plumb_bob",
				D: []float64{0.1, -0.25, 0.001, 0, float64(i)}, K: [9]float64{525, 0, 8, 0, 525, 6, 0, 0, 1},
				R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, P: [12]float64{525, 0, 8, 0, 0, 525, 6, 0, 0, 0, 1, 0}}
			ms = append(ms, testMessage{"/camera/rgb/camera_info", CameraInfoType, tm, AppendCameraInfo(nil, &info)})
			jpeg := sensor_msgs.CompressedImage{Header: hdr, Format: "jpeg", Data: bytes.Repeat([]byte{0xFF, 0xD8, byte(i)}, 20)}
			ms = append(ms, testMessage{"/camera/rgb/image_raw/compressed", CompressedImageType, tm, AppendCompressedImage(nil, &jpeg)})
		}
		if i%10 == 0 {
			tf := tf2_msgs.TFMessage{Transforms: []geometry_msgs.TransformStamped{{
				Header: std_msgs.Header{Seq: uint32(i), Stamp: stamp, FrameId: "base_link"}, ChildFrameId: "camera_link",
				Transform: geometry_msgs.Transform{Translation: geometry_msgs.Vector3{X: 0.1, Z: 0.3},
					Rotation: geometry_msgs.Quaternion{W: 1}}}}}
			ms = append(ms,
				testMessage{"/tf", TFMessageType, tm, goroslibBody(t, &tf)},
				testMessage{"/clock", ClockType, tm, goroslibBody(t, &rosgraph_msgs.Clock{Clock: stamp})},
				testMessage{"/labels/info", StringType, tm, goroslibBody(t, &std_msgs.String{Data: fmt.Sprintf("frame %d", i)})})
		}
	}
	return ms
}

// writeBag writes ms with our Writer and returns the summaries of what was written.
func writeBag(t testing.TB, path string, conf WriterConf, ms []testMessage) []msgSummary {
	t.Helper()
	w, err := Create(path, conf)
	if err != nil {
		t.Fatal(err)
	}
	conns := map[string]*Connection{}
	var want []msgSummary
	for _, m := range ms {
		c := conns[m.topic]
		if c == nil {
			if c, err = w.AddConnection(Connection{Topic: m.topic, MsgType: m.typ, CallerID: "/cen_test"}); err != nil {
				t.Fatal(err)
			}
			conns[m.topic] = c
		}
		if err := w.WriteMessage(c, m.time, m.data); err != nil {
			t.Fatal(err)
		}
		want = append(want, summarize(Message{Conn: c, Time: m.time, Data: m.data}))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// topicCounts counts messages per topic.
func topicCounts(ms []msgSummary) map[string]int {
	n := map[string]int{}
	for _, m := range ms {
		n[m.Topic]++
	}
	return n
}

func mustOpen(t testing.TB, path string) *Reader {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
