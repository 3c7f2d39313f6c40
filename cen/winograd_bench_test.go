package cen_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ortgo "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/cen/engine"
	"github.com/cen-ros/cen/cen/ort"
)

// layerSession opens a one-layer model of LayerONNX in ONNX Runtime (CPU, 2 threads) and returns a function
// that runs it on x [n, cin, h, w] and returns y.
func layerSession(tb testing.TB, data []byte, n, cin, h, w int) func(x []float32) []float32 {
	tb.Helper()
	if _, err := ort.Load(""); err != nil {
		tb.Fatalf("ONNX Runtime is needed (make setup installs it): %v", err)
	}
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		tb.Fatal(err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(2); err != nil {
		tb.Fatal(err)
	}
	s, err := ortgo.NewDynamicAdvancedSessionWithONNXData(data, []string{"x"}, []string{"y"}, so)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Destroy() })
	return func(x []float32) []float32 {
		in, err := ortgo.NewTensor(ortgo.NewShape(int64(n), int64(cin), int64(h), int64(w)), x)
		if err != nil {
			tb.Fatal(err)
		}
		defer in.Destroy()
		out := []ortgo.Value{nil}
		if err := s.Run([]ortgo.Value{in}, out); err != nil {
			tb.Fatal(err)
		}
		defer out[0].Destroy()
		return append([]float32(nil), out[0].(*ortgo.Tensor[float32]).GetData()...)
	}
}

func runLayer(b *testing.B, data []byte, x []float32, n, cin, h, w int) {
	run := layerSession(b, data, n, cin, h, w)
	run(x)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run(x)
	}
}

// TestWinogradLayerMatchesDirectConvolution runs the exported Winograd F(4×4, 3×3) layer in ONNX Runtime and
// compares it with the engine's direct (im2col) convolution, on planes smaller than a tile, not multiples of
// 4 and wide, with one and two samples.
func TestWinogradLayerMatchesDirectConvolution(t *testing.T) {
	// The reference is im2col + GEMM (unless CEN_WINOGRAD overrides it, then the engine's own F(2×2, 3×3)).
	if err := engine.Configure(engine.Options{Winograd: "never"}); err != nil {
		t.Fatal(err)
	}
	defer engine.Configure(engine.Options{})
	for _, sz := range [][5]int{{1, 3, 5, 1, 1}, {2, 8, 4, 3, 2}, {1, 16, 24, 7, 9}, {2, 32, 32, 13, 18}, {1, 256, 128, 30, 40}} {
		n, cin, cout, h, w := sz[0], sz[1], sz[2], sz[3], sz[4]
		data, wt, bias := cen.LayerONNX(cin, cout, n, h, w, true)
		x := make([]float32, n*cin*h*w)
		rng := rand.New(rand.NewPCG(3, uint64(h)))
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		got := layerSession(t, data, n, cin, h, w)(x)
		want := engine.Conv2D(engine.TensorFrom(n, cin, h, w, x), wt, cout, bias, engine.ConvSpec{KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1})
		if len(got) != len(want.Data) {
			t.Fatalf("%v: %d outputs, want %d", sz, len(got), len(want.Data))
		}
		var worst, scale float64
		for i, v := range want.Data {
			worst = math.Max(worst, math.Abs(float64(got[i]-v)))
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		t.Logf("N %d, %d→%d channels, %dx%d: max difference %.2g of max |y| %.3g", n, cin, cout, w, h, worst, scale)
		if worst > 2e-5*scale {
			t.Errorf("N %d, %d→%d, %dx%d: Winograd differs from the direct convolution by %.2g (max |y| %.3g)", n, cin, cout, w, h, worst, scale)
		}
	}
}

// BenchmarkWinogradLayer times one 3×3 convolution in ONNX Runtime (CPU, 2 threads), as a Conv node and as
// the Winograd F(4×4, 3×3) graph the export writes, at the layer shapes of refinenet-r50 and lite-r18.
func BenchmarkWinogradLayer(b *testing.B) {
	for _, sz := range [][5]int{{2, 256, 256, 60, 80}, {2, 256, 256, 30, 40}, {2, 256, 256, 15, 20}, {2, 512, 512, 8, 10}, {1, 256, 256, 60, 80}, {1, 256, 256, 30, 40}, {1, 64, 64, 60, 80}, {1, 128, 128, 30, 40}, {1, 256, 256, 15, 20}, {1, 512, 512, 8, 10}, {2, 256, 256, 120, 160}, {1, 64, 64, 120, 160}, {1, 128, 128, 60, 80}} {
		n, cin, cout, h, w := sz[0], sz[1], sz[2], sz[3], sz[4]
		x := make([]float32, n*cin*h*w)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		plain, _, _ := cen.LayerONNX(cin, cout, n, h, w, false)
		b.Run(fmt.Sprintf("%d-%d_%dx%d_N%d/plain", cin, cout, h, w, n), func(b *testing.B) { runLayer(b, plain, x, n, cin, h, w) })
		wino, _, _ := cen.LayerONNX(cin, cout, n, h, w, true)
		b.Run(fmt.Sprintf("%d-%d_%dx%d_N%d/winograd", cin, cout, h, w, n), func(b *testing.B) { runLayer(b, wino, x, n, cin, h, w) })
	}
}

// BenchmarkInt8Layer times a chain of four 3×3 convolutions with ReLUs in ONNX Runtime (CPU, 2 threads) as
// float Conv nodes and as the int8 QDQ graph of QuantizeQDQ (which ONNX Runtime runs as QLinearConvs passing
// uint8 from one to the next, as in a network), at layer shapes of refinenet-r50 and lite-r18, one modality
// (batch 1) as the export runs them. GOP/s counts the float convolutions' work for both. The ratio of the two
// bounds what int8 can give a network made of such convolutions on this CPU, whatever else the export does.
func BenchmarkInt8Layer(b *testing.B) {
	const depth = 4
	for _, sz := range [][4]int{{1, 256, 60, 80}, {1, 256, 30, 40}, {1, 512, 8, 10}, {1, 64, 120, 160}, {1, 128, 60, 80}} {
		n, c, h, w := sz[0], sz[1], sz[2], sz[3]
		x := make([]float32, n*c*h*w)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		plain := cen.ConvChainONNX(c, n, h, w, depth)
		name := fmt.Sprintf("%dx%d-%d_%dx%d_N%d", depth, c, c, h, w, n)
		gop := float64(depth*2*9*c*c*h*w*n) / 1e9
		run := func(data []byte) func(b *testing.B) {
			return func(b *testing.B) {
				runLayer(b, data, x, n, c, h, w)
				b.ReportMetric(gop*float64(b.N)/b.Elapsed().Seconds(), "GOP/s")
			}
		}
		b.Run(name+"/float", run(plain))
		var mp onnx.ModelProto
		if err := proto.Unmarshal(plain, &mp); err != nil {
			b.Fatal(err)
		}
		// Timing only (the integer kernels' speed does not depend on the values), but a ReLU's output gets a
		// range from 0, as calibration would give it, so that the ReLU folds into the convolution.
		relu := map[string]bool{}
		for _, nd := range mp.Graph.Node {
			if nd.OpType == "Relu" {
				relu[nd.Output[0]] = true
			}
		}
		ranges := map[string]cen.Range{}
		for _, t := range cen.QuantTargets(&mp) {
			ranges[t] = cen.Range{Min: -4, Max: 4}
			if relu[t] {
				ranges[t] = cen.Range{Min: 0, Max: 4}
			}
		}
		if err := cen.QuantizeQDQ(&mp, ranges, 1); err != nil {
			b.Fatal(err)
		}
		q, err := proto.Marshal(&mp)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/int8", run(q))
	}
}
