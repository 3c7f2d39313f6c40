package preprocess

import (
	"encoding/binary"
	"math"
	"testing"
)

var fuzzEncodings = []string{RGB8, BGR8, RGBA8, BGRA8, Mono8, Mono16, Depth16, Depth32, "yuv422", ""}

// FuzzDecodeImage feeds arbitrary headers and bytes to the raw decoders: they
// must return an image of the stated size or an error, never panic.
func FuzzDecodeImage(f *testing.F) {
	f.Add(uint8(0), uint16(2), uint16(2), uint16(6), false, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add(uint8(6), uint16(3), uint16(1), uint16(8), true, []byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add(uint8(7), uint16(1), uint16(2), uint16(4), false, []byte{0, 0, 0x80, 0x7f, 0, 0, 0xc0, 0x3f})
	f.Add(uint8(3), uint16(2), uint16(2), uint16(9), false, make([]byte, 17))
	f.Fuzz(func(t *testing.T, enc uint8, w, h, step uint16, bigEndian bool, data []byte) {
		r := Raw{fuzzEncodings[int(enc)%len(fuzzEncodings)], int(w), int(h), int(step), bigEndian, data}
		if m, err := DecodeRGB(r); err == nil && (m.Width != r.Width || m.Height != r.Height || len(m.Pix) != 3*r.Width*r.Height) {
			t.Fatalf("DecodeRGB gave %dx%d with %d bytes", m.Width, m.Height, len(m.Pix))
		}
		if d, err := DecodeDepth(r, 0); err == nil {
			if d.Width != r.Width || d.Height != r.Height || len(d.Pix) != r.Width*r.Height {
				t.Fatalf("DecodeDepth gave %dx%d with %d pixels", d.Width, d.Height, len(d.Pix))
			}
			for i, v := range d.Pix {
				if !(v >= 0) || v > math.MaxFloat32 {
					t.Fatalf("pixel %d is %g, not a valid depth or 0", i, v)
				}
			}
		}
	})
}

// FuzzDecodeCompressed feeds arbitrary compressed payloads to the compressed
// decoders, RVL in particular.
func FuzzDecodeCompressed(f *testing.F) {
	rvl := append(make([]byte, 12), encodeRVL(3, 2, []uint16{0, 5, 6, 0, 0, 9})...)
	f.Add("16UC1; compressedDepth rvl", rvl)
	f.Add("32FC1; compressedDepth rvl", rvl)
	f.Add("16UC1; compressedDepth png", append(make([]byte, 12), pngMagic...))
	f.Add("bgr8; jpeg compressed bgr8", []byte{0xff, 0xd8, 0xff, 0xe0})
	huge := binary.LittleEndian.AppendUint32(make([]byte, 12), 1<<16)
	f.Add("16UC1; compressedDepth rvl", binary.LittleEndian.AppendUint32(huge, 1<<12))
	f.Fuzz(func(t *testing.T, format string, data []byte) {
		if d, err := DecodeCompressedDepth(format, data, 0); err == nil && len(d.Pix) != d.Width*d.Height {
			t.Fatalf("depth %dx%d with %d pixels", d.Width, d.Height, len(d.Pix))
		}
		if m, err := DecodeCompressedRGB(format, data); err == nil && len(m.Pix) != 3*m.Width*m.Height {
			t.Fatalf("colour %dx%d with %d bytes", m.Width, m.Height, len(m.Pix))
		}
	})
}
