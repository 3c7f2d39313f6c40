package engine

import (
	"fmt"
	"testing"
)

func TestResizeBilinearHandComputed(t *testing.T) {
	tests := []struct {
		name         string
		x            []float32
		w            int
		alignCorners bool
		want         []float32
	}{
		{"upsample half-pixel centres clamp at 0", []float32{0, 1}, 4, false, []float32{0, 0.25, 0.75, 1}},
		{"upsample align corners hits ends", []float32{0, 1}, 4, true, []float32{0, 1.0 / 3, 2.0 / 3, 1}},
		{"downsample half-pixel centres", []float32{0, 1, 2, 3}, 2, false, []float32{0.5, 2.5}},
		{"downsample align corners", []float32{0, 1, 2, 3}, 2, true, []float32{0, 3}},
		{"single output align corners reads first", []float32{4, 1, 2}, 1, true, []float32{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := ResizeBilinear(TensorFrom(1, 1, 1, len(tt.x), tt.x), 1, tt.w, tt.alignCorners)
			assertClose(t, "y", y.Data, tt.want, 1e-6)
			// The same along H.
			y = ResizeBilinear(TensorFrom(1, 1, len(tt.x), 1, tt.x), tt.w, 1, tt.alignCorners)
			assertClose(t, "y transposed", y.Data, tt.want, 1e-6)
		})
	}
}

func TestResizeBilinearBackwardMatchesFiniteDifferences(t *testing.T) {
	rng := newRNG(40)
	sizes := []struct{ h, w, oh, ow int }{
		{4, 5, 9, 11}, // upsample
		{9, 8, 4, 3},  // downsample
		{5, 5, 5, 5},  // same size
		{3, 6, 7, 2},  // mixed
	}
	for _, sz := range sizes {
		for _, ac := range []bool{false, true} {
			t.Run(fmt.Sprintf("%dx%d to %dx%d align %v", sz.h, sz.w, sz.oh, sz.ow, ac), func(t *testing.T) {
				x := randTensor(rng, 2, 2, sz.h, sz.w)
				r := randSlice(rng, 2*2*sz.oh*sz.ow, -1, 1)
				dx := ResizeBilinearBackward(TensorFrom(2, 2, sz.oh, sz.ow, r), sz.h, sz.w, ac)
				f := func() float64 { return weighted(ResizeBilinear(x, sz.oh, sz.ow, ac), r) }
				checkGrad(t, "dx", x.Data, dx.Data, f, 1e-2, 1e-2, rng)
			})
		}
	}
}

func TestResizeBicubicHandComputed(t *testing.T) {
	ramp := []float32{0, 1, 2, 3, 4, 5, 6, 7}
	tests := []struct {
		name string
		x    []float32
		w    int
		want []float32
	}{
		// Interior outputs reproduce the ramp at the source position; the
		// borders see clamped taps: 0.59375*1 - 0.09375*2 and
		// -0.09375*5 + 0.59375*6 + 0.59375*7 - 0.09375*7.
		{"downsample ramp clamps border taps", ramp, 4, []float32{0.40625, 2.5, 4.5, 6.59375}},
		// Upsampling overshoots at the ends, as PyTorch's Keys kernel does.
		{"upsample overshoots at borders", []float32{0, 1}, 4, []float32{-0.10546875, 0.2265625, 0.7734375, 1.10546875}},
		{"same size is identity", []float32{3, -1, 4, 1}, 4, []float32{3, -1, 4, 1}},
		{"constant stays constant", []float32{2, 2, 2}, 7, []float32{2, 2, 2, 2, 2, 2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := ResizeBicubic(TensorFrom(1, 1, 1, len(tt.x), tt.x), 1, tt.w)
			assertClose(t, "y", y.Data, tt.want, 1e-5)
			y = ResizeBicubic(TensorFrom(1, 1, len(tt.x), 1, tt.x), tt.w, 1)
			assertClose(t, "y transposed", y.Data, tt.want, 1e-5)
		})
	}
}
