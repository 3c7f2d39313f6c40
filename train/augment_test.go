package train

import (
	"math"
	"strings"
	"testing"

	"github.com/cen-ros/cen/calibration"
	"github.com/cen-ros/cen/preprocess"
)

// indexSample returns a w×h sample whose labels are each pixel's index, whose depth is index + 1 (exact in
// float32 at these sizes) and whose RGB is a ramp: R = 4x, G = 4y, B = 9.
func indexSample(w, h int) Sample {
	s := Sample{Name: "index", RGB: preprocess.NewRGBImage(w, h),
		Depth:  preprocess.DepthImage{Width: w, Height: h, Pix: make([]float32, w*h)},
		Labels: make([]uint16, w*h)}
	for i := range s.Labels {
		s.Labels[i] = uint16(i)
		s.Depth.Pix[i] = float32(i + 1)
		s.RGB.Pix[3*i], s.RGB.Pix[3*i+1], s.RGB.Pix[3*i+2] = uint8(4*(i%w)), uint8(4*(i/w)), 9
	}
	return s
}

// TestAugmentKeepsLabelsDepthAndRGBAligned runs index-valued samples through many drawn transforms. Every
// output pixel must show, in labels and depth alike, the source pixel that the transform's geometry says
// (resize by OpenCV's nearest rule, pad, mirror, crop, worked out here independently), or padding in all
// three images; RGB, a linear ramp that bicubic interpolation reproduces, must show the same place.
func TestAugmentKeepsLabelsDepthAndRGBAligned(t *testing.T) {
	const sw, sh, ignore = 61, 47, 65535
	src := indexSample(sw, sh)
	a := Augment{CropWidth: 64, CropHeight: 48, MinSide: 20, DepthPad: 0.5}
	var flipped, padded, cropped int
	for index := 0; index < 40; index++ {
		tr, err := a.Draw(sw, sh, 7, 3, index)
		if err != nil {
			t.Fatal(err)
		}
		out, err := a.Apply(src, ignore, 7, 3, index)
		if err != nil {
			t.Fatal(err)
		}
		if out.RGB.Width != 64 || out.RGB.Height != 48 || out.Depth.Width != 64 || len(out.Labels) != 64*48 {
			t.Fatalf("output %dx%d, depth %dx%d, %d labels; want 64x48", out.RGB.Width, out.RGB.Height, out.Depth.Width, out.Depth.Height, len(out.Labels))
		}
		pw, ph := tr.Width+2*tr.PadX, tr.Height+2*tr.PadY
		if pw < 64 || ph < 48 || tr.X < 0 || tr.X+64 > pw || tr.Y < 0 || tr.Y+48 > ph {
			t.Fatalf("%+v: the crop leaves the padded image", tr)
		}
		if tr.Flip {
			flipped++
		}
		if tr.PadX > 0 || tr.PadY > 0 {
			padded++
		}
		if tr.X > 0 || tr.Y > 0 {
			cropped++
		}
		for y := 0; y < 48; y++ {
			for x := 0; x < 64; x++ {
				i := y*64 + x
				// Independent geometry: mirror in the padded image, then remove the padding.
				px := tr.X + x
				if tr.Flip {
					px = pw - 1 - px
				}
				rx, ry := px-tr.PadX, tr.Y+y-tr.PadY
				l, d := out.Labels[i], out.Depth.Pix[i]
				rgb := out.RGB.Pix[3*i : 3*i+3]
				if rx < 0 || rx >= tr.Width || ry < 0 || ry >= tr.Height {
					if l != ignore || d != 0.5 || rgb[0] != 123 || rgb[1] != 116 || rgb[2] != 103 {
						t.Fatalf("%+v: padding pixel (%d, %d) is label %d, depth %g, RGB %v", tr, x, y, l, d, rgb)
					}
					continue
				}
				sx, sy := rx*sw/tr.Width, ry*sh/tr.Height
				if want := uint16(sy*sw + sx); l != want || d != float32(want)+1 {
					t.Fatalf("%+v: pixel (%d, %d) shows label %d and depth %g, want source pixel %d", tr, x, y, l, d, want)
				}
				// The ramp at the resized pixel's centre, in source coordinates.
				u := (float64(rx)+0.5)*sw/float64(tr.Width) - 0.5
				v := (float64(ry)+0.5)*sh/float64(tr.Height) - 0.5
				if u > 2 && u < sw-3 && math.Abs(float64(rgb[0])-4*u) > 1 {
					t.Fatalf("%+v: pixel (%d, %d) has R %d, want %.1f (source x %.2f)", tr, x, y, rgb[0], 4*u, u)
				}
				if v > 2 && v < sh-3 && math.Abs(float64(rgb[1])-4*v) > 1 {
					t.Fatalf("%+v: pixel (%d, %d) has G %d, want %.1f (source y %.2f)", tr, x, y, rgb[1], 4*v, v)
				}
			}
		}
	}
	if flipped == 0 || flipped == 40 || padded == 0 || cropped == 0 {
		t.Errorf("of 40 draws %d flipped, %d padded, %d cropped off the corner: the test should see every case", flipped, padded, cropped)
	}
}

func TestAugmentScaleIsUniformAboveTheShorterSide(t *testing.T) {
	const n = 20000
	a := Augment{}
	// 1000×800: 0.5 · 800 ≥ 350, so the scale is U(0.5, 2) untouched.
	var bins [10]int
	var sum float64
	flips := 0
	for i := 0; i < n; i++ {
		tr, err := a.Draw(1000, 800, 42, 0, i)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Scale < 0.5 || tr.Scale >= 2 {
			t.Fatalf("scale %g outside [0.5, 2)", tr.Scale)
		}
		if want := int(math.RoundToEven(1000 * tr.Scale)); tr.Width != want {
			t.Fatalf("scale %g gives width %d, want %d", tr.Scale, tr.Width, want)
		}
		bins[int((tr.Scale-0.5)/0.15)]++
		sum += tr.Scale
		if tr.Flip {
			flips++
		}
	}
	for b, c := range bins {
		if f := float64(c) / n; math.Abs(f-0.1) > 0.012 { // 5.7σ
			t.Errorf("scale bin %d holds %.3f of the draws, want 0.1", b, f)
		}
	}
	if m := sum / n; math.Abs(m-1.25) > 0.012 {
		t.Errorf("mean scale %.4f, want 1.25", m)
	}
	if f := float64(flips) / n; math.Abs(f-0.5) > 0.02 {
		t.Errorf("%.3f of the draws flip, want 0.5", f)
	}
	// 320×240 (the synthetic default): scales below 350/240 are raised to it, which happens with probability
	// (350/240 − 0.5)/1.5 = 0.639, and then the shorter side is exactly 350.
	raised, xs := 0, map[int]bool{}
	for i := 0; i < n; i++ {
		tr, err := a.Draw(320, 240, 42, 1, i)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Height < 350 || tr.Scale >= 2 {
			t.Fatalf("%+v: shorter side below 350 or scale past 2", tr)
		}
		if tr.Scale == 350.0/240 {
			raised++
			if tr.Height != 350 || tr.Width != 467 {
				t.Fatalf("raised scale gives %dx%d, want 467x350", tr.Width, tr.Height)
			}
		}
		if tr.Height == 350 {
			xs[tr.X] = true // 467 + 2·17 = 501 wide: the crop starts at 0 or 1
		}
	}
	if f := float64(raised) / n; math.Abs(f-(350.0/240-0.5)/1.5) > 0.015 {
		t.Errorf("%.3f of the draws raised to the shorter side, want %.3f", f, (350.0/240-0.5)/1.5)
	}
	if len(xs) != 2 || !xs[0] || !xs[1] {
		t.Errorf("crop columns of the 501-wide padded image: %v, want 0 and 1", xs)
	}
}

// TestAugmentPadsLikeTheOfficialPad checks the Pad arithmetic (⌈(500 − size)/2⌉ on both sides, so an odd
// shortfall pads to 501) and the padding values, which are the official np.pad values cast to the image's
// integer type.
func TestAugmentPadsLikeTheOfficialPad(t *testing.T) {
	official := []float64{123.675, 116.28, 103.53} // ImageNet mean × 255, the official img_val
	for c, v := range official {
		if OfficialRGBPad[c] != uint8(v) { // a float assigned into a uint8 array truncates, as in numpy
			t.Errorf("RGB padding channel %d = %d, want %d", c, OfficialRGBPad[c], uint8(v))
		}
	}
	for _, tc := range []struct {
		w, h, padX, padY int
	}{{320, 240, 90, 130}, {321, 240, 90, 130}, {500, 499, 0, 1}, {640, 480, 0, 10}} {
		a := Augment{MinScale: 1, MaxScale: 1, MinSide: 1}
		tr, err := a.Draw(tc.w, tc.h, 1, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Scale != 1 || tr.Width != tc.w || tr.PadX != tc.padX || tr.PadY != tc.padY {
			t.Errorf("%dx%d: %+v, want padding %d, %d", tc.w, tc.h, tr, tc.padX, tc.padY)
		}
	}
	s := indexSample(64, 48)
	for i := range s.Depth.Pix {
		s.Depth.Pix[i] = 2
		s.Labels[i] = 7
	}
	for _, tc := range []struct {
		a        Augment
		depthPad float32
	}{
		{Augment{MinScale: 1, MaxScale: 1, MinSide: 1, CropWidth: 100, CropHeight: 80}, 0},
		{Augment{MinScale: 1, MaxScale: 1, MinSide: 1, CropWidth: 100, CropHeight: 80, DepthPad: 123.0 / 5000, RGBPad: [3]uint8{1, 2, 3}}, 123.0 / 5000},
	} {
		out, err := tc.a.Apply(s, 255, 1, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		rgbPad := tc.a.RGBPad
		if rgbPad == ([3]uint8{}) {
			rgbPad = OfficialRGBPad
		}
		pad := 0
		for i, l := range out.Labels {
			if l == 7 {
				if out.Depth.Pix[i] != 2 {
					t.Fatalf("image pixel %d has depth %g", i, out.Depth.Pix[i])
				}
				continue
			}
			pad++
			if l != 255 || out.Depth.Pix[i] != tc.depthPad || [3]uint8(out.RGB.Pix[3*i:3*i+3]) != rgbPad {
				t.Fatalf("padding pixel %d: label %d, depth %g, RGB %v; want 255, %g, %v", i, l, out.Depth.Pix[i], out.RGB.Pix[3*i:3*i+3], tc.depthPad, rgbPad)
			}
		}
		if pad != 100*80-64*48 {
			t.Errorf("%d padding pixels, want %d", pad, 100*80-64*48)
		}
	}
}

func TestAugmentIsAFunctionOfSeedEpochAndIndex(t *testing.T) {
	a := Augment{CropWidth: 40, CropHeight: 30, MinSide: 10}
	s := indexSample(50, 40)
	first, err := a.Apply(s, 255, 9, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.Apply(s, 255, 9, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if string(first.RGB.Pix) != string(again.RGB.Pix) || !equalU16(first.Labels, again.Labels) {
		t.Fatal("the same (seed, epoch, index) gave two samples")
	}
	base, _ := a.Draw(50, 40, 9, 2, 5)
	for _, k := range [][3]int{{10, 2, 5}, {9, 3, 5}, {9, 2, 6}} {
		tr, _ := a.Draw(50, 40, uint64(k[0]), k[1], k[2])
		if tr.Scale == base.Scale {
			t.Errorf("(seed, epoch, index) %v draws the scale of (9, 2, 5)", k)
		}
	}
}

func TestAugmentNoneLeavesTheSample(t *testing.T) {
	s := indexSample(30, 20)
	out, err := Augment{Mode: AugmentNone}.Apply(s, 255, 1, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if &out.Labels[0] != &s.Labels[0] || out.RGB.Width != 30 {
		t.Error("mode none changed the sample")
	}
	h, w, err := Augment{Mode: AugmentNone}.InputSize(preprocess.DefaultSpec())
	if err != nil || h != 480 || w != 640 {
		t.Errorf("mode none input size %dx%d (%v), want the spec's 640x480", w, h, err)
	}
	if h, w, _ := (Augment{}).InputSize(preprocess.DefaultSpec()); h != 500 || w != 500 {
		t.Errorf("official input size %dx%d, want 500x500", w, h)
	}
}

// TestAugmentMovesTheCamera projects scene points with the source camera, follows each pixel through the
// transform, and checks that the transformed camera projects the point (mirrored in x when the image is)
// to the same place.
func TestAugmentMovesTheCamera(t *testing.T) {
	cam := calibration.Pinhole{Width: 640, Height: 480, K: [9]float64{520, 0.5, 320.5, 0, 521, 240.5, 0, 0, 1},
		R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, P: [12]float64{520, 0.5, 320.5, 0, 0, 521, 240.5, 0, 0, 0, 1, 0}}
	const sw, sh = 64, 48 // the sample has the camera's field of view at a tenth of its resolution
	s := indexSample(sw, sh)
	s.View = &preprocess.View{Camera: cam, Up: [3]float64{0.1, -0.99, 0}}
	a := Augment{CropWidth: 50, CropHeight: 40, MinSide: 10}
	seen := map[bool]bool{}
	for index := 0; index < 12; index++ {
		tr, _ := a.Draw(sw, sh, 3, 0, index)
		out, err := a.Apply(s, 255, 3, 0, index)
		if err != nil {
			t.Fatal(err)
		}
		seen[tr.Flip] = true
		c := out.View.Camera
		if c.Width != 50 || c.Height != 40 {
			t.Fatalf("camera size %dx%d, want the crop's 50x40", c.Width, c.Height)
		}
		if wantUp := [3]float64{0.1, -0.99, 0}; tr.Flip {
			wantUp[0] = -0.1
			if out.View.Up != wantUp {
				t.Errorf("flipped up %v, want %v", out.View.Up, wantUp)
			}
		} else if out.View.Up != wantUp {
			t.Errorf("up %v, want %v", out.View.Up, wantUp)
		}
		src := cam.Scaled(sw, sh)
		for _, p := range [][3]float64{{0.3, -0.2, 2}, {-1, 0.5, 3}, {0, 0, 1}} {
			u, v, _ := src.Project(p)
			// Follow the source pixel position through resize (pixel centres), pad, mirror and crop.
			ur := (u+0.5)*float64(tr.Width)/sw - 0.5 + float64(tr.PadX)
			vr := (v+0.5)*float64(tr.Height)/sh - 0.5 + float64(tr.PadY)
			if tr.Flip {
				ur = float64(tr.Width+2*tr.PadX-1) - ur
				p[0] = -p[0]
			}
			ur -= float64(tr.X)
			vr -= float64(tr.Y)
			gu, gv, _ := c.Project(p)
			if math.Abs(gu-ur) > 1e-9 || math.Abs(gv-vr) > 1e-9 {
				t.Fatalf("%+v: point %v projects to (%g, %g), the pixel went to (%g, %g)", tr, p, gu, gv, ur, vr)
			}
		}
	}
	if !seen[true] || !seen[false] {
		t.Errorf("draws flipped: %v; the test should see both", seen)
	}
}

func TestAugmentRefusesBadParameters(t *testing.T) {
	for _, tc := range []struct {
		a    Augment
		want string
	}{
		{Augment{Mode: "random"}, `train: augmentation mode "random" is not official or none`},
		{Augment{CropWidth: -5}, "train: crop size -5x500 is outside 1..8192"},
		{Augment{MinScale: 2, MaxScale: 1}, "train: scale range [2, 1] must be positive, in order and at most 16"},
		{Augment{FlipProb: 1.5}, "train: flip probability 1.5 is outside (0, 1]; use NoFlip for none"},
		{Augment{DepthPad: -1}, "train: depth padding -1 m is not a depth"},
		{Augment{RGBInterp: preprocess.Interp(5)}, "train: RGB interpolation 5 is not bicubic or bilinear"},
	} {
		if _, err := tc.a.Draw(10, 10, 0, 0, 0); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: err = %v, want %s", tc.a, err, tc.want)
		}
	}
	_, err := (Augment{}).Apply(Sample{Name: "bad", RGB: preprocess.NewRGBImage(4, 4), Depth: preprocess.DepthImage{Width: 3, Height: 4, Pix: make([]float32, 12)}, Labels: make([]uint16, 16)}, 255, 0, 0, 0)
	if err == nil || !strings.Contains(err.Error(), "sample bad has depth 3x4 and 16 labels for a 4x4 RGB image") {
		t.Errorf("err = %v", err)
	}
	if tr, _ := (Augment{NoFlip: true}).Draw(100, 100, 0, 0, 0); tr.Flip {
		t.Error("NoFlip flipped")
	}
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
