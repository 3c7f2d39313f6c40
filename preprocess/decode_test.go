package preprocess

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// rows builds image data from rows of pixel bytes, padding each row to step.
func rows(step int, r ...[]byte) []byte {
	var out []byte
	for _, row := range r {
		out = append(out, row...)
		out = append(out, make([]byte, step-len(row))...)
	}
	return out
}

func u16(order binary.ByteOrder, v ...uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		order.PutUint16(b[2*i:], x)
	}
	return b
}

func f32(order binary.ByteOrder, v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		order.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func TestDecodeRGBReadsEveryColourEncoding(t *testing.T) {
	// A 2x2 image: red, green / blue, grey(9,9,9); each row padded by 3 bytes.
	want := []uint8{255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9}
	tests := []struct {
		name string
		raw  Raw
		want []uint8
	}{
		{"rgb8", Raw{RGB8, 2, 2, 9, false, rows(9, []byte{255, 0, 0, 0, 255, 0}, []byte{0, 0, 255, 9, 9, 9})}, want},
		{"bgr8", Raw{BGR8, 2, 2, 9, false, rows(9, []byte{0, 0, 255, 0, 255, 0}, []byte{255, 0, 0, 9, 9, 9})}, want},
		{"rgba8", Raw{RGBA8, 2, 2, 11, false, rows(11, []byte{255, 0, 0, 1, 0, 255, 0, 2}, []byte{0, 0, 255, 3, 9, 9, 9, 4})}, want},
		{"bgra8", Raw{BGRA8, 2, 2, 8, false, rows(8, []byte{0, 0, 255, 1, 0, 255, 0, 2}, []byte{255, 0, 0, 3, 9, 9, 9, 4})}, want},
		{"mono8", Raw{Mono8, 2, 1, 5, false, rows(5, []byte{7, 200})}, []uint8{7, 7, 7, 200, 200, 200}},
		{"mono16 little-endian", Raw{Mono16, 2, 1, 4, false, u16(binary.LittleEndian, 0x07ff, 0xc800)}, []uint8{7, 7, 7, 200, 200, 200}},
		{"mono16 big-endian", Raw{Mono16, 2, 1, 6, true, rows(6, u16(binary.BigEndian, 0x07ff, 0xc800))}, []uint8{7, 7, 7, 200, 200, 200}},
		{"last row without padding", Raw{RGB8, 1, 2, 4, false, []byte{1, 2, 3, 0, 4, 5, 6}}, []uint8{1, 2, 3, 4, 5, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := DecodeRGB(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if img.Width != tt.raw.Width || img.Height != tt.raw.Height || string(img.Pix) != string(tt.want) {
				t.Fatalf("got %dx%d %v, want %v", img.Width, img.Height, img.Pix, tt.want)
			}
		})
	}
}

func TestDecodeDepthConvertsToMetresWithInvalidAsZero(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	tests := []struct {
		name string
		raw  Raw
		unit float32
		want []float32
	}{
		{"16UC1 mm little-endian", Raw{Depth16, 3, 1, 6, false, u16(le, 0, 1500, 65535)}, 0, []float32{0, 1.5, 65.535}},
		{"16UC1 mm big-endian padded", Raw{Depth16, 3, 2, 8, true, rows(8, u16(be, 1000, 2, 0), u16(be, 258, 0, 7))}, 0,
			[]float32{1, 0.002, 0, 0.258, 0, 0.007}},
		{"mono16 with unit 1/5000", Raw{Mono16, 2, 1, 4, false, u16(le, 5000, 10000)}, 1.0 / 5000, []float32{1, 2}},
		{"32FC1 metres little-endian", Raw{Depth32, 3, 1, 12, false, f32(le, 1.25, 0, -1)}, 0, []float32{1.25, 0, 0}},
		{"32FC1 NaN and Inf big-endian padded", Raw{Depth32, 3, 1, 16, true, rows(16, f32(be, nan, inf, 3.5))}, 0, []float32{0, 0, 3.5}},
		{"32FC1 -Inf", Raw{Depth32, 1, 1, 4, false, f32(le, float32(math.Inf(-1)))}, 0, []float32{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := DecodeDepth(tt.raw, tt.unit)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tt.want {
				if math.Abs(float64(d.Pix[i]-w)) > 1e-6 {
					t.Fatalf("pixel %d = %g, want %g (all %v)", i, d.Pix[i], w, d.Pix)
				}
			}
		})
	}
}

func TestDecodeRejectsMalformedBuffers(t *testing.T) {
	tests := []struct {
		name  string
		raw   Raw
		depth bool
		want  string
	}{
		{"short data", Raw{Depth16, 640, 480, 1280, false, make([]byte, 1000)}, true, "16UC1 image 640x480 (step 1280) needs 614400 bytes, got 1000"},
		{"step too small", Raw{RGB8, 4, 2, 11, false, make([]byte, 24)}, false, "has step 11, less than 12 bytes per row"},
		{"unknown encoding", Raw{"yuv422", 2, 2, 4, false, make([]byte, 8)}, false, `unknown image encoding "yuv422"`},
		{"zero size", Raw{RGB8, 0, 2, 0, false, nil}, false, "size 0x2 is not positive"},
		{"negative size", Raw{Depth32, 2, -1, 8, false, nil}, true, "size 2x-1 is not positive"},
		{"huge size", Raw{Mono8, 1 << 20, 1 << 20, 1 << 20, false, nil}, false, "larger than"},
		{"colour as depth", Raw{RGB8, 1, 1, 3, false, make([]byte, 3)}, true, "rgb8 is not a depth encoding"},
		{"depth as colour", Raw{Depth32, 1, 1, 4, false, make([]byte, 4)}, false, "32FC1 is a depth encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.depth {
				var d DepthImage
				d, err = DecodeDepth(tt.raw, 0)
				if err != nil && d.Pix != nil {
					t.Fatal("returned pixels with an error")
				}
			} else {
				var m RGBImage
				m, err = DecodeRGB(tt.raw)
				if err != nil && m.Pix != nil {
					t.Fatal("returned pixels with an error")
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeToReusesBuffers(t *testing.T) {
	var m RGBImage
	raw := Raw{RGB8, 2, 2, 6, false, make([]byte, 12)}
	if err := DecodeRGBTo(&m, raw); err != nil {
		t.Fatal(err)
	}
	p := &m.Pix[0]
	if err := DecodeRGBTo(&m, raw); err != nil || &m.Pix[0] != p {
		t.Fatalf("second decode reallocated (err %v)", err)
	}
}

func TestDecodeLabelsReadsIDImagesInTheirByteOrder(t *testing.T) {
	for _, tc := range []struct {
		r    Raw
		want []uint16
	}{
		{Raw{Encoding: Mono8, Width: 2, Height: 2, Step: 3, Data: []byte{1, 2, 9, 3, 255, 9}}, []uint16{1, 2, 3, 255}},
		{Raw{Encoding: Depth16, Width: 2, Height: 1, Step: 4, Data: []byte{0x2c, 0x01, 7, 0}}, []uint16{300, 7}},
		{Raw{Encoding: Mono16, Width: 2, Height: 1, Step: 4, BigEndian: true, Data: []byte{0x01, 0x2c, 0, 7}}, []uint16{300, 7}},
	} {
		got := make([]uint16, len(tc.want))
		if err := DecodeLabelsTo(got, tc.r); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("%s: %v, want %v", tc.r.Encoding, got, tc.want)
			}
		}
	}
	if err := DecodeLabelsTo(make([]uint16, 4), Raw{Encoding: RGB8, Width: 2, Height: 2, Step: 6, Data: make([]byte, 12)}); err == nil {
		t.Error("an rgb8 image was read as ids")
	}
}
