package test

import (
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/cen-ros/cen/test/rosenv"
)

func newNode(t testing.TB, m *rosenv.Master, name string) *goroslib.Node {
	t.Helper()
	n, err := goroslib.NewNode(goroslib.NodeConf{Name: name, MasterAddress: m.Addr, Host: "127.0.0.1"})
	if err != nil {
		t.Fatalf("goroslib node against %s: %v", m.URI, err)
	}
	t.Cleanup(n.Close)
	return n
}

// TestGoImageReachesRostopicEcho publishes a sensor_msgs/Image from Go and reads it back with Debian's
// `rostopic echo -n 1`, checking header, geometry, encoding and pixel values.
func TestGoImageReachesRostopicEcho(t *testing.T) {
	m := rosenv.StartMaster(t)
	n := newNode(t, m, "cen_smoke_pub")
	pub, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: n, Topic: "/cen_smoke/image", Msg: &sensor_msgs.Image{}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	echo := m.Command(t, "rostopic", "echo", "-n", "1", "/cen_smoke/image")
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for seq := uint32(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// A fresh message each time: goroslib keeps the pointer until it is sent.
			pub.Write(&sensor_msgs.Image{
				Header:   std_msgs.Header{Seq: seq, Stamp: time.Unix(1700000000, 250000000), FrameId: "camera_color_optical_frame"},
				Height:   2,
				Width:    3,
				Encoding: "rgb8",
				Step:     9,
				Data:     []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 250, 251, 252, 253, 254, 255, 7, 77, 177},
			})
		}
	}()
	defer close(stop)
	if err := echo.Wait(30 * time.Second); err != nil {
		t.Fatalf("rostopic echo: %v\n%s", err, echo.Output())
	}
	out := echo.Output()
	for _, want := range []string{
		"secs: 1700000000", "nsecs: 250000000", `frame_id: "camera_color_optical_frame"`,
		"height: 2", "width: 3", `encoding: "rgb8"`, "step: 9",
		"data: [0, 1, 2, 3, 4, 5, 6, 7, 8, 250, 251, 252, 253, 254, 255, 7, 77, 177]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rostopic echo output lacks %q:\n%s", want, out)
		}
	}
}

// TestRostopicPubReachesGoSubscriber publishes an Image with Debian's `rostopic pub` and receives it in Go.
func TestRostopicPubReachesGoSubscriber(t *testing.T) {
	m := rosenv.StartMaster(t)
	n := newNode(t, m, "cen_smoke_sub")
	got := make(chan *sensor_msgs.Image, 1)
	sub, err := goroslib.NewSubscriber(goroslib.SubscriberConf{Node: n, Topic: "/cen_smoke/in", Callback: func(msg *sensor_msgs.Image) {
		select {
		case got <- msg:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	pub := m.Command(t, "rostopic", "pub", "-r", "5", "/cen_smoke/in", "sensor_msgs/Image",
		"{header: {stamp: {secs: 1700000001, nsecs: 5}, frame_id: depth}, height: 2, width: 2, encoding: 16UC1, is_bigendian: 0, step: 4, data: [1, 2, 3, 4, 200, 201, 254, 255]}")
	select {
	case msg := <-got:
		if msg.Height != 2 || msg.Width != 2 || msg.Encoding != "16UC1" || msg.Step != 4 || msg.Header.FrameId != "depth" {
			t.Fatalf("header fields: %+v", msg)
		}
		if msg.Header.Stamp.Unix() != 1700000001 || msg.Header.Stamp.Nanosecond() != 5 {
			t.Fatalf("stamp %v, want 1700000001.000000005", msg.Header.Stamp)
		}
		want := []uint8{1, 2, 3, 4, 200, 201, 254, 255}
		if string(msg.Data) != string(want) {
			t.Fatalf("data %v, want %v", msg.Data, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no message from rostopic pub within 30 s:\n%s", pub.Output())
	}
}
