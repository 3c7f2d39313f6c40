package engine

import (
	"fmt"
	"math"
	"testing"
)

// withPolicy runs f with wgPolicy set to p.
func withPolicy(p int32, f func()) {
	defer func(old int32) { wgPolicy.Store(old) }(wgPolicy.Load())
	wgPolicy.Store(p)
	f()
}

// relErr is max|got-want| / max|want|, the accuracy measure for the
// Winograd path (elementwise relative error is meaningless where outputs
// cancel to near zero).
func relErr(got, want []float32) float64 {
	var d, m float64
	for i := range got {
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		m = math.Max(m, math.Abs(float64(want[i])))
	}
	if m == 0 {
		return d
	}
	return d / m
}

var wgCases = []struct {
	n, cin, cout, h, w int
	bias               bool
}{
	{1, 3, 4, 7, 9, true},
	{2, 5, 3, 8, 10, false},
	{3, 8, 6, 15, 20, true},
	{2, 4, 5, 1, 1, false},
	{4, 6, 7, 1, 1, true},
	{3, 7, 2, 2, 3, false},
	{2, 3, 3, 3, 2, true},
	{1, 2, 2, 1, 5, false},
	{5, 4, 3, 6, 1, true},
	{2, 64, 48, 9, 7, false},
	{2, 256, 32, 15, 20, true},
}

var spec3x3 = ConvSpec{KH: 3, KW: 3, Pad: 1}

func TestWinogradConv2DMatchesDirect(t *testing.T) {
	rng := newRNG(11)
	for _, tc := range wgCases {
		t.Run(fmt.Sprintf("N%d %d-%d %dx%d bias=%v", tc.n, tc.cin, tc.cout, tc.h, tc.w, tc.bias), func(t *testing.T) {
			x := randTensor(rng, tc.n, tc.cin, tc.h, tc.w)
			w := randSlice(rng, tc.cout*tc.cin*9, -1, 1)
			var b []float32
			if tc.bias {
				b = randSlice(rng, tc.cout, -1, 1)
			}
			want := naiveConv(x, w, tc.cout, b, spec3x3)
			var got, ref *Tensor
			withPolicy(wgAlways, func() { got = Conv2D(x, w, tc.cout, b, spec3x3) })
			withPolicy(wgNever, func() { ref = Conv2D(x, w, tc.cout, b, spec3x3) })
			e, eRef := relErr(got.Data, want.Data), relErr(ref.Data, want.Data)
			t.Logf("relative error: winograd %.2e, im2col %.2e", e, eRef)
			if e > 1e-5 || relErr(got.Data, ref.Data) > 1e-5 {
				t.Fatalf("winograd relative error %.3g vs float64, %.3g vs im2col", e, relErr(got.Data, ref.Data))
			}
		})
	}
}

// TestWinogradChunks forces small chunks so tiles of one tile row, and of
// one sample, straddle chunk boundaries.
func TestWinogradChunks(t *testing.T) {
	defer func(v int) { wgChunkTiles = v }(wgChunkTiles)
	rng := newRNG(12)
	x := randTensor(rng, 3, 5, 9, 11)
	w := randSlice(rng, 4*5*9, -1, 1)
	b := randSlice(rng, 4, -1, 1)
	dy := randTensor(rng, 3, 4, 9, 11)
	wantY := naiveConv(x, w, 4, b, spec3x3)
	wantDX := NewTensor(3, 5, 9, 11)
	wantDW := make([]float32, len(w))
	withPolicy(wgNever, func() { Conv2DBackward(x, w, 4, spec3x3, dy, wantDX, wantDW, nil) })
	for _, chunk := range []int{16, 17, 23, 40} {
		wgChunkTiles = chunk
		var y *Tensor
		dx := NewTensor(3, 5, 9, 11)
		dw := make([]float32, len(w))
		withPolicy(wgAlways, func() {
			y = Conv2D(x, w, 4, b, spec3x3)
			Conv2DBackward(x, w, 4, spec3x3, dy, dx, dw, nil)
		})
		if e := relErr(y.Data, wantY.Data); e > 1e-5 {
			t.Errorf("chunk %d: y relative error %.3g", chunk, e)
		}
		if e := relErr(dx.Data, wantDX.Data); e > 1e-5 {
			t.Errorf("chunk %d: dx relative error %.3g", chunk, e)
		}
		if e := relErr(dw, wantDW); e > 1e-5 {
			t.Errorf("chunk %d: dw relative error %.3g", chunk, e)
		}
	}
}

// naiveConvBackward is the direct definition of the convolution gradients
// in float64 (no bias).
func naiveConvBackward(x *Tensor, w []float32, cout int, s ConvSpec, dy *Tensor) (dx, dw []float64) {
	s = s.norm()
	dx = make([]float64, x.Len())
	dw = make([]float64, len(w))
	for n := 0; n < x.N; n++ {
		for co := 0; co < cout; co++ {
			for oh := 0; oh < dy.H; oh++ {
				for ow := 0; ow < dy.W; ow++ {
					g := float64(dy.Data[((n*cout+co)*dy.H+oh)*dy.W+ow])
					for ci := 0; ci < x.C; ci++ {
						for kh := 0; kh < s.KH; kh++ {
							for kw := 0; kw < s.KW; kw++ {
								ih := oh*s.Stride - s.Pad + kh*s.Dilation
								iw := ow*s.Stride - s.Pad + kw*s.Dilation
								if ih < 0 || ih >= x.H || iw < 0 || iw >= x.W {
									continue
								}
								xi := ((n*x.C+ci)*x.H+ih)*x.W + iw
								wi := ((co*x.C+ci)*s.KH+kh)*s.KW + kw
								dx[xi] += g * float64(w[wi])
								dw[wi] += g * float64(x.Data[xi])
							}
						}
					}
				}
			}
		}
	}
	return dx, dw
}

func to32(s []float64) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

func TestWinogradConv2DBackwardMatchesDirect(t *testing.T) {
	rng := newRNG(13)
	for _, tc := range wgCases {
		t.Run(fmt.Sprintf("N%d %d-%d %dx%d bias=%v", tc.n, tc.cin, tc.cout, tc.h, tc.w, tc.bias), func(t *testing.T) {
			x := randTensor(rng, tc.n, tc.cin, tc.h, tc.w)
			w := randSlice(rng, tc.cout*tc.cin*9, -1, 1)
			dy := randTensor(rng, tc.n, tc.cout, tc.h, tc.w)
			wantDX, wantDW := naiveConvBackward(x, w, tc.cout, spec3x3, dy)
			var db, refDB []float32
			if tc.bias {
				db, refDB = make([]float32, tc.cout), make([]float32, tc.cout)
			}
			dx, refDX := NewTensor(tc.n, tc.cin, tc.h, tc.w), NewTensor(tc.n, tc.cin, tc.h, tc.w)
			for i := range dx.Data {
				dx.Data[i] = 99 // must be overwritten
			}
			// dw must be accumulated: start both from the same values.
			init := randSlice(rng, len(w), -1, 1)
			dw, refDW := append([]float32(nil), init...), append([]float32(nil), init...)
			withPolicy(wgAlways, func() { Conv2DBackward(x, w, tc.cout, spec3x3, dy, dx, dw, db) })
			withPolicy(wgNever, func() { Conv2DBackward(x, w, tc.cout, spec3x3, dy, refDX, refDW, refDB) })
			for i := range dw {
				dw[i] -= init[i]
				refDW[i] -= init[i]
			}
			eDX, eDW := relErr(dx.Data, to32(wantDX)), relErr(dw, to32(wantDW))
			t.Logf("relative error dx: winograd %.2e, im2col %.2e; dw: winograd %.2e, im2col %.2e",
				eDX, relErr(refDX.Data, to32(wantDX)), eDW, relErr(refDW, to32(wantDW)))
			if eDX > 1e-5 || relErr(dx.Data, refDX.Data) > 1e-5 {
				t.Errorf("dx relative error %.3g vs float64, %.3g vs im2col", eDX, relErr(dx.Data, refDX.Data))
			}
			if eDW > 1e-5 || relErr(dw, refDW) > 1e-5 {
				t.Errorf("dw relative error %.3g vs float64, %.3g vs im2col", eDW, relErr(dw, refDW))
			}
			if tc.bias {
				assertClose(t, "db", db, refDB, 1e-6)
			}
			// dx == nil skips the input gradient but still accumulates dw.
			dw2 := make([]float32, len(w))
			withPolicy(wgAlways, func() { Conv2DBackward(x, w, tc.cout, spec3x3, dy, nil, dw2, nil) })
			if e := relErr(dw2, refDW); e > 1e-5 {
				t.Errorf("dw without dx: relative error %.3g", e)
			}
		})
	}
}

// TestWinogradBackwardMatchesFiniteDifferences checks the Winograd gradients
// against the Winograd forward itself.
func TestWinogradBackwardMatchesFiniteDifferences(t *testing.T) {
	rng := newRNG(14)
	withPolicy(wgAlways, func() {
		x := randTensor(rng, 2, 3, 5, 7)
		w := randSlice(rng, 4*3*9, -1, 1)
		b := randSlice(rng, 4, -1, 1)
		y := Conv2D(x, w, 4, b, spec3x3)
		r := randSlice(rng, y.Len(), -1, 1)
		dy := TensorFrom(y.N, y.C, y.H, y.W, r)
		dx := NewTensor(x.N, x.C, x.H, x.W)
		dw := make([]float32, len(w))
		db := make([]float32, len(b))
		Conv2DBackward(x, w, 4, spec3x3, dy, dx, dw, db)
		f := func() float64 { return weighted(Conv2D(x, w, 4, b, spec3x3), r) }
		checkGrad(t, "dx", x.Data, dx.Data, f, 1e-2, 1e-2, rng)
		checkGrad(t, "dw", w, dw, f, 1e-2, 1e-2, rng)
		checkGrad(t, "db", b, db, f, 1e-2, 1e-2, rng)
	})
}

func TestUseWinogradOnlyFor3x3Stride1Pad1(t *testing.T) {
	x := NewTensor(4, 256, 60, 80)
	for _, s := range []ConvSpec{{KH: 3, KW: 3, Stride: 2, Pad: 1}, {KH: 3, KW: 3, Pad: 2, Dilation: 2}, {KH: 3, KW: 3}, {KH: 1, KW: 1}, {KH: 5, KW: 5, Pad: 2}} {
		cs := newConvShape("test", x, make([]float32, 256*256*s.KH*s.KW), 256, s)
		withPolicy(wgAlways, func() {
			if useWinograd(&cs) {
				t.Errorf("%+v takes the Winograd path", s)
			}
		})
	}
}

// BenchmarkWinogradChunk tunes wgChunkTiles on the largest decoder layer.
func BenchmarkWinogradChunk(b *testing.B) {
	defer func(v int) { wgChunkTiles = v }(wgChunkTiles)
	for _, ct := range []int{256, 512, 1024} {
		b.Run(fmt.Sprint(ct), func(b *testing.B) {
			wgChunkTiles = ct
			rng := newRNG(1)
			x := randTensor(rng, 4, 256, 60, 80)
			w := randSlice(rng, 256*256*9, -1, 1)
			withPolicy(wgAlways, func() {
				Conv2D(x, w, 256, nil, spec3x3)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					Conv2D(x, w, 256, nil, spec3x3)
				}
			})
		})
	}
}
