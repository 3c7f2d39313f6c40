package preprocess

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// encodeRVL is the reference RVL encoder (Wilson 2017) written from the
// format description in rvl.go; it exists to test the decoder.
func encodeRVL(w, h int, px []uint16) []byte {
	var words []uint32
	var word uint32
	nibbles := 0
	put := func(v uint32) {
		for {
			nib := v & 7
			v >>= 3
			if v != 0 {
				nib |= 8
			}
			word = word<<4 | nib
			if nibbles++; nibbles == 8 {
				words, word, nibbles = append(words, word), 0, 0
			}
			if v == 0 {
				return
			}
		}
	}
	var prev uint16
	for i := 0; i < len(px); {
		zeros := 0
		for ; i < len(px) && px[i] == 0; i++ {
			zeros++
		}
		put(uint32(zeros))
		nonzeros := 0
		for j := i; j < len(px) && px[j] != 0; j++ {
			nonzeros++
		}
		put(uint32(nonzeros))
		for ; nonzeros > 0; nonzeros-- {
			delta := int32(px[i]) - int32(prev)
			put(uint32(delta<<1 ^ delta>>31))
			prev = px[i]
			i++
		}
	}
	if nibbles > 0 {
		words = append(words, word<<(4*(8-nibbles)))
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(w))
	out = binary.LittleEndian.AppendUint32(out, uint32(h))
	for _, x := range words {
		out = binary.LittleEndian.AppendUint32(out, x)
	}
	return out
}

func png16(t testing.TB, w, h int, px []uint16) []byte {
	img := image.NewGray16(image.Rect(0, 0, w, h))
	for i, v := range px {
		img.SetGray16(i%w, i/w, color.Gray16{Y: v})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pngRGB(t testing.TB, m RGBImage) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, m.Width, m.Height))
	for i := 0; i < m.Width*m.Height; i++ {
		copy(img.Pix[4*i:], m.Pix[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// configHeader builds compressed_depth_image_transport's 12-byte header.
func configHeader(a, b float32) []byte {
	h := binary.LittleEndian.AppendUint32(nil, 0) // INV_DEPTH
	h = binary.LittleEndian.AppendUint32(h, math.Float32bits(a))
	return binary.LittleEndian.AppendUint32(h, math.Float32bits(b))
}

// quantise applies the publisher's inverse-depth quantisation.
func quantise(depth []float32, depthMax, z0 float32) (a, b float32, q []uint16) {
	a = z0 * (z0 + 1)
	b = 1 - a/depthMax
	q = make([]uint16, len(depth))
	for i, d := range depth {
		if d < depthMax { // NaN compares false and stays 0
			q[i] = uint16(a/d + b)
		}
	}
	return a, b, q
}

func testImage(w, h int) RGBImage {
	m := NewRGBImage(w, h)
	for i := range m.Pix {
		m.Pix[i] = uint8(i*7 + i/3)
	}
	return m
}

func TestDecodeCompressedDepthReadsEveryFormat(t *testing.T) {
	const w, h = 5, 3
	mm := []uint16{0, 1000, 1001, 4000, 65535, 0, 0, 0, 1, 2, 3, 2500, 2500, 2500, 0}
	metres := make([]float32, len(mm))
	for i, v := range mm {
		metres[i] = float32(v) * 0.001
	}
	float := []float32{0.5, 1, 2, 3.25, 7.5, float32(math.NaN()), 0.3, 9.9, 11, 4, 4, 4, 1.1, 1.2, 1.3}
	a, b, q := quantise(float, 10, 100) // ROS defaults: depth_max 10, depth_quantization 100
	tests := []struct {
		name, format string
		data         []byte
		want         []float32
		tol          float64
	}{
		{"png", "16UC1; compressedDepth png", append(configHeader(0, 0), png16(t, w, h, mm)...), metres, 0},
		{"bare format string", "16UC1; compressedDepth", append(configHeader(0, 0), png16(t, w, h, mm)...), metres, 0},
		{"rvl", "16UC1; compressedDepth rvl", append(configHeader(0, 0), encodeRVL(w, h, mm)...), metres, 0},
		{"plain png transport", "16UC1; png compressed mono16", png16(t, w, h, mm), metres, 0},
		{"32FC1 png", "32FC1; compressedDepth png", append(configHeader(a, b), png16(t, w, h, q)...), float, 2e-4},
		{"32FC1 rvl", "32FC1; compressedDepth rvl", append(configHeader(a, b), encodeRVL(w, h, q)...), float, 2e-4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkMats(t)
			d, err := DecodeCompressedDepth(tt.format, tt.data, 0)
			if err != nil {
				t.Fatal(err)
			}
			if d.Width != w || d.Height != h {
				t.Fatalf("size %dx%d", d.Width, d.Height)
			}
			for i, want := range tt.want {
				got := d.Pix[i]
				if want != want || tt.tol > 0 && want >= 10 { // NaN and beyond depth_max are invalid
					want = 0
				}
				// Quantisation error grows with depth squared.
				if math.Abs(float64(got-want)) > tt.tol*float64(want*want)+1e-6 {
					t.Errorf("pixel %d = %g, want %g", i, got, want)
				}
			}
		})
	}
}

func TestDecodeCompressedDepthRefusesJPEGAndGarbage(t *testing.T) {
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, image.NewGray(image.Rect(0, 0, 4, 4)), nil); err != nil {
		t.Fatal(err)
	}
	png8 := pngRGB(t, testImage(2, 2))
	tests := []struct {
		name, format string
		data         []byte
		want         string
	}{
		{"jpeg format", "16UC1; jpeg compressed mono8", jpg.Bytes(), "JPEG keeps only 8 bits"},
		{"jpeg bytes without format", "", jpg.Bytes(), "JPEG keeps only 8 bits"},
		{"8-bit png", "16UC1; png compressed", png8, "want one 16-bit channel"},
		{"header only", "16UC1; compressedDepth png", configHeader(0, 0), "not more than its 12-byte header"},
		{"corrupt png", "16UC1; compressedDepth png", append(configHeader(0, 0), pngMagic...), "corrupt PNG"},
		{"unknown codec", "16UC1; compressedDepth zstd", append(configHeader(0, 0), 1), "unsupported compressedDepth format"},
		{"colour encoding", "rgb8; compressedDepth png", append(configHeader(0, 0), 1), `encoding "rgb8" is not`},
		{"rvl zero size", "16UC1; compressedDepth rvl", append(configHeader(0, 0), make([]byte, 8)...), "RVL image size 0x0"},
		{"rvl truncated", "16UC1; compressedDepth rvl", append(configHeader(0, 0), encodeRVL(4, 4, []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})[:12]...), "RVL data ends early"},
		{"rvl run overflow", "16UC1; compressedDepth rvl", append(configHeader(0, 0), encodeRVL(2, 1, []uint16{0, 0, 0, 0})...), "overflows the image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkMats(t)
			d, err := DecodeCompressedDepth(tt.format, tt.data, 0)
			if err == nil || !strings.Contains(err.Error(), tt.want) || d.Pix != nil {
				t.Fatalf("got %v, err %v; want error containing %q", d, err, tt.want)
			}
		})
	}
	_, err := DecodeCompressedDepth("16UC1; jpeg compressed mono8", jpg.Bytes(), 0)
	if !errors.Is(err, ErrDepthJPEG) {
		t.Fatalf("err = %v, want ErrDepthJPEG", err)
	}
}

func TestDecodeCompressedRGBReadsPNGExactlyAndJPEGClosely(t *testing.T) {
	checkMats(t)
	m := testImage(7, 5)
	got, err := DecodeCompressedRGB("rgb8; png compressed bgr8", pngRGB(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if got.Width != 7 || got.Height != 5 || !bytes.Equal(got.Pix, m.Pix) {
		t.Fatalf("PNG decoded to %v, want %v", got.Pix, m.Pix)
	}
	// A flat colour survives JPEG within a few levels.
	flat := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := 0; i < len(flat.Pix); i += 4 {
		flat.Pix[i], flat.Pix[i+1], flat.Pix[i+2], flat.Pix[i+3] = 200, 30, 90, 255
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, flat, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	got, err = DecodeCompressedRGB("bgr8; jpeg compressed bgr8", jpg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{200, 30, 90} {
		if d := int(got.Pix[i]) - want; d < -4 || d > 4 {
			t.Fatalf("JPEG channel %d = %d, want about %d", i, got.Pix[i], want)
		}
	}
	if _, err := DecodeCompressedRGB("jpeg", []byte("not an image")); err == nil || !strings.Contains(err.Error(), "neither PNG nor JPEG") {
		t.Fatalf("err = %v", err)
	}
	if _, err := DecodeCompressedRGB("16UC1; compressedDepth", []byte{1}); err == nil {
		t.Fatal("compressed depth accepted as colour")
	}
}

func TestLoadDepthPNGScalesToMetres(t *testing.T) {
	checkMats(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "d.png")
	if err := os.WriteFile(path, png16(t, 2, 1, []uint16{5000, 12345}), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := LoadDepthPNG(path, 1.0/5000)
	if err != nil {
		t.Fatal(err)
	}
	if d.Pix[0] != 1 || math.Abs(float64(d.Pix[1])-2.469) > 1e-6 {
		t.Fatalf("depth = %v", d.Pix)
	}
	if _, err := LoadDepthPNG(filepath.Join(dir, "missing.png"), 1); err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Fatalf("err = %v", err)
	}
	if _, err := LoadDepthPNG(path, 0); err == nil || !strings.Contains(err.Error(), "must be positive") {
		t.Fatalf("err = %v", err)
	}
}
