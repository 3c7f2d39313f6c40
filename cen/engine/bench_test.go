package engine

import (
	"fmt"
	"testing"
)

// benchLayers are representative CEN layers; N is M*N for two modalities.
var benchLayers = []struct {
	name               string
	n, cin, h, w, cout int
	s                  ConvSpec
}{
	{"stem 7x7s2 3-64 240x320 N4", 4, 3, 240, 320, 64, ConvSpec{KH: 7, KW: 7, Stride: 2, Pad: 3}},
	{"3x3 64-64 60x80 N4", 4, 64, 60, 80, 64, ConvSpec{KH: 3, KW: 3, Pad: 1}},
	{"3x3 256-256 60x80 N4", 4, 256, 60, 80, 256, ConvSpec{KH: 3, KW: 3, Pad: 1}},
	{"1x1 256-64 60x80 N4", 4, 256, 60, 80, 64, ConvSpec{KH: 1, KW: 1}},
	{"3x3s2 128-128 60x80 N4", 4, 128, 60, 80, 128, ConvSpec{KH: 3, KW: 3, Stride: 2, Pad: 1}},
	{"1x1 1024-256 15x20 N4", 4, 1024, 15, 20, 256, ConvSpec{KH: 1, KW: 1}},
	{"3x3 256-256 30x40 N4", 4, 256, 30, 40, 256, ConvSpec{KH: 3, KW: 3, Pad: 1}},
	{"3x3 128-128 30x40 N4", 4, 128, 30, 40, 128, ConvSpec{KH: 3, KW: 3, Pad: 1}},
	{"3x3 256-40 60x80 N4", 4, 256, 60, 80, 40, ConvSpec{KH: 3, KW: 3, Pad: 1}},
	{"3x3 32-32 60x80 N4", 4, 32, 60, 80, 32, ConvSpec{KH: 3, KW: 3, Pad: 1}},
	{"3x3 256-256 15x20 N4", 4, 256, 15, 20, 256, ConvSpec{KH: 3, KW: 3, Pad: 1}},
	{"3x3 512-512 8x10 N4", 4, 512, 8, 10, 512, ConvSpec{KH: 3, KW: 3, Pad: 1}},
	{"3x3 2048-512 8x10 N4", 4, 2048, 8, 10, 512, ConvSpec{KH: 3, KW: 3, Pad: 1}},
	{"3x3 512-512 4x5 N4", 4, 512, 4, 5, 512, ConvSpec{KH: 3, KW: 3, Pad: 1}},
	{"1x1 2048-512 8x10 N4", 4, 2048, 8, 10, 512, ConvSpec{KH: 1, KW: 1}},
}

// BenchmarkSgemm is the reference: a square 1024³ SGEMM through OpenBLAS with
// its own threads (its best), the ceiling the convolutions are measured against.
func BenchmarkSgemm(b *testing.B) {
	const n = 1024
	rng := newRNG(1)
	a := randSlice(rng, n*n, -1, 1)
	bb := randSlice(rng, n*n, -1, 1)
	c := make([]float32, n*n)
	nativeThreads(func() {
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			sgemm1(false, false, n, n, n, 1, a, n, bb, n, 0, c, n)
		}
		b.StopTimer()
	})
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// convPaths are the sub-benchmarks of a layer: the default dispatch, plus
// both forced paths for layers the Winograd path can take. GFLOP/s always
// counts the direct convolution's FLOPs, so Winograd shows its speed-up as
// rates above the GEMM peak.
func convPaths(s ConvSpec) []struct {
	name   string
	policy int32
} {
	if !s.Same3x3() {
		return []struct {
			name   string
			policy int32
		}{{"", wgAuto}}
	}
	return []struct {
		name   string
		policy int32
	}{{"/im2col", wgNever}, {"/winograd", wgAlways}}
}

func BenchmarkConv2D(b *testing.B) {
	for _, l := range benchLayers {
		for _, p := range convPaths(l.s) {
			b.Run(l.name+p.name, func(b *testing.B) {
				defer func(old int32) { wgPolicy.Store(old) }(wgPolicy.Load())
				wgPolicy.Store(p.policy)
				rng := newRNG(1)
				x := randTensor(rng, l.n, l.cin, l.h, l.w)
				w := randSlice(rng, l.cout*l.cin*l.s.KH*l.s.KW, -1, 1)
				Conv2D(x, w, l.cout, nil, l.s) // warm the scratch buffers
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					Conv2D(x, w, l.cout, nil, l.s)
				}
				b.ReportMetric(ConvFLOPs(x, l.cout, l.s)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkConv2DBackward reports the rate of the full backward (dW and dx),
// which does twice the forward's FLOPs.
func BenchmarkConv2DBackward(b *testing.B) {
	for _, l := range benchLayers {
		for _, p := range convPaths(l.s) {
			b.Run(l.name+p.name, func(b *testing.B) {
				defer func(old int32) { wgPolicy.Store(old) }(wgPolicy.Load())
				wgPolicy.Store(p.policy)
				rng := newRNG(1)
				x := randTensor(rng, l.n, l.cin, l.h, l.w)
				w := randSlice(rng, l.cout*l.cin*l.s.KH*l.s.KW, -1, 1)
				ho, wo := l.s.OutSize(l.h, l.w)
				dy := randTensor(rng, l.n, l.cout, ho, wo)
				dx := NewTensor(l.n, l.cin, l.h, l.w)
				dw := make([]float32, len(w))
				Conv2DBackward(x, w, l.cout, l.s, dy, dx, dw, nil)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					Conv2DBackward(x, w, l.cout, l.s, dy, dx, dw, nil)
				}
				b.ReportMetric(2*ConvFLOPs(x, l.cout, l.s)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkConv2DSmallPlanes compares one GEMM per sample with one GEMM over
// the concatenated columns of all samples on the deep, low-resolution layers.
func BenchmarkConv2DSmallPlanes(b *testing.B) {
	for _, l := range benchLayers {
		ho, wo := l.s.OutSize(l.h, l.w)
		if ho*wo >= smallPlane {
			continue
		}
		for _, policy := range []struct {
			name string
			cols int
		}{{"per-sample", 1}, {"batched", minGemmCols}} {
			b.Run(fmt.Sprintf("%s/%s", l.name, policy.name), func(b *testing.B) {
				defer func(v int) { minGemmCols = v }(minGemmCols)
				minGemmCols = policy.cols
				rng := newRNG(1)
				x := randTensor(rng, l.n, l.cin, l.h, l.w)
				w := randSlice(rng, l.cout*l.cin*l.s.KH*l.s.KW, -1, 1)
				Conv2D(x, w, l.cout, nil, l.s)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					Conv2D(x, w, l.cout, nil, l.s)
				}
				b.ReportMetric(ConvFLOPs(x, l.cout, l.s)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func BenchmarkBatchNormTrain(b *testing.B) {
	rng := newRNG(1)
	x := randTensor(rng, 4, 256, 60, 80)
	gamma := randSlice(rng, 2*256, 0.5, 1.5)
	beta := randSlice(rng, 2*256, -1, 1)
	rm := make([]float32, 2*256)
	rv := make([]float32, 2*256)
	b.SetBytes(int64(4 * x.Len()))
	for i := 0; i < b.N; i++ {
		BatchNormTrain(x, 2, gamma, beta, rm, rv, 0.1, 1e-5)
	}
}

func BenchmarkResizeBilinear(b *testing.B) {
	rng := newRNG(1)
	x := randTensor(rng, 4, 256, 30, 40)
	b.SetBytes(int64(4 * 4 * 256 * 60 * 80))
	for i := 0; i < b.N; i++ {
		ResizeBilinear(x, 60, 80, false)
	}
}
