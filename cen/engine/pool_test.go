package engine

import (
	"math"
	"testing"
)

func TestMaxPool2DHandComputed(t *testing.T) {
	tests := []struct {
		name           string
		h, w           int
		x              []float32
		k, stride, pad int
		want           []float32
		wantIdx        []int32
	}{
		{"2x2 stride 2 picks maximum", 2, 2, []float32{1, 4, 3, 2}, 2, 2, 0, []float32{4}, []int32{1}},
		{"ties pick first in scan order", 2, 2, []float32{7, 7, 7, 7}, 2, 2, 0, []float32{7}, []int32{0}},
		{"3x3 stride 2 pad 1 as the ResNet stem", 3, 3, []float32{1, 2, 3, 4, 9, 6, 7, 8, 5}, 3, 2, 1, []float32{9, 9, 9, 9}, []int32{4, 4, 4, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y, idx := MaxPool2D(TensorFrom(1, 1, tt.h, tt.w, tt.x), tt.k, tt.stride, tt.pad)
			assertClose(t, "y", y.Data, tt.want, 0)
			if idx.Len() != len(tt.wantIdx) {
				t.Fatalf("%d argmax values, want %d", idx.Len(), len(tt.wantIdx))
			}
			for i := range tt.wantIdx {
				if got := idx.At(i); got != tt.wantIdx[i] {
					t.Fatalf("argmax %d is %d, want %v", i, got, tt.wantIdx)
				}
			}
		})
	}
}

func TestMaxPoolIndexNamesTheWinningElement(t *testing.T) {
	rng := newRNG(31)
	x := randTensor(rng, 2, 3, 9, 7)
	for _, cfg := range [][3]int{{5, 1, 2}, {3, 2, 1}, {2, 2, 0}, {4, 3, 2}} {
		k, stride, pad := cfg[0], cfg[1], cfg[2]
		y, idx := MaxPool2D(x, k, stride, pad)
		for i := range y.Data {
			p := i / (y.H * y.W)
			oh, ow := i%(y.H*y.W)/y.W, i%y.W
			// The first maximum in scan order of the window clipped to the plane.
			best, want := float32(math.Inf(-1)), int32(-1)
			for ih := max(oh*stride-pad, 0); ih < min(oh*stride-pad+k, x.H); ih++ {
				for iw := max(ow*stride-pad, 0); iw < min(ow*stride-pad+k, x.W); iw++ {
					if v := x.Data[p*x.H*x.W+ih*x.W+iw]; v > best {
						best, want = v, int32(ih*x.W+iw)
					}
				}
			}
			if got := idx.At(i); got != want || y.Data[i] != best {
				t.Fatalf("k %d stride %d pad %d, output %d: argmax %d value %v, want %d %v", k, stride, pad, i, got, y.Data[i], want, best)
			}
		}
	}
}

func TestMaxPoolPaddingIsNegativeInfinity(t *testing.T) {
	// All inputs negative: zero padding would win every border window.
	x := TensorFrom(1, 1, 2, 2, []float32{-5, -3, -4, -2})
	y, _ := MaxPool2D(x, 2, 1, 1)
	want := []float32{-5, -3, -3, -4, -2, -2, -4, -2, -2}
	assertClose(t, "y", y.Data, want, 0)
	for _, v := range y.Data {
		if math.IsInf(float64(v), 0) {
			t.Fatalf("padding leaked into output %v", y.Data)
		}
	}
}

func TestMaxPool2DBackwardMatchesFiniteDifferences(t *testing.T) {
	rng := newRNG(30)
	n, c, h, w := 2, 3, 7, 6
	x := NewTensor(n, c, h, w)
	// Distinct values 0.1 apart: a 1e-2 step never changes which one wins.
	perm := rng.Perm(x.Len())
	for i, p := range perm {
		x.Data[i] = float32(p)*0.1 - 5
	}
	for _, cfg := range [][3]int{{3, 2, 1}, {2, 2, 0}, {3, 1, 1}} {
		y, idx := MaxPool2D(x, cfg[0], cfg[1], cfg[2])
		r := randSlice(rng, y.Len(), -1, 1)
		dx := MaxPool2DBackward(idx, TensorFrom(y.N, y.C, y.H, y.W, r))
		f := func() float64 {
			y, _ := MaxPool2D(x, cfg[0], cfg[1], cfg[2])
			return weighted(y, r)
		}
		checkGrad(t, "dx", x.Data, dx.Data, f, 1e-2, 1e-2, rng)
	}
}
