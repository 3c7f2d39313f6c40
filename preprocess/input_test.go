package preprocess

import (
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cen-ros/cen/calibration"
)

func TestInputNormalisesLikeTheOfficialRecipe(t *testing.T) {
	checkMats(t)
	s := DefaultSpec()
	s.Height, s.Width = 1, 3
	s.DepthMax = 10
	rgb := RGBImage{3, 1, []uint8{0, 128, 255, 10, 20, 30, 255, 255, 255}}
	depth := DepthImage{3, 1, []float32{1.5, float32(math.Inf(1)), 12}}
	in, err := s.Input(rgb, depth, nil)
	if err != nil {
		t.Fatal(err)
	}
	mean := [3]float64{0.485, 0.456, 0.406}
	std := [3]float64{0.229, 0.224, 0.225}
	for c := 0; c < 3; c++ {
		for x := 0; x < 3; x++ {
			want := (float64(rgb.Pix[3*x+c])/255 - mean[c]) / std[c]
			if got := in.RGB[c*3+x]; math.Abs(float64(got)-want) > 1e-5 {
				t.Errorf("RGB[%d][%d] = %g, want %g", c, x, got, want)
			}
		}
		// Metres replicated; Inf and beyond DepthMax are invalid (0).
		for x, want := range []float32{1.5, 0, 0} {
			if got := in.Depth[c*3+x]; got != want {
				t.Errorf("Depth[%d][%d] = %g, want %g", c, x, got, want)
			}
		}
	}
}

func TestGeometryAndToCameraInvertTheForwardMappingExactly(t *testing.T) {
	tests := []struct {
		name       string
		resize     Resize
		srcW, srcH int
		netW, netH int
		box        [4]int // X, Y, Width, Height
	}{
		{"stretch same size", Stretch, 640, 480, 640, 480, [4]int{0, 0, 640, 480}},
		{"stretch down", Stretch, 640, 480, 320, 320, [4]int{0, 0, 320, 320}},
		{"letterbox wide into square", Letterbox, 640, 480, 320, 320, [4]int{0, 40, 320, 240}},
		{"letterbox tall into wide", Letterbox, 480, 640, 640, 480, [4]int{140, 0, 360, 480}},
		{"letterbox odd sizes", Letterbox, 101, 37, 64, 64, [4]int{0, 20, 64, 23}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultSpec()
			s.Resize, s.Width, s.Height = tt.resize, tt.netW, tt.netH
			g := s.Geometry(tt.srcW, tt.srcH)
			if [4]int{g.X, g.Y, g.Width, g.Height} != tt.box {
				t.Fatalf("box = %d %d %d %d, want %v", g.X, g.Y, g.Width, g.Height, tt.box)
			}
			// Label each network pixel with its index; padding with -1.
			net := make([]int32, g.NetWidth*g.NetHeight)
			for i := range net {
				x, y := i%g.NetWidth, i/g.NetWidth
				if x < g.X || y < g.Y || x >= g.X+g.Width || y >= g.Y+g.Height {
					net[i] = -1
				} else {
					net[i] = int32(i)
				}
			}
			cam, err := ToCamera(g, net)
			if err != nil {
				t.Fatal(err)
			}
			for y := 0; y < tt.srcH; y++ {
				for x := 0; x < tt.srcW; x++ {
					// The network pixel whose centre is nearest to the
					// camera pixel centre mapped forward.
					fx := float64(g.X) + (float64(x)+0.5)*float64(g.Width)/float64(tt.srcW)
					fy := float64(g.Y) + (float64(y)+0.5)*float64(g.Height)/float64(tt.srcH)
					want := int32(int(math.Floor(fy))*g.NetWidth + int(math.Floor(fx)))
					if got := cam[y*tt.srcW+x]; got != want {
						t.Fatalf("camera pixel (%d, %d) took %d, want %d", x, y, got, want)
					}
				}
			}
		})
	}
}

func TestInputLetterboxPadsWithMeanAndInvalidDepth(t *testing.T) {
	checkMats(t)
	s := DefaultSpec()
	s.Resize, s.Width, s.Height, s.InvalidDepth = Letterbox, 8, 8, -2
	rgb := testImage(8, 4)
	depth := DepthImage{8, 4, make([]float32, 32)}
	for i := range depth.Pix {
		depth.Pix[i] = 2
	}
	in, err := s.Input(rgb, depth, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := in.Geometry; g.Y != 2 || g.Height != 4 || g.Width != 8 {
		t.Fatalf("geometry %+v", g)
	}
	for c := 0; c < 3; c++ {
		for y := 0; y < 8; y++ {
			pad := y < 2 || y >= 6
			r, d := in.RGB[c*64+y*8], in.Depth[c*64+y*8]
			if pad && (r != 0 || d != -2) || !pad && d != 2 {
				t.Fatalf("channel %d row %d: rgb %g depth %g", c, y, r, d)
			}
		}
	}
}

func TestInputRejectsMismatchedInputs(t *testing.T) {
	s := DefaultSpec()
	rgb, depth := testImage(4, 4), DepthImage{2, 2, make([]float32, 4)}
	if _, err := s.Input(rgb, depth, nil); err == nil || !strings.Contains(err.Error(), "register it first") {
		t.Fatalf("err = %v", err)
	}
	s.DepthEncoding = HHA
	if _, err := s.Input(rgb, DepthImage{4, 4, make([]float32, 16)}, nil); err == nil || !strings.Contains(err.Error(), "HHA needs the camera") {
		t.Fatalf("err = %v", err)
	}
	if _, err := s.Input(rgb, DepthImage{4, 4, make([]float32, 16)}, &View{}); err == nil || !strings.Contains(err.Error(), "HHA camera: calibration: camera size 0x0") {
		t.Fatalf("err = %v", err)
	}
	if _, err := s.Input(RGBImage{4, 4, nil}, DepthImage{4, 4, make([]float32, 16)}, nil); err == nil || !strings.Contains(err.Error(), "needs 48 bytes, got 0") {
		t.Fatalf("err = %v", err)
	}
}

// TestNodePathAndDatasetPathGiveBitIdenticalTensors feeds one frame through
// the data set loaders (PNG files), the raw topic decoders (bgr8 with row
// padding, big-endian 16UC1) and the compressed decoders (PNG colour,
// compressedDepth RVL), and requires the same bits from Spec.Input.
func TestNodePathAndDatasetPathGiveBitIdenticalTensors(t *testing.T) {
	checkMats(t)
	const w, h = 64, 48
	rng := rand.New(rand.NewSource(1))
	rgb := NewRGBImage(w, h)
	rng.Read(rgb.Pix)
	mm := make([]uint16, w*h)
	for i := range mm {
		if rng.Intn(10) > 0 {
			mm[i] = uint16(400 + rng.Intn(6000))
		}
	}
	dir := t.TempDir()
	rgbPath, depthPath := filepath.Join(dir, "rgb.png"), filepath.Join(dir, "depth.png")
	if err := os.WriteFile(rgbPath, pngRGB(t, rgb), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(depthPath, png16(t, w, h, mm), 0o644); err != nil {
		t.Fatal(err)
	}

	type frame struct {
		name  string
		rgb   RGBImage
		depth DepthImage
	}
	var frames []frame
	{ // data set
		c, err := LoadRGB(rgbPath)
		if err != nil {
			t.Fatal(err)
		}
		d, err := LoadDepthPNG(depthPath, 1.0/1000)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, frame{"dataset", c, d})
	}
	{ // raw topics
		const step = 3*w + 5
		bgr := make([]byte, step*h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := rgb.Pix[3*(y*w+x):]
				copy(bgr[y*step+3*x:], []byte{p[2], p[1], p[0]})
			}
		}
		c, err := DecodeRGB(Raw{BGR8, w, h, step, false, bgr})
		if err != nil {
			t.Fatal(err)
		}
		d, err := DecodeDepth(Raw{Depth16, w, h, 2 * w, true, u16(binary.BigEndian, mm...)}, 0)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, frame{"raw", c, d})
	}
	{ // compressed topics
		c, err := DecodeCompressedRGB("rgb8; png compressed bgr8", pngRGB(t, rgb))
		if err != nil {
			t.Fatal(err)
		}
		d, err := DecodeCompressedDepth("16UC1; compressedDepth rvl", append(configHeader(0, 0), encodeRVL(w, h, mm)...), 0)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, frame{"compressed", c, d})
	}

	cam := calibration.Pinhole{Width: w, Height: h, K: [9]float64{55, 0, 31.5, 0, 55, 23.5, 0, 0, 1}}
	for _, spec := range []Spec{
		func() Spec { s := DefaultSpec(); s.Height, s.Width = 30, 40; return s }(),
		func() Spec {
			s := DefaultSpec()
			s.Height, s.Width, s.Resize, s.DepthEncoding = 40, 40, Letterbox, HHA
			return s
		}(),
	} {
		view := &View{Camera: cam, Up: [3]float64{0, -1, 0}}
		ref, err := spec.Input(frames[0].rgb, frames[0].depth, view)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames[1:] {
			in, err := spec.Input(f.rgb, f.depth, view)
			if err != nil {
				t.Fatal(err)
			}
			for name, pair := range map[string][2][]float32{"RGB": {ref.RGB, in.RGB}, "depth": {ref.Depth, in.Depth}} {
				if len(pair[0]) != len(pair[1]) {
					t.Fatalf("%s: %s tensor length %d vs %d", f.name, name, len(pair[1]), len(pair[0]))
				}
				for i := range pair[0] {
					if math.Float32bits(pair[0][i]) != math.Float32bits(pair[1][i]) {
						t.Fatalf("%s %s (%s): element %d is %g, the data set path gives %g", f.name, name, spec.DepthEncoding, i, pair[1][i], pair[0][i])
					}
				}
			}
		}
	}
}

func TestInputToReusesBuffers(t *testing.T) {
	checkMats(t)
	s := DefaultSpec()
	s.Height, s.Width = 16, 16
	rgb, depth := testImage(32, 32), DepthImage{32, 32, make([]float32, 1024)}
	var in Input
	if err := s.InputTo(&in, rgb, depth, nil); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(5, func() {
		if err := s.InputTo(&in, rgb, depth, nil); err != nil {
			t.Fatal(err)
		}
	})
	// The GoCV Mat headers are the only allocations left.
	if allocs > 12 {
		t.Fatalf("%g allocations per frame", allocs)
	}
}
