package ort

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/cen/engine"
	"github.com/cen-ros/cen/internal/modeltest"
)

var (
	testNetwork  = modeltest.Network
	export       = modeltest.Export
	randomInputs = modeltest.Inputs
	relErr       = modeltest.RelErr
)

func needLibrary(t testing.TB) {
	t.Helper()
	if _, err := Load(""); err != nil {
		t.Fatalf("ONNX Runtime is needed (make setup installs it): %v", err)
	}
}

// compare checks ONNX Runtime's outputs against the Go engine's forward pass on the same inputs: logits to
// 1e-4 relative, labels (bicubic upsampling and arg-max, as the official evaluation) on ≥ 99.99 % of pixels,
// confidence to 1e-3.
func compare(t *testing.T, m *cen.Model, s *Session, n, h, w int, seed uint64) {
	t.Helper()
	ts, raw := randomInputs(m.Config().M(), n, h, w, seed)
	want, err := m.Forward(ts)
	if err != nil {
		t.Fatal(err)
	}
	var got Result
	if err := s.Run(raw, n, h, w, &got); err != nil {
		t.Fatal(err)
	}
	if got.LogitsHeight != want.Ensemble.H || got.LogitsWidth != want.Ensemble.W {
		t.Fatalf("logits %dx%d, engine %dx%d", got.LogitsWidth, got.LogitsHeight, want.Ensemble.W, want.Ensemble.H)
	}
	if e := relErr(got.Logits, want.Ensemble.Data); e > 1e-4 {
		t.Errorf("ensemble logits differ from the engine's by %.2g relative (limit 1e-4)", e)
	}
	for i, p := range got.PerModality {
		if e := relErr(p, want.Logits[i].Data); e > 1e-4 {
			t.Errorf("logits of modality %d differ by %.2g relative", i, e)
		}
	}
	// The engine's labels, computed here independently of both: bicubic upsampling (the engine's kernel,
	// tested against OpenCV) and a plain arg-max.
	up := engine.ResizeBicubic(want.Ensemble, h, w)
	K, hw := up.C, h*w
	diff := 0
	for p := 0; p < n*hw; p++ {
		s, j := p/hw, p%hw
		best := 0
		for k := 1; k < K; k++ {
			if up.Data[(s*K+k)*hw+j] > up.Data[(s*K+best)*hw+j] {
				best = k
			}
		}
		if int(got.Labels[p]) != best {
			diff++
		}
	}
	labels := got.Labels
	if float64(diff) > 1e-4*float64(len(labels)) {
		t.Errorf("labels differ on %d of %d pixels (more than 0.01 %%)", diff, len(labels))
	}
	var worst float64
	for p := 0; p < n*hw; p++ {
		s, j := p/hw, p%hw
		mx, sum := math.Inf(-1), 0.0
		for k := 0; k < K; k++ {
			mx = math.Max(mx, float64(up.Data[(s*K+k)*hw+j]))
		}
		for k := 0; k < K; k++ {
			sum += math.Exp(float64(up.Data[(s*K+k)*hw+j]) - mx)
		}
		worst = math.Max(worst, math.Abs(1/sum-float64(got.Confidence[p])))
	}
	t.Logf("%dx%d: logits relative error %.2g, labels differ on %d of %d pixels, confidence error %.2g",
		w, h, relErr(got.Logits, want.Ensemble.Data), diff, len(labels), worst)
	if worst > 1e-3 {
		t.Errorf("confidence differs from the engine's softmax by up to %.2g", worst)
	}
}

func TestONNXRuntimeMatchesTheEngine(t *testing.T) {
	needLibrary(t)
	for _, tc := range []struct {
		arch   string
		m      int
		perMod bool
	}{
		{"refinenet-r50", 2, true},
		{"refinenet-r50", 3, false},
		{"lite-r18", 2, false},
		{"lite-r18", 3, true},
	} {
		t.Run(fmt.Sprintf("%s/M%d", tc.arch, tc.m), func(t *testing.T) {
			model := testNetwork(t, tc.arch, tc.m, 1)
			path := export(t, model, cen.ExportOptions{Height: 96, Width: 128, PerModality: tc.perMod})
			s, err := Open(path, Options{Device: "cpu", IntraOpThreads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Device() != "cpu" || s.Info().Arch != tc.arch {
				t.Errorf("device %q arch %q", s.Device(), s.Info().Arch)
			}
			compare(t, model, s, 2, 96, 128, 2)
			_, in := randomInputs(tc.m, 2, 64, 64, 1)
			if err := s.Run(in, 2, 64, 64, &Result{}); err == nil || !strings.Contains(err.Error(), "export with --dynamic") {
				t.Errorf("a fixed-size model accepted another size: %v", err)
			}
		})
	}
}

// TestWinogradExportMatchesTheEngine reruns the engine parity on the Winograd F(4×4, 3×3) graph, forced onto
// every 3×3 stride-1 convolution, at a size whose planes are not multiples of the 4×4 tile.
func TestWinogradExportMatchesTheEngine(t *testing.T) {
	needLibrary(t)
	for _, tc := range []struct {
		arch string
		m    int
		h, w int
	}{
		{"refinenet-r50", 2, 96, 128},
		{"refinenet-r50", 3, 72, 100},
		{"lite-r18", 2, 90, 120},
	} {
		t.Run(fmt.Sprintf("%s/M%d/%dx%d", tc.arch, tc.m, tc.w, tc.h), func(t *testing.T) {
			model := testNetwork(t, tc.arch, tc.m, 1)
			path := export(t, model, cen.ExportOptions{Height: tc.h, Width: tc.w, PerModality: true, Conv3x3: cen.ConvWinogradAll})
			s, err := Open(path, Options{Device: "cpu", IntraOpThreads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			compare(t, model, s, 2, tc.h, tc.w, 2)
		})
	}
}

func TestDynamicModelRunsAtSeveralSizes(t *testing.T) {
	needLibrary(t)
	model := testNetwork(t, "refinenet-r50", 2, 3)
	path := export(t, model, cen.ExportOptions{Dynamic: true})
	s, err := Open(path, Options{Device: "cpu", IntraOpThreads: 2, WarmupHeight: 64, WarmupWidth: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Info().Dynamic() {
		t.Fatal("the model is not dynamic")
	}
	compare(t, model, s, 1, 96, 128, 4)
	compare(t, model, s, 1, 70, 98, 5) // logits 18×25: a non-integer upsampling factor
}

func TestAutoDeviceFallsBackToCPUAndSaysWhy(t *testing.T) {
	needLibrary(t)
	provs, err := Providers()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range provs {
		if p.Name == "cuda" && p.Available {
			t.Skip("this ONNX Runtime library has a working CUDA provider: no fallback to observe")
		}
	}
	model := testNetwork(t, "lite-r18", 2, 1)
	path := export(t, model, cen.ExportOptions{Height: 64, Width: 64})
	var logs []string
	s, err := Open(path, Options{Logger: func(l string) { logs = append(logs, l) }, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Device() != "cpu" {
		t.Errorf("auto chose %q on a machine without CUDA", s.Device())
	}
	all := strings.Join(logs, "\n")
	t.Log(all)
	for _, want := range []string{"tensorrt not used: ", "cuda not used: ", "runs on cpu"} {
		if !strings.Contains(all, want) {
			t.Errorf("log does not say %q:\n%s", want, all)
		}
	}
	for _, l := range logs {
		if strings.HasPrefix(l, "onnxruntime: cuda not used: ") && len(strings.TrimPrefix(l, "onnxruntime: cuda not used: ")) < 10 {
			t.Errorf("log gives no reason for CUDA: %q", l)
		}
	}

	for _, dev := range []string{"cuda", "tensorrt"} {
		if _, err := Open(path, Options{Device: dev}); err == nil || !strings.Contains(err.Error(), "cannot run on "+dev) || !strings.Contains(err.Error(), path) {
			t.Errorf("--device %s on a CPU-only library: got %v, want an error naming the file and device", dev, err)
		}
	}
	if _, err := Open(path, Options{Device: "gpu"}); err == nil || !strings.Contains(err.Error(), "unknown device") {
		t.Errorf("unknown device accepted: %v", err)
	}
}

func TestOpenRejectsFilesThatAreNotCENModels(t *testing.T) {
	needLibrary(t)
	model := testNetwork(t, "lite-r18", 2, 1)
	good, err := os.ReadFile(export(t, model, cen.ExportOptions{Height: 64, Width: 64}))
	if err != nil {
		t.Fatal(err)
	}
	rebuild := func(edit func(*onnx.ModelProto)) []byte {
		var mp onnx.ModelProto
		if err := proto.Unmarshal(good, &mp); err != nil {
			t.Fatal(err)
		}
		edit(&mp)
		b, err := proto.Marshal(&mp)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rng := rand.New(rand.NewPCG(9, 9))
	random := make([]byte, 1<<16)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"random", "not an ONNX model, or truncated", random},
		{"truncated", "not an ONNX model, or truncated", good[:len(good)/2]},
		{"wrong-input", `input 0 is "color", want modality "rgb"`, rebuild(func(mp *onnx.ModelProto) {
			old := mp.Graph.Input[0].Name
			mp.Graph.Input[0].Name = "color"
			for _, n := range mp.Graph.Node {
				for i, in := range n.Input {
					if in == old {
						n.Input[i] = "color"
					}
				}
			}
		})},
		{"missing-metadata", "metadata key cen.modalities is missing", rebuild(func(mp *onnx.ModelProto) {
			var keep []*onnx.StringStringEntryProto
			for _, e := range mp.MetadataProps {
				if e.Key != cen.MetaModalities {
					keep = append(keep, e)
				}
			}
			mp.MetadataProps = keep
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".onnx")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, Options{Device: "cpu"})
			if err == nil || !errors.Is(err, cen.ErrBadModel) || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s and saying %q", err, path, tc.want)
			}
		})
	}
	if _, err := Open(filepath.Join(dir, "absent.onnx"), Options{}); err == nil || !strings.Contains(err.Error(), "absent.onnx") {
		t.Errorf("missing file: %v", err)
	}
}

// TestConcurrentRunsKeepTheirOwnResults runs one session from two goroutines, each with its own inputs and
// Result, and compares every result with the same inputs run alone: Run serialises the ONNX Runtime calls and
// writes into the caller's buffers, so results never mix (run under -race by make test).
func TestConcurrentRunsKeepTheirOwnResults(t *testing.T) {
	needLibrary(t)
	model := testNetwork(t, "lite-r18", 2, 4)
	path := export(t, model, cen.ExportOptions{Height: 64, Width: 64})
	s, err := Open(path, Options{Device: "cpu", IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const frames = 6
	inputs := make([][][]float32, frames)
	want := make([]Result, frames)
	for i := range inputs {
		_, inputs[i] = randomInputs(2, 1, 64, 64, uint64(10+i))
		if err := s.Run(inputs[i], 1, 64, 64, &want[i]); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 2)
	for g := 0; g < 2; g++ {
		go func(g int) {
			var res Result // one per goroutine, reused across its frames
			for rep := 0; rep < 3; rep++ {
				for i := g; i < frames; i += 2 {
					if err := s.Run(inputs[i], 1, 64, 64, &res); err != nil {
						errs <- err
						return
					}
					if relErr(res.Logits, want[i].Logits) != 0 || fmt.Sprint(res.Labels) != fmt.Sprint(want[i].Labels) {
						errs <- fmt.Errorf("goroutine %d, frame %d: result differs from the same frame run alone", g, i)
						return
					}
				}
			}
			errs <- nil
		}(g)
	}
	for g := 0; g < 2; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// A result kept by the caller is not changed by later runs.
	keep := want[0].Logits[0]
	if err := s.Run(inputs[1], 1, 64, 64, &Result{}); err != nil {
		t.Fatal(err)
	}
	if want[0].Logits[0] != keep {
		t.Fatal("a later Run changed an earlier result")
	}
}

// TestFixedSizeUpsamplingsRunInTheBlockedLayout checks what ONNX Runtime's CPU provider makes of a fixed-size
// export (its optimized graph, as it saves it): the decoder's bilinear upsamplings, by whole factors at this
// size, run in its blocked NCHWc layout (com.microsoft.nchwc Upsample) like the convolutions around them,
// not as plain Resize nodes with reorders to NCHW and back around each.
func TestFixedSizeUpsamplingsRunInTheBlockedLayout(t *testing.T) {
	needLibrary(t)
	model := testNetwork(t, "lite-r18", 2, 1)
	path := export(t, model, cen.ExportOptions{Height: 96, Width: 128})
	so, err := sessionOptions(Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	opt := filepath.Join(t.TempDir(), "optimized.onnx")
	if err := so.SetOptimizedModelFilePath(opt); err != nil {
		t.Fatal(err)
	}
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	var in, out []string
	for _, i := range ins {
		in = append(in, i.Name)
	}
	for _, o := range outs {
		out = append(out, o.Name)
	}
	s, err := ort.NewDynamicAdvancedSession(path, in, out, so)
	if err != nil {
		t.Fatal(err)
	}
	s.Destroy()
	data, err := os.ReadFile(opt)
	if err != nil {
		t.Fatal(err)
	}
	var mp onnx.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range mp.Graph.Node {
		ops[n.Domain+"."+n.OpType]++
	}
	t.Logf("optimized graph: %v", ops)
	if ops["com.microsoft.nchwc.Conv"] == 0 {
		// ONNX Runtime uses the blocked layout only where MLAS has NCHWc kernels (x86-64 with AVX2 or AVX-512).
		t.Skip("ONNX Runtime runs no convolution in its NCHWc layout on this CPU")
	}
	// lite-r18's decoder upsamples three times, per modality (the labels head's bicubic upsampling is MatMuls).
	if got := ops["com.microsoft.nchwc.Upsample"]; got != 6 {
		t.Errorf("%d NCHWc upsamplings, want the decoder's 6 (2 modalities × 3)", got)
	}
	if got := ops[".Resize"]; got != 0 {
		t.Errorf("%d plain Resize nodes, want none", got)
	}
}
