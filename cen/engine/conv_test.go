package engine

import (
	"fmt"
	"testing"
)

// naiveConv is the direct definition of conv2d in float64.
func naiveConv(x *Tensor, w []float32, cout int, b []float32, s ConvSpec) *Tensor {
	s = s.norm()
	ho, wo := s.OutSize(x.H, x.W)
	y := NewTensor(x.N, cout, ho, wo)
	for n := 0; n < x.N; n++ {
		for co := 0; co < cout; co++ {
			for oh := 0; oh < ho; oh++ {
				for ow := 0; ow < wo; ow++ {
					var acc float64
					if b != nil {
						acc = float64(b[co])
					}
					for ci := 0; ci < x.C; ci++ {
						for kh := 0; kh < s.KH; kh++ {
							for kw := 0; kw < s.KW; kw++ {
								ih := oh*s.Stride - s.Pad + kh*s.Dilation
								iw := ow*s.Stride - s.Pad + kw*s.Dilation
								if ih < 0 || ih >= x.H || iw < 0 || iw >= x.W {
									continue
								}
								acc += float64(x.Data[((n*x.C+ci)*x.H+ih)*x.W+iw]) *
									float64(w[((co*x.C+ci)*s.KH+kh)*s.KW+kw])
							}
						}
					}
					y.Data[((n*cout+co)*ho+oh)*wo+ow] = float32(acc)
				}
			}
		}
	}
	return y
}

func TestConv2DHandComputed(t *testing.T) {
	x := TensorFrom(1, 1, 3, 3, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9})
	tests := []struct {
		name string
		w    []float32
		b    []float32
		s    ConvSpec
		want []float32
	}{
		{"diagonal 2x2 sums pairs", []float32{1, 0, 0, 1}, nil, ConvSpec{KH: 2, KW: 2}, []float32{6, 8, 12, 14}},
		{"ones 3x3 stride 2 pad 1 sums windows", []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}, nil, ConvSpec{KH: 3, KW: 3, Stride: 2, Pad: 1}, []float32{12, 16, 24, 28}},
		{"1x1 scales and adds bias", []float32{2}, []float32{0.5}, ConvSpec{KH: 1, KW: 1}, []float32{2.5, 4.5, 6.5, 8.5, 10.5, 12.5, 14.5, 16.5, 18.5}},
		{"dilation 2 reads corners", []float32{1, 1, 1, 1}, nil, ConvSpec{KH: 2, KW: 2, Dilation: 2}, []float32{1 + 3 + 7 + 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := Conv2D(x, tt.w, 1, tt.b, tt.s)
			assertClose(t, "y", y.Data, tt.want, 1e-6)
		})
	}
}

type convCase struct {
	name               string
	n, cin, h, w, cout int
	s                  ConvSpec
	bias               bool
}

var convCases = []convCase{
	{"3x3 pad 1", 2, 3, 7, 5, 4, ConvSpec{KH: 3, KW: 3, Pad: 1}, true},
	{"3x3 stride 2 pad 1", 3, 2, 9, 6, 5, ConvSpec{KH: 3, KW: 3, Stride: 2, Pad: 1}, false},
	{"3x3 dilation 2 pad 2", 2, 3, 8, 7, 3, ConvSpec{KH: 3, KW: 3, Pad: 2, Dilation: 2}, true},
	{"7x7 stride 2 pad 3", 1, 3, 13, 11, 4, ConvSpec{KH: 7, KW: 7, Stride: 2, Pad: 3}, false},
	{"1x1 fast path", 4, 6, 5, 3, 7, ConvSpec{KH: 1, KW: 1}, true},
	{"1x1 stride 2", 2, 4, 7, 6, 3, ConvSpec{KH: 1, KW: 1, Stride: 2}, false},
	{"1x3 non-square kernel", 2, 2, 4, 6, 3, ConvSpec{KH: 1, KW: 3, Pad: 1}, true},
	{"3x3 no pad", 5, 3, 6, 4, 2, ConvSpec{KH: 3, KW: 3}, false},
}

func TestConv2DMatchesDirectConvolution(t *testing.T) {
	rng := newRNG(1)
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			x := randTensor(rng, tc.n, tc.cin, tc.h, tc.w)
			w := randSlice(rng, tc.cout*tc.cin*tc.s.KH*tc.s.KW, -1, 1)
			var b []float32
			if tc.bias {
				b = randSlice(rng, tc.cout, -1, 1)
			}
			want := naiveConv(x, w, tc.cout, b, tc.s)
			got := Conv2D(x, w, tc.cout, b, tc.s)
			if !got.SameShape(want) {
				t.Fatalf("shape %v, want %v", got, want)
			}
			assertClose(t, "y", got.Data, want.Data, 1e-5)
		})
	}
}

// TestConv2DBatchedGemmMatchesPerSample forces the multi-sample GEMM path
// (small planes) and the per-sample path on the same data.
func TestConv2DBatchedGemmMatchesPerSample(t *testing.T) {
	rng := newRNG(2)
	for _, s := range []ConvSpec{{KH: 3, KW: 3, Pad: 1}, {KH: 1, KW: 1}, {KH: 3, KW: 3, Stride: 2, Pad: 1}} {
		t.Run(fmt.Sprintf("%dx%d stride %d", s.KH, s.KW, s.Stride), func(t *testing.T) {
			x := randTensor(rng, 6, 5, 4, 3)
			w := randSlice(rng, 7*5*s.KH*s.KW, -1, 1)
			b := randSlice(rng, 7, -1, 1)
			if samplesPerGemm(x.N, 5*s.KH*s.KW, 12) < 2 {
				t.Fatal("expected the batched path for tiny planes")
			}
			assertClose(t, "y", Conv2D(x, w, 7, b, s).Data, naiveConv(x, w, 7, b, s).Data, 1e-5)
		})
	}
}

func TestConv2DBackwardMatchesFiniteDifferences(t *testing.T) {
	rng := newRNG(3)
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			x := randTensor(rng, tc.n, tc.cin, tc.h, tc.w)
			w := randSlice(rng, tc.cout*tc.cin*tc.s.KH*tc.s.KW, -1, 1)
			b := randSlice(rng, tc.cout, -1, 1)
			y := Conv2D(x, w, tc.cout, b, tc.s)
			r := randSlice(rng, y.Len(), -1, 1)
			dy := TensorFrom(y.N, y.C, y.H, y.W, r)
			dx := NewTensor(x.N, x.C, x.H, x.W)
			for i := range dx.Data {
				dx.Data[i] = 99 // dx must be overwritten, not accumulated
			}
			dw := make([]float32, len(w))
			db := make([]float32, len(b))
			dw[0], db[0] = 1, 1 // dw and db must be accumulated
			Conv2DBackward(x, w, tc.cout, tc.s, dy, dx, dw, db)
			dw[0]--
			db[0]--
			f := func() float64 { return weighted(Conv2D(x, w, tc.cout, b, tc.s), r) }
			checkGrad(t, "dx", x.Data, dx.Data, f, 1e-2, 1e-2, rng)
			checkGrad(t, "dw", w, dw, f, 1e-2, 1e-2, rng)
			checkGrad(t, "db", b, db, f, 1e-2, 1e-2, rng)
		})
	}
}

func TestConv2DBackwardBatchedMatchesPerSample(t *testing.T) {
	rng := newRNG(4)
	for _, s := range []ConvSpec{{KH: 3, KW: 3, Pad: 1}, {KH: 1, KW: 1}} {
		x := randTensor(rng, 6, 5, 4, 3)
		w := randSlice(rng, 7*5*s.KH*s.KW, -1, 1)
		dy := randTensor(rng, 6, 7, 4, 3)
		dx := NewTensor(6, 5, 4, 3)
		dw := make([]float32, len(w))
		Conv2DBackward(x, w, 7, s, dy, dx, dw, nil)
		// Reference: per-sample backward, one sample at a time.
		wantDW := make([]float32, len(w))
		wantDX := NewTensor(6, 5, 4, 3)
		for n := 0; n < 6; n++ {
			Conv2DBackward(x.Batch(n, n+1), w, 7, s, dy.Batch(n, n+1), wantDX.Batch(n, n+1), wantDW, nil)
		}
		assertClose(t, "dx", dx.Data, wantDX.Data, 1e-5)
		assertClose(t, "dw", dw, wantDW, 1e-4)
	}
}
