package frames

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/geometry_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/tf2_msgs"
)

func tf(parent, child string, x, y, z, qx, qy, qz, qw float64) geometry_msgs.TransformStamped {
	return geometry_msgs.TransformStamped{Header: std_msgs.Header{FrameId: parent}, ChildFrameId: child,
		Transform: geometry_msgs.Transform{Translation: geometry_msgs.Vector3{X: x, Y: y, Z: z}, Rotation: geometry_msgs.Quaternion{X: qx, Y: qy, Z: qz, W: qw}}}
}

// TestStaticTFFindsTheTransformThroughTheTree builds a RealSense-like tree (optical frames under their camera
// frames under one link) and checks a point of the depth optical frame lands where the chain of transforms,
// applied by hand, puts it in the colour optical frame.
func TestStaticTFFindsTheTransformThroughTheTree(t *testing.T) {
	s2 := math.Sqrt(0.5)
	var st staticTF
	// optical frame = camera frame rotated: z forward, x right, y down (the REP 103 optical convention).
	opt := func(parent, child string) geometry_msgs.TransformStamped {
		return tf(parent, child, 0, 0, 0, -0.5, 0.5, -0.5, 0.5)
	}
	if err := st.add(&tf2_msgs.TFMessage{Transforms: []geometry_msgs.TransformStamped{
		tf("camera_link", "camera_depth_frame", 0, 0, 0, 0, 0, 0, 1),
		tf("camera_link", "camera_color_frame", 0, 0.015, 0, 0, 0, s2*0.01, 1), // 1.5 cm left, a small yaw
		opt("camera_depth_frame", "camera_depth_optical_frame"),
		opt("/camera_color_frame", "camera_color_optical_frame"), // a leading slash, as old drivers write
	}}); err != nil {
		t.Fatal(err)
	}
	e, err := st.lookup("camera_depth_optical_frame", "camera_color_optical_frame")
	if err != nil {
		t.Fatal(err)
	}
	p := [3]float64{0.1, -0.2, 2}
	// By hand: up to camera_link through the depth side, then down through the colour side.
	up, _ := st.lookup("camera_depth_optical_frame", "camera_link")
	down, _ := st.lookup("camera_color_optical_frame", "camera_link")
	want := down.Inverse().Apply(up.Apply(p))
	got := e.Apply(p)
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("depth→colour maps %v to %v, the chain by hand gives %v", p, got, want)
		}
	}
	// The optical convention (x right, y down): the depth camera, 1.5 cm to the right of the colour one
	// (the link's y axis points left), sits at x ≈ +0.015 in the colour optical frame.
	if q := e.Apply([3]float64{}); math.Abs(q[0]-0.015) > 1e-3 {
		t.Errorf("the depth camera's origin is at %v in the colour optical frame, want x ≈ 0.015", q)
	}
	if _, err := st.lookup("camera_depth_optical_frame", "base_link"); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Errorf("unconnected frames: %v", err)
	}
	if err := st.add(&tf2_msgs.TFMessage{Transforms: []geometry_msgs.TransformStamped{tf("a", "a", 0, 0, 0, 0, 0, 0, 1)}}); err == nil {
		t.Error("a transform from a frame to itself was accepted")
	}
}

// TestBuildWaitsForCalibrationAndPassesRegisteredDepthThrough covers the two ways depth reaches the frame.
func TestBuildWaitsForCalibrationAndPassesRegisteredDepthThrough(t *testing.T) {
	b := NewBuilder(Conf{})
	rgb := Input{Header: std_msgs.Header{FrameId: "color"}, Raw: &sensor_msgs.Image{Width: 4, Height: 2, Encoding: "rgb8", Step: 12, Data: make([]byte, 24)}}
	depth := Input{Header: std_msgs.Header{FrameId: "color"}, Raw: &sensor_msgs.Image{Width: 4, Height: 2, Encoding: "16UC1", Step: 8,
		Data: []byte{0xe8, 3, 0, 0, 0xd0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}}
	f, err := b.Build(rgb, depth)
	if err != nil {
		t.Fatal(err)
	}
	if f.Depth.Pix[0] != 1 || f.Depth.Pix[2] != 2 || f.Depth.Width != 4 {
		t.Fatalf("depth in the colour frame, millimetres: %v", f.Depth.Pix)
	}
	depth.Header.FrameId = "depth"
	if _, err := b.Build(rgb, depth); !errors.Is(err, ErrWaiting) || !strings.Contains(err.Error(), "camera_info") {
		t.Fatalf("depth in another frame without camera infos: %v", err)
	}
	info := &sensor_msgs.CameraInfo{Width: 4, Height: 2, K: [9]float64{4, 0, 1.5, 0, 4, 0.5, 0, 0, 1}, R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1},
		P: [12]float64{4, 0, 1.5, 0, 0, 4, 0.5, 0, 0, 0, 1, 0}}
	b.SetRGBInfo(info)
	b.SetDepthInfo(info)
	if _, err := b.Build(rgb, depth); !errors.Is(err, ErrWaiting) || !strings.Contains(err.Error(), "transform depth → color") {
		t.Fatalf("depth in another frame without a transform: %v", err)
	}
	if err := b.AddTF(&tf2_msgs.TFMessage{Transforms: []geometry_msgs.TransformStamped{tf("color", "depth", 0, 0, 0, 0, 0, 0, 1)}}); err != nil {
		t.Fatal(err)
	}
	if f, err = b.Build(rgb, depth); err != nil || f.Depth.Pix[0] != 1 {
		t.Fatalf("registered through an identity transform: %v %v", err, f.Depth.Pix)
	}
	// A depth camera binned 2x1 publishes 2x2 images: the same two readings per row land on every other
	// column of the colour image.
	binned := *info
	binned.BinningX = 2
	b.SetDepthInfo(&binned)
	if _, err := b.Build(rgb, depth); err == nil || !strings.Contains(err.Error(), "depth image 4x2 does not match its camera calibration 2x2") {
		t.Fatalf("a 4x2 image from a binned camera: %v", err)
	}
	small := Input{Header: depth.Header, Raw: &sensor_msgs.Image{Width: 2, Height: 2, Encoding: "16UC1", Step: 4,
		Data: []byte{0xe8, 3, 0xd0, 7, 0xe8, 3, 0xd0, 7}}}
	if f, err = b.Build(rgb, small); err != nil || f.Depth.Width != 4 || f.Depth.Pix[0] != 1 || f.Depth.Pix[1] != 0 || f.Depth.Pix[2] != 2 {
		t.Fatalf("registered from a binned camera: %v %v", err, f.Depth.Pix)
	}
	roi := *info
	roi.Roi = sensor_msgs.RegionOfInterest{XOffset: 3, Width: 2, Height: 2}
	b.SetDepthInfo(&roi)
	if _, err := b.Build(rgb, depth); err == nil || !strings.Contains(err.Error(), "region of interest 2x2 at (3, 0) is not inside the 4x2 image") {
		t.Fatalf("a region of interest outside the image: %v", err)
	}
	if _, err := b.Build(Input{}, depth); err == nil || !strings.Contains(err.Error(), "colour image: no image") {
		t.Fatalf("no colour image: %v", err)
	}
}
