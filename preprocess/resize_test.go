package preprocess

import (
	"strings"
	"testing"
)

// TestResizeRGBInterpolatesLikeOpenCV upsamples a two-pixel ramp 0 → 100 to four pixels. With OpenCV's
// pixel-centre mapping the new pixels sit at source x = −0.25, 0.25, 0.75 and 1.25. Bilinear gives
// 0, 25, 75, 100 (the border replicates). Bicubic with OpenCV's A = −0.75 weights the four taps around
// x = 0.25 by −0.105, 0.879, 0.262, −0.035, so the inner pixels are 100·(0.262 − 0.035) ≈ 22.7 → 23 and 77. The
// outer ones overshoot to −10.5 (saturated to 0) and 110.5 (rounded to 111).
func TestResizeRGBInterpolatesLikeOpenCV(t *testing.T) {
	checkMats(t)
	src := RGBImage{Width: 2, Height: 1, Pix: []uint8{0, 7, 200, 100, 7, 200}}
	for _, tc := range []struct {
		interp Interp
		want   []uint8
	}{
		{Bilinear, []uint8{0, 25, 75, 100}},
		{Bicubic, []uint8{0, 23, 77, 111}},
	} {
		out, err := ResizeRGB(src, 4, 1, tc.interp)
		if err != nil {
			t.Fatal(err)
		}
		if out.Width != 4 || out.Height != 1 || len(out.Pix) != 12 {
			t.Fatalf("%v: got a %dx%d image of %d bytes", tc.interp, out.Width, out.Height, len(out.Pix))
		}
		for x, w := range tc.want {
			if r, g, b := out.Pix[3*x], out.Pix[3*x+1], out.Pix[3*x+2]; r != w || g != 7 || b != 200 {
				t.Errorf("%v: pixel %d = (%d, %d, %d), want (%d, 7, 200)", tc.interp, x, r, g, b, w)
			}
		}
	}
	same, err := ResizeRGB(src, 2, 1, Bicubic)
	if err != nil || string(same.Pix) != string(src.Pix) || &same.Pix[0] == &src.Pix[0] {
		t.Errorf("resize to the same size: %v, %v (want an equal copy)", same.Pix, err)
	}
}

// TestResizeDepthAndLabelsReadTheSameSourcePixel resizes index-valued depth and labels: each output pixel
// of both must hold the index of source pixel (⌊x·srcW/w⌋, ⌊y·srcH/h⌋), OpenCV's INTER_NEAREST rule.
func TestResizeDepthAndLabelsReadTheSameSourcePixel(t *testing.T) {
	checkMats(t)
	for _, tc := range []struct{ sw, sh, w, h int }{
		{97, 61, 64, 48}, {64, 48, 97, 61}, {5, 3, 13, 7}, {320, 240, 467, 350}, {40, 30, 40, 30},
	} {
		depth := DepthImage{Width: tc.sw, Height: tc.sh, Pix: make([]float32, tc.sw*tc.sh)}
		labels := make([]int32, tc.sw*tc.sh)
		for i := range labels {
			labels[i] = int32(i)
			depth.Pix[i] = float32(i)
		}
		d, err := ResizeDepth(depth, tc.w, tc.h)
		if err != nil {
			t.Fatal(err)
		}
		l, err := ResizeLabels(labels, tc.sw, tc.sh, tc.w, tc.h)
		if err != nil {
			t.Fatal(err)
		}
		if d.Width != tc.w || d.Height != tc.h || len(d.Pix) != tc.w*tc.h || len(l) != tc.w*tc.h {
			t.Fatalf("%+v: depth %dx%d (%d), %d labels", tc, d.Width, d.Height, len(d.Pix), len(l))
		}
		for y := 0; y < tc.h; y++ {
			for x := 0; x < tc.w; x++ {
				i := y*tc.w + x
				want := (y*tc.sh/tc.h)*tc.sw + x*tc.sw/tc.w
				if int(d.Pix[i]) != want || int(l[i]) != want {
					t.Fatalf("%+v: pixel (%d, %d) reads depth %g and label %d, want source pixel %d", tc, x, y, d.Pix[i], l[i], want)
				}
			}
		}
	}
}

func TestResizeKeepsInvalidDepthAndRefusesBadSizes(t *testing.T) {
	checkMats(t)
	depth := DepthImage{Width: 2, Height: 2, Pix: []float32{0, 1.5, 2.5, 0}}
	d, err := ResizeDepth(depth, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range d.Pix {
		if v != 0 && v != 1.5 && v != 2.5 {
			t.Fatalf("depth pixel %d = %g: nearest neighbour must not invent depth", i, v)
		}
	}
	if d.Pix[0] != 0 || d.Pix[15] != 0 || d.Pix[3] != 1.5 || d.Pix[12] != 2.5 {
		t.Errorf("corners = %g %g %g %g, want 0 1.5 2.5 0", d.Pix[0], d.Pix[3], d.Pix[12], d.Pix[15])
	}
	for _, err := range []error{
		func() error { _, err := ResizeDepth(depth, 0, 4); return err }(),
		func() error { _, err := ResizeRGB(NewRGBImage(2, 2), 4, -1, Bicubic); return err }(),
		func() error { _, err := ResizeLabels([]uint8{1, 2, 3}, 2, 2, 4, 4); return err }(),
		func() error { _, err := ResizeRGB(NewRGBImage(2, 2), 4, 4, Interp(7)); return err }(),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "preprocess: ") {
			t.Errorf("err = %v, want a preprocess error", err)
		}
	}
}
