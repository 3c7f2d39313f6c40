package rosbag

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/protocommon"
)

// goroslibDecode decodes a bag message body with goroslib's reflection codec (which wants a length prefix).
func goroslibDecode(t *testing.T, body []byte, dst any) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
	if err := protocommon.MessageDecode(bytes.NewReader(append(b, body...)), dst); err != nil {
		t.Fatalf("goroslib MessageDecode: %v", err)
	}
}

var codecHeaders = []std_msgs.Header{
	{},
	{Seq: 7, Stamp: time.Unix(1700000000, 123456789).UTC(), FrameId: "camera_rgb_optical_frame"},
	{Seq: 1 << 31, Stamp: time.Unix(2000000000, 1).UTC(), FrameId: ""},
}

func TestImageCodecRoundTripsWithGoroslib(t *testing.T) {
	for _, h := range codecHeaders {
		for _, m := range []sensor_msgs.Image{
			{Header: h},
			{Header: h, Height: 2, Width: 3, Encoding: "rgb8", Step: 9, Data: []byte("abcdefghijklmnopqr")},
			{Header: h, Height: 480, Width: 640, Encoding: "16UC1", IsBigendian: 1, Step: 1280, Data: make([]byte, 480*1280)},
		} {
			ours := AppendImage(nil, &m)
			if theirs := goroslibBody(t, &m); !bytes.Equal(ours, theirs) {
				t.Fatalf("AppendImage(%s %dx%d) differs from goroslib's encoding", m.Encoding, m.Width, m.Height)
			}
			var back, ref sensor_msgs.Image
			goroslibDecode(t, ours, &ref)
			for _, mode := range []DataMode{AliasData, CopyData} {
				if err := DecodeImage(&back, ours, mode); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(normImage(back), normImage(ref)) {
					t.Fatalf("DecodeImage gives %+v, goroslib %+v", back.Header, ref.Header)
				}
				aliases := len(back.Data) > 0 && &back.Data[0] == &ours[len(ours)-len(back.Data)]
				if aliases != (mode == AliasData && len(back.Data) > 0) {
					t.Fatalf("mode %d: Data aliases the input: %v", mode, aliases)
				}
			}
		}
	}
}

// normImage makes an empty Data compare equal to a nil one (goroslib decodes empty arrays as empty slices).
func normImage(m sensor_msgs.Image) sensor_msgs.Image {
	if len(m.Data) == 0 {
		m.Data = nil
	}
	return m
}

func TestCompressedImageCodecRoundTripsWithGoroslib(t *testing.T) {
	for _, h := range codecHeaders {
		for _, m := range []sensor_msgs.CompressedImage{
			{Header: h},
			{Header: h, Format: "png", Data: []byte("\x89PNG\r\n\x1a\nrest")},
			{Header: h, Format: "16UC1; compressedDepth png", Data: make([]byte, 100000)},
		} {
			ours := AppendCompressedImage(nil, &m)
			if theirs := goroslibBody(t, &m); !bytes.Equal(ours, theirs) {
				t.Fatalf("AppendCompressedImage(%q) differs from goroslib's encoding", m.Format)
			}
			var back, ref sensor_msgs.CompressedImage
			goroslibDecode(t, ours, &ref)
			if err := DecodeCompressedImage(&back, ours, CopyData); err != nil {
				t.Fatal(err)
			}
			if len(back.Data) == 0 {
				back.Data, ref.Data = nil, nil
			}
			if !reflect.DeepEqual(back, ref) {
				t.Fatalf("DecodeCompressedImage gives %+v, goroslib %+v", back.Header, ref.Header)
			}
		}
	}
}

func TestCameraInfoCodecRoundTripsWithGoroslib(t *testing.T) {
	for _, h := range codecHeaders {
		for _, m := range []sensor_msgs.CameraInfo{
			{Header: h},
			{Header: h, Height: 480, Width: 640, DistortionModel: "plumb_bob", D: []float64{0.1, -0.2, 1e-3, -1e-4, 0.05},
				K: [9]float64{525, 0, 319.5, 0, 525, 239.5, 0, 0, 1}, R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1},
				P: [12]float64{525, 0, 319.5, 0, 0, 525, 239.5, 0, 0, 0, 1, 0}, BinningX: 2, BinningY: 3,
				Roi: sensor_msgs.RegionOfInterest{XOffset: 1, YOffset: 2, Height: 3, Width: 4, DoRectify: true}},
			{Header: h, DistortionModel: "rational_polynomial", D: make([]float64, 8)},
		} {
			ours := AppendCameraInfo(nil, &m)
			if theirs := goroslibBody(t, &m); !bytes.Equal(ours, theirs) {
				t.Fatalf("AppendCameraInfo(%q) differs from goroslib's encoding", m.DistortionModel)
			}
			var back, ref sensor_msgs.CameraInfo
			goroslibDecode(t, ours, &ref)
			if err := DecodeCameraInfo(&back, ours); err != nil {
				t.Fatal(err)
			}
			if len(back.D) == 0 {
				back.D, ref.D = nil, nil
			}
			if !reflect.DeepEqual(back, ref) {
				t.Fatalf("DecodeCameraInfo gives %+v, goroslib %+v", back, ref)
			}
		}
	}
}

func TestDecodersRejectEveryTruncationAndTrailingBytes(t *testing.T) {
	img := sensor_msgs.Image{Header: codecHeaders[1], Height: 2, Width: 2, Encoding: "mono8", Step: 2, Data: []byte{1, 2, 3, 4}}
	cimg := sensor_msgs.CompressedImage{Header: codecHeaders[1], Format: "jpeg", Data: []byte{0xFF, 0xD8}}
	info := sensor_msgs.CameraInfo{Header: codecHeaders[1], DistortionModel: "plumb_bob", D: []float64{1, 2, 3, 4, 5}}
	for _, tc := range []struct {
		name   string
		data   []byte
		decode func([]byte) error
	}{
		{"Image", AppendImage(nil, &img), func(b []byte) error { var m sensor_msgs.Image; return DecodeImage(&m, b, AliasData) }},
		{"CompressedImage", AppendCompressedImage(nil, &cimg), func(b []byte) error {
			var m sensor_msgs.CompressedImage
			return DecodeCompressedImage(&m, b, CopyData)
		}},
		{"CameraInfo", AppendCameraInfo(nil, &info), func(b []byte) error { var m sensor_msgs.CameraInfo; return DecodeCameraInfo(&m, b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for n := range len(tc.data) {
				err := tc.decode(tc.data[:n])
				if err == nil || !strings.Contains(err.Error(), "sensor_msgs/"+tc.name+": field ") {
					t.Fatalf("%d of %d bytes: %v, want an error naming the field", n, len(tc.data), err)
				}
			}
			if err := tc.decode(append(bytes.Clone(tc.data), 0)); err == nil || !strings.Contains(err.Error(), "1 bytes after the last field") {
				t.Fatalf("a trailing byte: %v", err)
			}
		})
	}
	// A length that claims more than the message holds must not be believed (nor allocated).
	b := AppendImage(nil, &img)
	binary.LittleEndian.PutUint32(b[len(b)-8:], 0xFFFFFFF0)
	var m sensor_msgs.Image
	if err := DecodeImage(&m, b, CopyData); err == nil || !strings.Contains(err.Error(), "field data: length 4294967280 beyond the 4 bytes left") {
		t.Errorf("a huge data length: %v", err)
	}
}

func TestDecodingFrameAfterFrameWithAliasDataAllocatesNothing(t *testing.T) {
	img := sensor_msgs.Image{Header: codecHeaders[1], Height: 480, Width: 640, Encoding: "rgb8", Step: 1920, Data: make([]byte, 480*1920)}
	info := sensor_msgs.CameraInfo{Header: codecHeaders[1], DistortionModel: "plumb_bob", D: make([]float64, 5)}
	ib, cb := AppendImage(nil, &img), AppendCameraInfo(nil, &info)
	var m sensor_msgs.Image
	var ci sensor_msgs.CameraInfo
	var out []byte
	allocs := testing.AllocsPerRun(20, func() {
		if DecodeImage(&m, ib, AliasData) != nil || DecodeCameraInfo(&ci, cb) != nil {
			t.Fatal("decode failed")
		}
		out = AppendImage(out[:0], &m)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per decode/encode round, want 0", allocs)
	}
}
