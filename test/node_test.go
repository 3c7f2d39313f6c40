package test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/diagnostic_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/geometry_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/tf2_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/vision_msgs"

	"github.com/cen-ros/cen/calibration"
	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/internal/modeltest"
	"github.com/cen-ros/cen/preprocess"
	"github.com/cen-ros/cen/test/rosenv"
)

// The node tests run the real binary through roslaunch against a real rosmaster, and talk to it with a goroslib
// node in the test process (publishing camera frames, reading what the node publishes), Debian's rostopic
// and rosnode, and rospy clients.

const (
	frameW, frameH = 160, 120
	topicRGB       = "/cam/color/image_raw"
	topicDepth     = "/cam/aligned_depth/image_raw"
)

// nodeModel writes a small exported model (lite-r18 at 1/8 width, 7 classes, input 96×128) and returns its
// path.
func nodeModel(t *testing.T) string {
	t.Helper()
	m := modeltest.Network(t, "lite-r18", 2, 11)
	spec := preprocess.DefaultSpec()
	spec.Height, spec.Width = 96, 128
	modeltest.SetRecipe(t, m, spec)
	return modeltest.Export(t, m, cen.ExportOptions{Height: 96, Width: 128})
}

// testFrame is a colour image with structure and its depth in millimetres (16UC1), frameW×frameH.
func testFrame(seed int) (rgb []byte, depthMM []uint16) {
	rgb = make([]byte, 3*frameW*frameH)
	depthMM = make([]uint16, frameW*frameH)
	for y := 0; y < frameH; y++ {
		for x := 0; x < frameW; x++ {
			i := y*frameW + x
			rgb[3*i] = uint8(2*x + 7*seed)
			rgb[3*i+1] = uint8(2 * y)
			rgb[3*i+2] = uint8((x*y)/8 + 30*seed)
			depthMM[i] = uint16(700 + 15*x + 10*y + 100*seed)
			if (x/20+y/20+seed)%7 == 0 {
				depthMM[i] = 0
			}
		}
	}
	return rgb, depthMM
}

func rgbMsg(h std_msgs.Header, rgb []byte) *sensor_msgs.Image {
	return &sensor_msgs.Image{Header: h, Width: frameW, Height: frameH, Encoding: "rgb8", Step: 3 * frameW, Data: rgb}
}

func depthMsg(h std_msgs.Header, d []uint16) *sensor_msgs.Image {
	data := make([]byte, 2*len(d))
	for i, v := range d {
		binary.LittleEndian.PutUint16(data[2*i:], v)
	}
	return &sensor_msgs.Image{Header: h, Width: frameW, Height: frameH, Encoding: "16UC1", Step: 2 * frameW, Data: data}
}

// writeFramePNGs writes a frame as the PNG files `cen predict` reads (depth in millimetres).
func writeFramePNGs(t *testing.T, dir string, rgb []byte, depth []uint16) (string, string) {
	t.Helper()
	ci := image.NewNRGBA(image.Rect(0, 0, frameW, frameH))
	di := image.NewGray16(image.Rect(0, 0, frameW, frameH))
	for i := 0; i < frameW*frameH; i++ {
		ci.SetNRGBA(i%frameW, i/frameW, color.NRGBA{rgb[3*i], rgb[3*i+1], rgb[3*i+2], 255})
		di.SetGray16(i%frameW, i/frameW, color.Gray16{Y: depth[i]})
	}
	rp, dp := filepath.Join(dir, "rgb.png"), filepath.Join(dir, "depth.png")
	writePNG(t, rp, ci)
	writePNG(t, dp, di)
	return rp, dp
}

// predictLabels runs `cen predict` on the frame and returns its label image's pixels.
func predictLabels(t *testing.T, model string, rgb []byte, depth []uint16) []byte {
	t.Helper()
	dir := t.TempDir()
	rp, dp := writeFramePNGs(t, dir, rgb, depth)
	out := filepath.Join(dir, "labels.png")
	if o, code := runCen(t, os.Environ(), "predict", "--model", model, "--rgb", rp, "--depth", dp, "--depth-unit", "mm", "-o", out); code != 0 {
		t.Fatalf("cen predict: %s", o)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img.(*image.Gray).Pix
}

// launchNode starts `roslaunch cen_ros segmentation.launch` with the model and the test topics, plus extra
// launch arguments, and waits until the node advertises its labels.
func launchNode(t *testing.T, m *rosenv.Master, model string, extra ...string) *rosenv.Process {
	t.Helper()
	rosenv.Binary(t)
	args := append([]string{"cen_ros", "segmentation.launch", "model:=" + model, "rgb:=" + topicRGB, "depth:=" + topicDepth}, extra...)
	p := m.CommandEnv(t, []string{"ROS_PACKAGE_PATH=" + rosenv.RepoRoot()}, "roslaunch", args...)
	waitFor(t, 60*time.Second, func() bool { return published(t, m, "/cen/labels") }, "the node to advertise /cen/labels", p)
	return p
}

// published reports whether some node publishes topic (rostopic list of the master's state).
func published(t testing.TB, m *rosenv.Master, topic string) bool {
	out, err := m.Output(t, "rostopic", "list", "-p")
	return err == nil && strings.Contains(out, topic+"\n")
}

func waitFor(t testing.TB, d time.Duration, cond func() bool, what string, p *rosenv.Process) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			out := ""
			if p != nil {
				out = p.Output()
			}
			t.Fatalf("timed out after %v waiting for %s\n%s", d, what, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// camera is a goroslib node in the test that publishes frames and collects what the cen node publishes.
type camera struct {
	t                testing.TB
	node             *goroslib.Node
	rgb, depth       *goroslib.Publisher
	mu               sync.Mutex
	labels, overlays []*sensor_msgs.Image
	colors           []*sensor_msgs.Image
	diags            []*diagnostic_msgs.DiagnosticArray
	subs             []*goroslib.Subscriber
}

// watchingCamera is a camera that collects the node's labels and /diagnostics and is connected to the node.
func watchingCamera(t testing.TB, m *rosenv.Master) *camera {
	t.Helper()
	cam := newCamera(t, m, "test_camera")
	cam.collectLabels()
	cam.collectDiagnostics()
	cam.waitConnected(m)
	return cam
}

func newCamera(t testing.TB, m *rosenv.Master, name string) *camera {
	t.Helper()
	c := &camera{t: t, node: newNode(t, m, name)}
	var err error
	if c.rgb, err = goroslib.NewPublisher(goroslib.PublisherConf{Node: c.node, Topic: topicRGB, Msg: &sensor_msgs.Image{}}); err != nil {
		t.Fatal(err)
	}
	if c.depth, err = goroslib.NewPublisher(goroslib.PublisherConf{Node: c.node, Topic: topicDepth, Msg: &sensor_msgs.Image{}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range c.subs {
			s.Close()
		}
		c.rgb.Close()
		c.depth.Close()
	})
	return c
}

func (c *camera) subscribe(topic string, cb any) {
	s, err := goroslib.NewSubscriber(goroslib.SubscriberConf{Node: c.node, Topic: topic, Callback: cb})
	if err != nil {
		c.t.Fatal(err)
	}
	c.subs = append(c.subs, s)
}

func (c *camera) collectLabels() {
	c.subscribe("/cen/labels", func(m *sensor_msgs.Image) { c.mu.Lock(); c.labels = append(c.labels, m); c.mu.Unlock() })
}

func (c *camera) collectDiagnostics() {
	c.subscribe("/diagnostics", func(m *diagnostic_msgs.DiagnosticArray) { c.mu.Lock(); c.diags = append(c.diags, m); c.mu.Unlock() })
}

// waitConnected waits until the cen node subscribes to both inputs, so that nothing published is lost.
func (c *camera) waitConnected(m *rosenv.Master) {
	waitFor(c.t, 30*time.Second, func() bool {
		out, err := m.Output(c.t, "rostopic", "info", topicDepth)
		out2, err2 := m.Output(c.t, "rostopic", "info", topicRGB)
		return err == nil && err2 == nil && strings.Contains(out, "/cen") && strings.Contains(out2, "/cen")
	}, "the node to subscribe to the inputs", nil)
	time.Sleep(300 * time.Millisecond) // the TCPROS connections follow the registration
}

// label returns the labels received for a stamp, waiting up to d.
func (c *camera) label(stamp time.Time, d time.Duration) *sensor_msgs.Image {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, l := range c.labels {
			if l.Header.Stamp.Equal(stamp) {
				c.mu.Unlock()
				return l
			}
		}
		c.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// status returns the newest /diagnostics status whose name ends with suffix, waiting up to d for one that
// satisfies ok.
func (c *camera) status(suffix string, d time.Duration, ok func(diagnostic_msgs.DiagnosticStatus) bool) (diagnostic_msgs.DiagnosticStatus, bool) {
	return c.statusSince(suffix, time.Time{}, d, ok)
}

// statusSince is status over the /diagnostics messages stamped after since.
func (c *camera) statusSince(suffix string, since time.Time, d time.Duration, ok func(diagnostic_msgs.DiagnosticStatus) bool) (diagnostic_msgs.DiagnosticStatus, bool) {
	deadline := time.Now().Add(d)
	var last diagnostic_msgs.DiagnosticStatus
	for time.Now().Before(deadline) {
		c.mu.Lock()
		found := false
		for i := len(c.diags) - 1; i >= 0 && c.diags[i].Header.Stamp.After(since); i-- {
			for _, s := range c.diags[i].Status {
				if strings.HasSuffix(s.Name, suffix) {
					if !found {
						last, found = s, true
					}
					if ok(s) {
						c.mu.Unlock()
						return s, true
					}
				}
			}
		}
		c.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	return last, false
}

func value(s diagnostic_msgs.DiagnosticStatus, key string) string {
	for _, kv := range s.Values {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

func (c *camera) publish(h std_msgs.Header, rgb []byte, depth []uint16) {
	c.depth.Write(depthMsg(h, depth))
	c.rgb.Write(rgbMsg(h, rgb))
}

// TestNodeLabelsEqualPredictAndCarryTheRGBHeader launches the node with roslaunch, publishes frames and
// requires for each the labels `cen predict` gives on the same images, with the colour image's header
// copied exactly; the class information is latched and set as parameters.
func TestNodeLabelsEqualPredictAndCarryTheRGBHeader(t *testing.T) {
	m := rosenv.StartMaster(t)
	model := nodeModel(t)
	p := launchNode(t, m, model)
	cam := newCamera(t, m, "test_camera")
	cam.collectLabels()
	var info *vision_msgs.VisionInfo
	var infoMu sync.Mutex
	cam.subscribe("/cen/class_info", func(v *vision_msgs.VisionInfo) { infoMu.Lock(); info = v; infoMu.Unlock() })
	cam.waitConnected(m)
	for i := 0; i < 3; i++ {
		rgb, depth := testFrame(i)
		h := std_msgs.Header{Seq: uint32(40 + i), Stamp: time.Unix(1700000100+int64(i), 123456789), FrameId: "cam_color_optical_frame"}
		cam.publish(h, rgb, depth)
		got := cam.label(h.Stamp, 20*time.Second)
		if got == nil {
			t.Fatalf("no labels for frame %d\n%s", i, p.Output())
		}
		if got.Header.Seq != h.Seq || !got.Header.Stamp.Equal(h.Stamp) || got.Header.FrameId != h.FrameId {
			t.Errorf("frame %d: labels header %+v, want the colour image's %+v", i, got.Header, h)
		}
		if got.Encoding != "mono8" || got.Width != frameW || got.Height != frameH || got.Step != frameW {
			t.Fatalf("frame %d: labels %s %dx%d step %d", i, got.Encoding, got.Width, got.Height, got.Step)
		}
		want := predictLabels(t, model, rgb, depth)
		if !bytes.Equal(got.Data, want) {
			diff := 0
			for j := range want {
				if want[j] != got.Data[j] {
					diff++
				}
			}
			t.Errorf("frame %d: the node's labels differ from cen predict's on %d of %d pixels", i, diff, len(want))
		}
	}
	infoMu.Lock()
	defer infoMu.Unlock()
	if info == nil || info.DatabaseLocation != "/cen/class_names" {
		t.Errorf("class info %+v", info)
	}
	out, err := m.Output(t, "rosparam", "get", "/cen/class_names")
	if err != nil || !strings.Contains(out, "class_0") || !strings.Contains(out, "class_6") {
		t.Errorf("rosparam get /cen/class_names: %v\n%s", err, out)
	}
}

// pngBytes encodes an image as PNG.
func pngBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestNodeCompressedInputsGiveTheLabelsOfRaw sends the same frames through image_transport's compressed (PNG)
// and compressedDepth (PNG) transports: the labels must equal those of the raw images.
func TestNodeCompressedInputsGiveTheLabelsOfRaw(t *testing.T) {
	m := rosenv.StartMaster(t)
	model := nodeModel(t)
	p := launchNode(t, m, model, "image_transport:=compressed", "depth_image_transport:=compressedDepth")
	cam := newCamera(t, m, "test_camera")
	rgbPub, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: cam.node, Topic: topicRGB + "/compressed", Msg: &sensor_msgs.CompressedImage{}})
	if err != nil {
		t.Fatal(err)
	}
	defer rgbPub.Close()
	depthPub, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: cam.node, Topic: topicDepth + "/compressedDepth", Msg: &sensor_msgs.CompressedImage{}})
	if err != nil {
		t.Fatal(err)
	}
	defer depthPub.Close()
	cam.collectLabels()
	waitFor(t, 30*time.Second, func() bool {
		out, err := m.Output(t, "rostopic", "info", topicDepth+"/compressedDepth")
		return err == nil && strings.Contains(out, "/cen")
	}, "the node to subscribe to the compressed topics", p)
	time.Sleep(300 * time.Millisecond)
	for i := 0; i < 2; i++ {
		rgb, depth := testFrame(i)
		ci := image.NewNRGBA(image.Rect(0, 0, frameW, frameH))
		di := image.NewGray16(image.Rect(0, 0, frameW, frameH))
		for j := 0; j < frameW*frameH; j++ {
			ci.SetNRGBA(j%frameW, j/frameW, color.NRGBA{rgb[3*j], rgb[3*j+1], rgb[3*j+2], 255})
			di.SetGray16(j%frameW, j/frameW, color.Gray16{Y: depth[j]})
		}
		h := std_msgs.Header{Seq: uint32(i), Stamp: time.Unix(1700000200+int64(i), 0), FrameId: "cam_color_optical_frame"}
		// compressed_depth_image_transport's 12-byte header (format 0, no quantisation for 16UC1), then PNG.
		depthPub.Write(&sensor_msgs.CompressedImage{Header: h, Format: "16UC1; compressedDepth png", Data: append(make([]byte, 12), pngBytes(t, di)...)})
		rgbPub.Write(&sensor_msgs.CompressedImage{Header: h, Format: "rgb8; png compressed bgr8", Data: pngBytes(t, ci)})
		got := cam.label(h.Stamp, 20*time.Second)
		if got == nil {
			t.Fatalf("no labels for compressed frame %d\n%s", i, p.Output())
		}
		if want := predictLabels(t, model, rgb, depth); !bytes.Equal(got.Data, want) {
			t.Errorf("compressed frame %d: labels differ from those of the raw images", i)
		}
	}
}

// TestNodePairsOffsetStampsAndNotFarApartOnes checks the synchroniser live: depth stamped 15 ms after the
// colour image pairs; depth 200 ms away (more than ~max_interval, 50 ms by default) does not, and
// /diagnostics counts it as unmatched.
func TestNodePairsOffsetStampsAndNotFarApartOnes(t *testing.T) {
	m := rosenv.StartMaster(t)
	model := nodeModel(t)
	p := launchNode(t, m, model)
	cam := watchingCamera(t, m)
	rgb, depth := testFrame(1)
	base := time.Unix(1700000300, 0)
	for i := 0; i < 4; i++ {
		stamp := base.Add(time.Duration(i) * 100 * time.Millisecond)
		cam.depth.Write(depthMsg(std_msgs.Header{Stamp: stamp.Add(15 * time.Millisecond), FrameId: "cam_color_optical_frame"}, depth))
		cam.rgb.Write(rgbMsg(std_msgs.Header{Stamp: stamp, FrameId: "cam_color_optical_frame"}, rgb))
		time.Sleep(150 * time.Millisecond)
	}
	// The policy proves a pair optimal only once a later message arrives, so the last pair may stay held
	// back; the first three must have come.
	for i := 0; i < 3; i++ {
		if cam.label(base.Add(time.Duration(i)*100*time.Millisecond), 10*time.Second) == nil {
			t.Fatalf("offset pair %d (depth 15 ms after colour) got no labels\n%s", i, p.Output())
		}
	}
	far := base.Add(10 * time.Second)
	for i := 0; i < 4; i++ {
		stamp := far.Add(time.Duration(i) * time.Second)
		cam.depth.Write(depthMsg(std_msgs.Header{Stamp: stamp.Add(200 * time.Millisecond), FrameId: "cam_color_optical_frame"}, depth))
		cam.rgb.Write(rgbMsg(std_msgs.Header{Stamp: stamp, FrameId: "cam_color_optical_frame"}, rgb))
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; i < 4; i++ {
		if l := cam.label(far.Add(time.Duration(i)*time.Second), 500*time.Millisecond); l != nil {
			t.Errorf("colour and depth 200 ms apart were paired (max_interval 50 ms)")
		}
	}
	s, ok := cam.status(": Segmentation", 10*time.Second, func(s diagnostic_msgs.DiagnosticStatus) bool {
		return value(s, "Unmatched colour (further apart than max_interval)") != "0" && value(s, "Unmatched colour (further apart than max_interval)") != ""
	})
	if !ok {
		t.Errorf("/diagnostics does not count the unmatched frames: %+v", s)
	}
	// Pairs that never come close enough are a warning, not "OK, waiting".
	s, ok = cam.status(": Segmentation", 10*time.Second, func(s diagnostic_msgs.DiagnosticStatus) bool {
		return s.Level == 1 && strings.Contains(s.Message, "further apart than max_interval (0.050 s)")
	})
	if !ok {
		t.Errorf("/diagnostics does not warn about inputs further apart than max_interval: %+v", s)
	}
}

// TestNodeLowerBoundPublishesAPairWithoutTheNextFrame sends a single pair (depth 15 ms after colour) to a node
// launched with inter_message_lower_bound:=0.05. Without a bound the approximate policy cannot prove the pair
// optimal until a later frame comes (C++ PerfectMatch holds its last pair back), and none comes here; with
// it, the next colour frame cannot be earlier than 50 ms after this one, so the pair is labelled at once.
func TestNodeLowerBoundPublishesAPairWithoutTheNextFrame(t *testing.T) {
	m := rosenv.StartMaster(t)
	p := launchNode(t, m, nodeModel(t), "inter_message_lower_bound:=0.05")
	cam := watchingCamera(t, m)
	rgb, depth := testFrame(2)
	stamp := time.Unix(1700000500, 0)
	cam.rgb.Write(rgbMsg(std_msgs.Header{Stamp: stamp, FrameId: "cam_color_optical_frame"}, rgb))
	cam.depth.Write(depthMsg(std_msgs.Header{Stamp: stamp.Add(15 * time.Millisecond), FrameId: "cam_color_optical_frame"}, depth))
	if cam.label(stamp, 20*time.Second) == nil {
		t.Fatalf("the only pair got no labels with inter_message_lower_bound 0.05\n%s", p.Output())
	}
	if s, ok := cam.status(": Segmentation", 10*time.Second, func(s diagnostic_msgs.DiagnosticStatus) bool {
		return strings.Contains(value(s, "Sync policy"), "inter-message lower bound 0.050 s")
	}); !ok {
		t.Errorf("/diagnostics does not give the lower bound: %+v", s)
	}
	// A camera faster than the bound says breaks the policy's premise: /diagnostics warns, naming the bound.
	next := stamp.Add(10 * time.Millisecond)
	cam.rgb.Write(rgbMsg(std_msgs.Header{Stamp: next, FrameId: "cam_color_optical_frame"}, rgb))
	cam.depth.Write(depthMsg(std_msgs.Header{Stamp: next.Add(15 * time.Millisecond), FrameId: "cam_color_optical_frame"}, depth))
	if s, ok := cam.status(": Segmentation", 10*time.Second, func(s diagnostic_msgs.DiagnosticStatus) bool {
		return s.Level == 1 && strings.Contains(s.Message, "less than inter_message_lower_bound (0.050 s) after the one before") &&
			value(s, "Frames under inter_message_lower_bound") == "2"
	}); !ok {
		t.Errorf("/diagnostics does not warn about frames closer than the lower bound: %+v", s)
	}
}

// TestNodeRejectsBadFramesAndKeepsRunning sends frames the node must refuse (unknown encoding, colour and
// depth of different sizes, truncated data, depth without a valid pixel): each is reported on /diagnostics
// as an error, and a good frame afterwards is segmented.
func TestNodeRejectsBadFramesAndKeepsRunning(t *testing.T) {
	m := rosenv.StartMaster(t)
	model := nodeModel(t)
	p := launchNode(t, m, model)
	cam := watchingCamera(t, m)
	rgb, depth := testFrame(2)
	base := time.Unix(1700000400, 0)
	bad := []struct {
		name       string
		rgb, depth *sensor_msgs.Image
		want       string
	}{
		{"unknown encoding", func() *sensor_msgs.Image { m := rgbMsg(std_msgs.Header{}, rgb); m.Encoding = "yuv422_10bit"; return m }(), depthMsg(std_msgs.Header{}, depth), "yuv422_10bit"},
		{"size mismatch", rgbMsg(std_msgs.Header{}, rgb), &sensor_msgs.Image{Width: 80, Height: 60, Encoding: "16UC1", Step: 160, Data: bytes.Repeat([]byte{0xe8, 0x03}, 4800)}, "does not match the RGB image"},
		{"truncated", func() *sensor_msgs.Image { m := rgbMsg(std_msgs.Header{}, rgb); m.Data = m.Data[:1000]; return m }(), depthMsg(std_msgs.Header{}, depth), "colour image"},
		{"no valid depth", rgbMsg(std_msgs.Header{}, rgb), depthMsg(std_msgs.Header{}, make([]uint16, frameW*frameH)), "no valid pixel"},
	}
	for i, b := range bad {
		h := std_msgs.Header{Stamp: base.Add(time.Duration(i) * time.Second), FrameId: "cam_color_optical_frame"}
		b.rgb.Header, b.depth.Header = h, h
		cam.depth.Write(b.depth)
		cam.rgb.Write(b.rgb)
		s, ok := cam.status(": Segmentation", 10*time.Second, func(s diagnostic_msgs.DiagnosticStatus) bool {
			return s.Level == 2 && strings.Contains(s.Message, b.want)
		})
		if !ok {
			t.Errorf("%s: /diagnostics shows %q (level %d) %v, want an error mentioning %q\n%s", b.name, s.Message, s.Level, s.Values, b.want, p.Output())
		}
	}
	h := std_msgs.Header{Stamp: base.Add(time.Minute), FrameId: "cam_color_optical_frame"}
	cam.publish(h, rgb, depth)
	if cam.label(h.Stamp, 10*time.Second) == nil {
		t.Fatalf("a good frame after bad ones got no labels\n%s", p.Output())
	}
	if !strings.Contains(p.Output(), "rejected") {
		t.Errorf("the node's log does not mention the rejected frames:\n%s", p.Output())
	}
}

// TestNodeRegistersDepthWithCameraInfosAndTFStatic publishes depth in its own frame with both camera infos:
// pairs wait (and are counted) until /tf_static gives the transform, then the labels equal those of the
// depth registered in the test with the same camera model.
func TestNodeRegistersDepthWithCameraInfosAndTFStatic(t *testing.T) {
	m := rosenv.StartMaster(t)
	model := nodeModel(t)
	p := launchNode(t, m, model, "rgb_info:=/cam/color/camera_info", "depth_info:=/cam/depth/camera_info")
	cam := newCamera(t, m, "test_camera")
	cam.collectLabels()
	cam.collectDiagnostics()
	info := func(topic string) *goroslib.Publisher {
		pub, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: cam.node, Topic: topic, Msg: &sensor_msgs.CameraInfo{}, Latch: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pub.Close)
		return pub
	}
	k := [9]float64{140, 0, 79.5, 0, 140, 59.5, 0, 0, 1}
	ci := &sensor_msgs.CameraInfo{Width: frameW, Height: frameH, DistortionModel: "plumb_bob", D: []float64{0, 0, 0, 0, 0},
		K: k, R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, P: [12]float64{140, 0, 79.5, 0, 0, 140, 59.5, 0, 0, 0, 1, 0}}
	rgbInfo, depthInfo := *ci, *ci
	rgbInfo.Header.FrameId, depthInfo.Header.FrameId = "cam_color_optical_frame", "cam_depth_optical_frame"
	info("/cam/color/camera_info").Write(&rgbInfo)
	info("/cam/depth/camera_info").Write(&depthInfo)
	cam.waitConnected(m)
	rgb, depth := testFrame(3)
	h := std_msgs.Header{Stamp: time.Unix(1700000500, 0), FrameId: "cam_color_optical_frame"}
	dh := h
	dh.FrameId = "cam_depth_optical_frame"
	cam.depth.Write(depthMsg(dh, depth))
	cam.rgb.Write(rgbMsg(h, rgb))
	s, ok := cam.status(": Segmentation", 10*time.Second, func(s diagnostic_msgs.DiagnosticStatus) bool {
		return s.Level == 1 && strings.Contains(s.Message, "waiting") && strings.Contains(s.Message, "transform")
	})
	if !ok {
		t.Fatalf("a pair without a transform: /diagnostics says %q (level %d), want a warning about waiting for the transform\n%s", s.Message, s.Level, p.Output())
	}
	// The transform arrives on /tf_static, as a camera driver latches it: depth 2.5 cm to the right.
	tfPub, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: cam.node, Topic: "/tf_static", Msg: &tf2_msgs.TFMessage{}, Latch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tfPub.Close()
	tfPub.Write(&tf2_msgs.TFMessage{Transforms: []geometry_msgs.TransformStamped{{
		Header: std_msgs.Header{FrameId: "cam_color_optical_frame"}, ChildFrameId: "cam_depth_optical_frame",
		Transform: geometry_msgs.Transform{Translation: geometry_msgs.Vector3{X: 0.025}, Rotation: geometry_msgs.Quaternion{W: 1}}}}})
	time.Sleep(time.Second)
	h.Stamp, dh.Stamp = h.Stamp.Add(time.Second), dh.Stamp.Add(time.Second)
	cam.depth.Write(depthMsg(dh, depth))
	cam.rgb.Write(rgbMsg(h, rgb))
	got := cam.label(h.Stamp, 15*time.Second)
	if got == nil {
		t.Fatalf("no labels once the transform is known\n%s", p.Output())
	}
	// The same registration done here (calibration's, tested against depth_image_proc) then cen predict.
	cam0, err := calibration.FromCameraInfo(frameW, frameH, "plumb_bob", ci.D, ci.K, ci.R, ci.P)
	if err != nil {
		t.Fatal(err)
	}
	// Metres as the node makes them (counts × float32(0.001)): d/1000 differs from that in the last bit for
	// some d, which moves a projection that falls on a pixel boundary to the neighbouring pixel.
	metres := make([]float32, len(depth))
	for i, d := range depth {
		metres[i] = float32(d) * float32(preprocess.DefaultDepthUnit)
	}
	reg, err := calibration.Register(metres, cam0, cam0, calibration.Extrinsic{R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, T: [3]float64{0.025, 0, 0}}, false)
	if err != nil {
		t.Fatal(err)
	}
	regMM := make([]uint16, len(reg))
	for i, v := range reg {
		regMM[i] = uint16(math.Round(float64(v) * 1000))
	}
	if want := predictLabels(t, model, rgb, regMM); !bytes.Equal(got.Data, want) {
		diff := 0
		for i := range want {
			if want[i] != got.Data[i] {
				diff++
			}
		}
		t.Errorf("labels with registered depth differ from cen predict on the registered depth on %d of %d pixels", diff, len(want))
	}
}

// TestNodeSurvivesAMasterRestart kills the master (SIGKILL, as a crash) and starts a new one on the same port:
// the node registers its publishers, subscribers and parameters again, and frames from a camera started
// after the restart give labels to a subscriber started after it.
func TestNodeSurvivesAMasterRestart(t *testing.T) {
	m := rosenv.StartMaster(t)
	model := nodeModel(t)
	p := launchNode(t, m, model)
	m.Kill(t)
	m.Restart(t)
	waitFor(t, 30*time.Second, func() bool { return published(t, m, "/cen/labels") }, "the node to register again with the new master", p)
	cam := newCamera(t, m, "camera_after_restart")
	cam.collectLabels()
	cam.collectDiagnostics()
	cam.waitConnected(m)
	rgb, depth := testFrame(0)
	h := std_msgs.Header{Stamp: time.Unix(1700000600, 0), FrameId: "cam_color_optical_frame"}
	cam.publish(h, rgb, depth)
	if cam.label(h.Stamp, 15*time.Second) == nil {
		t.Fatalf("no labels after the master restart\n%s", p.Output())
	}
	out, err := m.Output(t, "rosparam", "get", "/cen/palette")
	if err != nil || !strings.Contains(out, "- -") {
		t.Errorf("the palette parameter was not set again: %v\n%s", err, out)
	}
	if s, ok := cam.status(": Segmentation", 10*time.Second, func(s diagnostic_msgs.DiagnosticStatus) bool {
		return value(s, "Master restarts survived") == "1"
	}); !ok {
		t.Errorf("/diagnostics does not count the restart: %v", s.Values)
	}
}

// TestNodeReportsACameraThatStops publishes frames, then stops the colour camera only: the colour input's
// topic status turns to ERROR "No events recorded." (diagnostic_updater's FrequencyStatus) while the depth
// input stays OK.
func TestNodeReportsACameraThatStops(t *testing.T) {
	m := rosenv.StartMaster(t)
	model := nodeModel(t)
	p := launchNode(t, m, model)
	cam := newCamera(t, m, "test_camera")
	cam.collectDiagnostics()
	cam.waitConnected(m)
	rgb, depth := testFrame(0)
	stop := make(chan struct{})
	done := make(chan struct{})
	stopped := make(chan time.Time, 1)
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		rgbOn := true
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			h := std_msgs.Header{Stamp: time.Now(), FrameId: "cam_color_optical_frame"}
			cam.depth.Write(depthMsg(h, depth))
			if i == 30 && rgbOn {
				rgbOn = false // the colour camera stops after 3 s
				stopped <- time.Now()
			}
			if rgbOn {
				cam.rgb.Write(rgbMsg(h, rgb))
			}
		}
	}()
	defer func() { close(stop); <-done }()
	if s, ok := cam.status(topicRGB+" topic status", 10*time.Second, func(s diagnostic_msgs.DiagnosticStatus) bool {
		return s.Level == 0 && s.Message == "Desired frequency met; Timestamps are reasonable." || s.Level == 0 && s.Message == "Desired frequency met"
	}); !ok {
		t.Fatalf("while frames come the colour input is %q (level %d)\n%s", s.Message, s.Level, p.Output())
	}
	since := <-stopped
	s, ok := cam.statusSince(topicRGB+" topic status", since, 20*time.Second, func(s diagnostic_msgs.DiagnosticStatus) bool {
		return s.Level == 2 && strings.Contains(s.Message, "No events recorded.")
	})
	t.Logf("ERROR %q %v after the colour camera stopped", s.Message, time.Since(since))
	if !ok {
		t.Fatalf("a stopped colour camera shows %q (level %d), want ERROR No events recorded.", s.Message, s.Level)
	}
	if d, _ := cam.statusSince(topicDepth+" topic status", since, time.Second, func(diagnostic_msgs.DiagnosticStatus) bool { return true }); d.Level != 0 {
		t.Errorf("the depth input, still running, shows %q (level %d)", d.Message, d.Level)
	}
	if value(s, "Events in window") != "0" || !strings.HasPrefix(s.Name, "cen: ") {
		t.Errorf("status %s: %v", s.Name, s.Values)
	}
}

// TestRosnodeKillAndSignalsEndTheNode runs the node binary directly: `rosnode kill` ends the process (goroslib
// alone would keep it running), and SIGTERM and SIGINT stop it within 2 s.
func TestRosnodeKillAndSignalsEndTheNode(t *testing.T) {
	m := rosenv.StartMaster(t)
	model := nodeModel(t)
	bin := rosenv.Binary(t)
	start := func(name string) *rosenv.Process {
		p := m.Command(t, bin, "node", "--model", model, "__name:="+name, "rgb/image:="+topicRGB, "depth/image:="+topicDepth)
		waitFor(t, 60*time.Second, func() bool { return published(t, m, "/"+name+"/labels") }, name+" to start", p)
		return p
	}
	p := start("killed")
	if out, err := m.Output(t, "rosnode", "kill", "/killed"); err != nil {
		t.Fatalf("rosnode kill: %v\n%s", err, out)
	}
	if err := p.Wait(10 * time.Second); err != nil {
		t.Fatalf("after rosnode kill the process did not exit cleanly: %v\n%s", err, p.Output())
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		p := start("signalled")
		t0 := time.Now()
		p.Cmd.Process.Signal(sig)
		if err := p.Wait(2 * time.Second); err != nil {
			t.Fatalf("%v: the node did not stop within 2 s (%v)\n%s", sig, err, p.Output())
		}
		t.Logf("%v: stopped in %v", sig, time.Since(t0))
	}
}

// TestDynamicReconfigureChangesTheNodeWhileItRuns changes parameters with Debian's dynamic_reconfigure Python
// client: the overlay follows the new alpha, and switching the colour output off stops it, without a restart.
func TestDynamicReconfigureChangesTheNodeWhileItRuns(t *testing.T) {
	m := rosenv.StartMaster(t)
	model := nodeModel(t)
	p := launchNode(t, m, model)
	cam := newCamera(t, m, "test_camera")
	cam.collectLabels()
	cam.subscribe("/cen/overlay", func(im *sensor_msgs.Image) { cam.mu.Lock(); cam.overlays = append(cam.overlays, im); cam.mu.Unlock() })
	cam.subscribe("/cen/color", func(im *sensor_msgs.Image) { cam.mu.Lock(); cam.colors = append(cam.colors, im); cam.mu.Unlock() })
	cam.waitConnected(m)
	time.Sleep(time.Second) // the node sees the output subscribers at its next look at the master
	rgb, depth := testFrame(1)
	send := func(sec int64) (*sensor_msgs.Image, *sensor_msgs.Image, *sensor_msgs.Image) {
		h := std_msgs.Header{Stamp: time.Unix(sec, 0), FrameId: "cam_color_optical_frame"}
		cam.publish(h, rgb, depth)
		l := cam.label(h.Stamp, 10*time.Second)
		if l == nil {
			t.Fatalf("no labels\n%s", p.Output())
		}
		time.Sleep(500 * time.Millisecond)
		cam.mu.Lock()
		defer cam.mu.Unlock()
		var o, c *sensor_msgs.Image
		for _, x := range cam.overlays {
			if x.Header.Stamp.Equal(h.Stamp) {
				o = x
			}
		}
		for _, x := range cam.colors {
			if x.Header.Stamp.Equal(h.Stamp) {
				c = x
			}
		}
		return l, o, c
	}
	labels, over, col := send(1700000700)
	if over == nil || col == nil {
		t.Fatalf("overlay %v, colour %v: both are subscribed and on", over != nil, col != nil)
	}
	checkOverlay := func(over, col *sensor_msgs.Image, alpha float32) {
		t.Helper()
		var want preprocess.RGBImage
		if err := preprocess.Overlay(&want, preprocess.RGBImage{Width: frameW, Height: frameH, Pix: rgb},
			preprocess.RGBImage{Width: frameW, Height: frameH, Pix: col.Data}, alpha); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(over.Data, want.Pix) {
			t.Errorf("overlay is not the colours blended at alpha %g", alpha)
		}
	}
	checkOverlay(over, col, 0.5)
	py := `import rospy, dynamic_reconfigure.client as dc
rospy.init_node("reconfigure_test", anonymous=True)
c = dc.Client("/cen", timeout=30)
print(c.update_configuration({"overlay_alpha": 0.25, "publish_color": False}))`
	if out, err := m.Output(t, "/usr/bin/python3", "-c", py); err != nil || !strings.Contains(out, "'overlay_alpha': 0.25") {
		t.Fatalf("dynamic_reconfigure client: %v\n%s", err, out)
	}
	_, over2, col2 := send(1700000701)
	if col2 != nil {
		t.Error("the colour output is still published after publish_color was set to false")
	}
	if over2 == nil {
		t.Fatal("no overlay after the reconfiguration")
	}
	checkOverlay(over2, col, 0.25) // same frame, so the same colours as before
	if out, _ := m.Output(t, "rosparam", "get", "/cen/overlay_alpha"); strings.TrimSpace(out) != "0.25" {
		t.Errorf("rosparam get /cen/overlay_alpha = %q, want 0.25", out)
	}
	_ = labels
}

// TestNodeFollowsROSNamingConventions starts the binary with the ROS command line and environment a robot's
// launch would give it: a master URI with a host name and a trailing slash (what roslaunch -p exports),
// ROS_NAMESPACE overridden by __ns, __name, relative input remaps, and a private parameter _name:=value. The
// node must resolve every name as roscpp does and read the parameter from the server.
func TestNodeFollowsROSNamingConventions(t *testing.T) {
	m := rosenv.StartMaster(t)
	model := nodeModel(t)
	uri := strings.Replace(m.URI, "127.0.0.1", "localhost", 1) + "/"
	p := m.CommandEnv(t, []string{"ROS_MASTER_URI=" + uri, "ROS_NAMESPACE=/ignored"}, rosenv.Binary(t), "node", "--model", model,
		"__ns:=/robot", "__name:=seg", "rgb/image:=camera/rgb", "depth/image:=/robot/camera/depth", "_queue_size:=3", "_overlay_alpha:=0.75",
		"__log:=/tmp/ignored.log")
	waitFor(t, 60*time.Second, func() bool { return published(t, m, "/robot/seg/labels") }, "the node as /robot/seg", p)
	out, err := m.Output(t, "rosnode", "info", "/robot/seg")
	if err != nil {
		t.Fatalf("rosnode info: %v\n%s", err, out)
	}
	for _, want := range []string{"/robot/seg/labels", "/robot/seg/class_info", "/diagnostics", "/robot/camera/rgb", "/robot/camera/depth",
		"/robot/rgb/camera_info", "/robot/depth/camera_info", "/tf_static", "/robot/seg/set_parameters"} {
		if !strings.Contains(out, want) {
			t.Errorf("rosnode info /robot/seg lacks %s:\n%s", want, out)
		}
	}
	for key, want := range map[string]string{"/robot/seg/queue_size": "3", "/robot/seg/overlay_alpha": "0.75"} {
		if got, err := m.Output(t, "rosparam", "get", key); err != nil || strings.TrimSpace(got) != want {
			t.Errorf("rosparam get %s = %q (%v), want %s", key, got, err, want)
		}
	}
	if !strings.Contains(p.Output(), "/robot/seg") {
		t.Errorf("the start-up line does not name the node:\n%s", p.Output())
	}
}

var _ = syscall.SIGTERM
var _ = fmt.Sprint
