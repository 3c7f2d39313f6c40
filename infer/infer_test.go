package infer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/cen-ros/cen/calibration"
	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/internal/modeltest"
	"github.com/cen-ros/cen/preprocess"
)

// frame makes a colour image with structure and a depth image with holes, w×h.
func frame(w, h int, seed uint64) Frame {
	rng := rand.New(rand.NewPCG(seed, 3))
	f := Frame{RGB: preprocess.NewRGBImage(w, h), Depth: preprocess.DepthImage{Width: w, Height: h, Pix: make([]float32, w*h)}}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			f.RGB.Pix[3*i] = uint8(x * 255 / w)
			f.RGB.Pix[3*i+1] = uint8(y * 255 / h)
			f.RGB.Pix[3*i+2] = uint8(rng.IntN(256))
			f.Depth.Pix[i] = 0.5 + 3*float32(x+y)/float32(w+h) + 0.05*rng.Float32()
			if rng.IntN(20) == 0 {
				f.Depth.Pix[i] = 0
			}
		}
	}
	return f
}

// nonDefaultSpec is a spec unlike the official one in every respect the network sees: another size, letterbox,
// bilinear RGB, depth scaled, normalised and bounded.
func nonDefaultSpec() preprocess.Spec {
	s := preprocess.DefaultSpec()
	s.Height, s.Width = 72, 104
	s.Resize, s.RGBInterp = preprocess.Letterbox, preprocess.Bilinear
	s.DepthScale, s.DepthMean, s.DepthStd = 0.5, [3]float32{1, 1, 1}, [3]float32{0.8, 0.8, 0.8}
	s.DepthMin, s.DepthMax, s.InvalidDepth = 0.3, 4, -1
	return s
}

// bothBackends saves model as a checkpoint and as a fixed-size ONNX export at its recipe's size, and opens
// both through Open.
func bothBackends(t *testing.T, model *cen.Model, perModality bool) (*Model, *Model) {
	t.Helper()
	spec, err := preprocess.SpecFromMetadata(model.Recipe().Preprocess)
	if err != nil {
		t.Fatal(err)
	}
	ckpt := modeltest.Checkpoint(t, model)
	onnx := modeltest.Export(t, model, cen.ExportOptions{Height: spec.Height, Width: spec.Width, PerModality: perModality})
	conf := Conf{Device: "cpu", Threads: 2, Logits: true, PerModality: perModality}
	eng, err := Open(ckpt, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	rt, err := Open(onnx, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return eng, rt
}

// TestBackendsGiveIdenticalLabelsAtANonDefaultSpec is the conformance test of the inference path: the same
// frames (of sizes unlike the network's, letterboxed) through the Go engine (checkpoint) and ONNX Runtime
// (export) give identical labels at camera size, logits within 1e-4 relative and the same confidence.
func TestBackendsGiveIdenticalLabelsAtANonDefaultSpec(t *testing.T) {
	for _, tc := range []struct {
		arch string
		m    int
	}{{"lite-r18", 2}, {"refinenet-r50", 2}} {
		t.Run(tc.arch, func(t *testing.T) {
			model := modeltest.Network(t, tc.arch, tc.m, 5)
			modeltest.SetRecipe(t, model, nonDefaultSpec())
			eng, rt := bothBackends(t, model, true)
			if eng.Info().Backend != "go-engine" || rt.Info().Backend != "onnxruntime" || rt.Info().Device != "cpu" {
				t.Fatalf("backends %+v / %+v", eng.Info(), rt.Info())
			}
			if eng.Info().Spec != nonDefaultSpec() || rt.Info().Spec != nonDefaultSpec() {
				t.Fatalf("specs %+v / %+v, want the recipe's", eng.Info().Spec, rt.Info().Spec)
			}
			var a, b Result
			for i, size := range [][2]int{{150, 100}, {90, 131}, {104, 72}} {
				f := frame(size[0], size[1], uint64(i))
				if err := eng.Segment(f, &a); err != nil {
					t.Fatal(err)
				}
				if err := rt.Segment(f, &b); err != nil {
					t.Fatal(err)
				}
				if a.Width != size[0] || a.Height != size[1] || len(a.Labels) != size[0]*size[1] {
					t.Fatalf("result %dx%d with %d labels for a %dx%d frame", a.Width, a.Height, len(a.Labels), size[0], size[1])
				}
				if e := modeltest.RelErr(b.Logits, a.Logits); e > 1e-4 {
					t.Errorf("frame %d: logits differ by %.2g relative", i, e)
				}
				diff := 0
				for p := range a.Labels {
					if a.Labels[p] != b.Labels[p] {
						diff++
					}
				}
				if diff > 0 {
					t.Errorf("frame %d: labels differ on %d of %d pixels", i, diff, len(a.Labels))
				}
				var worst float64
				for p := range a.Confidence {
					worst = math.Max(worst, math.Abs(float64(a.Confidence[p]-b.Confidence[p])))
				}
				if worst > 1e-4 {
					t.Errorf("frame %d: confidence differs by up to %.2g", i, worst)
				}
				for m := range a.Modalities {
					if fmt.Sprint(a.Modalities[m]) != fmt.Sprint(b.Modalities[m]) {
						t.Errorf("frame %d: labels of modality %d differ between the backends", i, m)
					}
				}
				if len(a.Modalities) != tc.m {
					t.Errorf("%d per-modality label maps, want %d", len(a.Modalities), tc.m)
				}
				if a.Timings.Inference <= 0 || b.Timings.Preprocess <= 0 || b.Timings.Total() < b.Timings.Inference {
					t.Errorf("timings %+v / %+v", a.Timings, b.Timings)
				}
				t.Logf("frame %dx%d: logits %.2g relative apart, confidence %.2g, engine %v, onnxruntime %v",
					size[0], size[1], modeltest.RelErr(b.Logits, a.Logits), worst, a.Timings.Inference, b.Timings.Inference)
			}
		})
	}
}

// TestSegmentReusesTheCallersBuffers checks that a stream of frames of one size allocates its results once.
func TestSegmentReusesTheCallersBuffers(t *testing.T) {
	model := modeltest.Network(t, "lite-r18", 2, 2)
	modeltest.SetRecipe(t, model, nonDefaultSpec())
	m, err := Open(modeltest.Checkpoint(t, model), Conf{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var res Result
	f := frame(120, 80, 1)
	if err := m.Segment(f, &res); err != nil {
		t.Fatal(err)
	}
	labels, conf := &res.Labels[0], &res.Confidence[0]
	if err := m.Segment(frame(120, 80, 2), &res); err != nil {
		t.Fatal(err)
	}
	if &res.Labels[0] != labels || &res.Confidence[0] != conf {
		t.Error("a second frame of the same size reallocated the result")
	}
	if res.Logits != nil && len(res.Logits) != 0 {
		t.Error("logits returned without Conf.Logits")
	}
	for _, c := range res.Confidence {
		if !(c > 0 && c <= 1) {
			t.Fatalf("confidence %v outside (0, 1]", c)
		}
	}
}

// TestModalitiesAreFedByName swaps the modality order of a network (and its parameters with it) and checks the
// result is unchanged: the library feeds each input by its name, not its position. Names it cannot feed are
// refused with a sentence.
func TestModalitiesAreFedByName(t *testing.T) {
	model := modeltest.Network(t, "lite-r18", 2, 3)
	ref, err := Open(modeltest.Checkpoint(t, model), Conf{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	// The same network with the modalities in the other order: every per-modality tensor (bn_0 ↔ bn_1, α)
	// moves with its modality.
	cfg := model.Config()
	cfg.Modalities = []string{"depth", "rgb"}
	swapped, err := cen.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range model.Params() {
		name := p.Name
		switch {
		case strings.Contains(name, ".bn_0."):
			name = strings.Replace(name, ".bn_0.", ".bn_1.", 1)
		case strings.Contains(name, ".bn_1."):
			name = strings.Replace(name, ".bn_1.", ".bn_0.", 1)
		}
		q := swapped.Param(name)
		if name == "alpha" {
			q.Data[0], q.Data[1] = p.Data[1], p.Data[0]
			continue
		}
		copy(q.Data, p.Data)
	}
	modeltest.SetRecipe(t, swapped, preprocess.DefaultSpec())
	sw, err := Open(modeltest.Checkpoint(t, swapped), Conf{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	var a, b Result
	f := frame(80, 60, 4)
	if err := ref.Segment(f, &a); err != nil {
		t.Fatal(err)
	}
	if err := sw.Segment(f, &b); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.Labels) != fmt.Sprint(b.Labels) {
		t.Fatal("the [depth rgb] network gives other labels than the same network as [rgb depth]")
	}

	for _, tc := range []struct {
		mods []string
		spec func(*preprocess.Spec)
		want string
	}{
		{[]string{"rgb", "ir"}, nil, `modality "ir" cannot be fed: cen feeds rgb, depth (replicated metres) and hha`},
		{[]string{"rgb", "hha"}, nil, `modality "hha" cannot be fed: the preprocessing encodes depth as replicate`},
		{[]string{"rgb", "depth"}, func(s *preprocess.Spec) { s.DepthEncoding = preprocess.HHA }, `modality "depth" cannot be fed: the preprocessing encodes depth as hha`},
		{[]string{"rgb", "depth"}, func(s *preprocess.Spec) { s.DepthChannels = 1 }, "the network takes 3 channels, the preprocessing makes 1"},
	} {
		cfg := model.Config()
		cfg.Modalities = tc.mods
		m, err := cen.New(cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		spec := preprocess.DefaultSpec()
		if tc.spec != nil {
			tc.spec(&spec)
		}
		modeltest.SetRecipe(t, m, spec)
		path := modeltest.Checkpoint(t, m)
		if _, err := Open(path, Conf{}); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), path) {
			t.Errorf("%v: %v, want an error naming the file and saying %q", tc.mods, err, tc.want)
		}
	}
}

// TestRGBOnlyAndHHAModelsAreFed runs a unimodal RGB network without any depth, and an HHA network with the
// camera it needs (and refuses an HHA frame without one).
func TestRGBOnlyAndHHAModelsAreFed(t *testing.T) {
	cfg := cen.DefaultConfig("lite-r18")
	cfg.Width, cfg.Classes, cfg.Modalities = 0.125, 4, []string{"rgb"}
	rgbOnly, err := cen.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	modeltest.SetRecipe(t, rgbOnly, preprocess.DefaultSpec())
	m, err := Open(modeltest.Checkpoint(t, rgbOnly), Conf{Height: 48, Width: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := frame(64, 48, 1)
	f.Depth = preprocess.DepthImage{}
	var res Result
	if err := m.Segment(f, &res); err != nil {
		t.Fatalf("an RGB-only network without depth: %v", err)
	}

	cfg.Modalities = []string{"rgb", "hha"}
	hha, err := cen.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	spec := preprocess.DefaultSpec()
	spec.DepthEncoding, spec.Height, spec.Width = preprocess.HHA, 48, 64
	modeltest.SetRecipe(t, hha, spec)
	h, err := Open(modeltest.Checkpoint(t, hha), Conf{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	f = frame(64, 48, 2)
	if err := h.Segment(f, &res); err == nil || !strings.Contains(err.Error(), "HHA needs the camera intrinsics") {
		t.Fatalf("HHA without a camera: %v", err)
	}
	f.View = &preprocess.View{Camera: calibration.Pinhole{Width: 64, Height: 48, K: [9]float64{60, 0, 32, 0, 60, 24, 0, 0, 1},
		R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, P: [12]float64{60, 0, 32, 0, 0, 60, 24, 0, 0, 0, 1, 0}}}
	if err := h.Segment(f, &res); err != nil {
		t.Fatal(err)
	}
	if res.Up == ([3]float64{}) {
		t.Error("HHA result has no up direction")
	}
}

// TestBadFramesGiveOneError feeds frames the node must reject and keep running.
func TestBadFramesGiveOneError(t *testing.T) {
	model := modeltest.Network(t, "lite-r18", 2, 1)
	m, err := Open(modeltest.Checkpoint(t, model), Conf{Height: 48, Width: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	good := frame(64, 48, 1)
	nan := frame(64, 48, 1)
	nan.Depth.Pix = make([]float32, len(nan.Depth.Pix))
	for i := range nan.Depth.Pix {
		nan.Depth.Pix[i] = float32(math.NaN())
	}
	small := frame(32, 24, 1)
	mismatch := Frame{RGB: good.RGB, Depth: small.Depth}
	short := Frame{RGB: preprocess.RGBImage{Width: 64, Height: 48, Pix: good.RGB.Pix[:100]}, Depth: good.Depth}
	var res Result
	for _, tc := range []struct {
		name string
		f    Frame
		want string
	}{
		{"all-NaN depth", nan, "the depth image has no valid pixel"},
		{"size mismatch", mismatch, "depth image 32x24 does not match the RGB image 64x48"},
		{"truncated RGB", short, "RGB image 64x48 needs 9216 bytes, got 100"},
	} {
		if err := m.Segment(tc.f, &res); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := m.Segment(good, &res); err != nil {
		t.Fatalf("a good frame after bad ones: %v", err)
	}
}

// TestOpenNamesTheFileAndTheDefect opens every kind of bad model file: one error, naming the file and what is
// wrong, never a panic.
func TestOpenNamesTheFileAndTheDefect(t *testing.T) {
	dir := t.TempDir()
	model := modeltest.Network(t, "lite-r18", 2, 1)
	ckpt, err := os.ReadFile(modeltest.Checkpoint(t, model))
	if err != nil {
		t.Fatal(err)
	}
	onnx, err := os.ReadFile(modeltest.Export(t, model, cen.ExportOptions{Height: 480, Width: 640}))
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Config()
	cfg.Arch = "lite-r34"
	other, err := cen.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	modeltest.SetRecipe(t, other, preprocess.DefaultSpec())
	otherCkpt, _ := os.ReadFile(modeltest.Checkpoint(t, other))
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 5000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	huge := append(binary.LittleEndian.AppendUint64(nil, 1<<62), '{')
	torchZip, _ := os.ReadFile(filepath.Join("..", "test", "fixtures", "import", "tiny_zip.pth"))
	// A valid ONNX file that cen did not write: the ONNX checker's own kind of minimal model.
	foreign := foreignONNX(t)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty.ckpt", nil, "is empty"},
		{"truncated.ckpt", ckpt[:len(ckpt)/2], "is truncated"},
		{"truncated.onnx", onnx[:len(onnx)/2], "not an ONNX model, or truncated"},
		{"random.bin", random, "is neither a cen checkpoint nor an ONNX model"},
		{"overflow.ckpt", huge, "is not a cen checkpoint (header length"},
		{"wrongarch.ckpt", swapConfig(t, otherCkpt, ckpt), "does not fit the lite-r34 network"},
		{"nometa.ckpt", dropKey(t, ckpt, cen.MetaClassNames), "metadata key cen.class_names is missing"},
		{"nospec.ckpt", dropKey(t, ckpt, preprocess.KeyDepthStd), "model metadata has no preprocess.depth_std"},
		{"foreign.onnx", foreign, "no cen.format metadata: the file was not written by `cen export`"},
		{"model.pth", torchZip, "is a PyTorch file, not a cen model: convert it with `cen import-torch`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, Conf{Device: "cpu"})
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line naming %s and saying %q", err, path, tc.want)
			}
		})
	}
	if _, err := Open(filepath.Join(dir, "absent.onnx"), Conf{}); err == nil || !strings.Contains(err.Error(), "absent.onnx") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "truncated.ckpt"), Conf{Device: "cuda"}); err == nil {
		t.Error("a bad checkpoint opened on cuda")
	}
}

// TestCheckpointsRefuseAGPUAndFixedModelsAnotherSize covers the two device and size rules of Open.
func TestCheckpointsRefuseAGPUAndFixedModelsAnotherSize(t *testing.T) {
	model := modeltest.Network(t, "lite-r18", 2, 1)
	ckpt := modeltest.Checkpoint(t, model)
	if _, err := Open(ckpt, Conf{Device: "cuda"}); err == nil || !strings.Contains(err.Error(), "runs on the Go engine (cpu), not cuda") {
		t.Errorf("checkpoint on cuda: %v", err)
	}
	onnx := modeltest.Export(t, model, cen.ExportOptions{Height: 480, Width: 640})
	if _, err := Open(onnx, Conf{Height: 240, Width: 320, Device: "cpu"}); err == nil || !strings.Contains(err.Error(), "takes 640x480 inputs (width×height), not 320x240") {
		t.Errorf("fixed-size model at another size: %v", err)
	}
	if _, err := Open(onnx, Conf{Device: "cpu", PerModality: true}); err == nil || !strings.Contains(err.Error(), "export it with `cen export --per-modality`") {
		t.Errorf("per-modality labels from a model without them: %v", err)
	}
}

// swapConfig returns ckpt's bytes with the config metadata of from: a file whose tensors do not fit the
// architecture it names.
func swapConfig(t *testing.T, from, ckpt []byte) []byte {
	t.Helper()
	cfg := header(t, from)["__metadata__"].(map[string]any)["config"]
	return editHeader(t, ckpt, func(h map[string]any) { h["__metadata__"].(map[string]any)["config"] = cfg })
}

func dropKey(t *testing.T, ckpt []byte, key string) []byte {
	return editHeader(t, ckpt, func(h map[string]any) { delete(h["__metadata__"].(map[string]any), key) })
}

func header(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	n := binary.LittleEndian.Uint64(raw[:8])
	var h map[string]any
	if err := json.Unmarshal(raw[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func editHeader(t *testing.T, raw []byte, edit func(map[string]any)) []byte {
	t.Helper()
	n := binary.LittleEndian.Uint64(raw[:8])
	h := header(t, raw)
	edit(h)
	hb, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(hb))))
	out.Write(hb)
	out.Write(raw[8+n:])
	return out.Bytes()
}

// foreignONNX is a valid ONNX model that cen did not write: one Identity node.
func foreignONNX(t *testing.T) []byte {
	t.Helper()
	vi := func(name string) *onnx.ValueInfoProto {
		return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: int32(onnx.TensorProto_FLOAT), Shape: &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{
				{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 4}}}}}}}}
	}
	mp := &onnx.ModelProto{IrVersion: 8, OpsetImport: []*onnx.OperatorSetIdProto{{Version: 17}}, ProducerName: "someone else",
		Graph: &onnx.GraphProto{Name: "g", Node: []*onnx.NodeProto{{OpType: "Identity", Input: []string{"x"}, Output: []string{"y"}}},
			Input: []*onnx.ValueInfoProto{vi("x")}, Output: []*onnx.ValueInfoProto{vi("y")}}}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNewEngineSegmentsLikeTheCheckpoint runs a network in memory and the checkpoint it saves: the same
// labels (the trainer validates through NewEngine).
func TestNewEngineSegmentsLikeTheCheckpoint(t *testing.T) {
	model := modeltest.Network(t, "lite-r18", 2, 8)
	modeltest.SetRecipe(t, model, nonDefaultSpec())
	mem, err := NewEngine(model, Conf{})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	file, err := Open(modeltest.Checkpoint(t, model), Conf{})
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var a, b Result
	f := frame(120, 90, 3)
	if err := mem.Segment(f, &a); err != nil {
		t.Fatal(err)
	}
	if err := file.Segment(f, &b); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.Labels) != fmt.Sprint(b.Labels) {
		t.Fatal("the network in memory and its checkpoint give different labels")
	}
	if _, err := NewEngine(model, Conf{Device: "cuda"}); err == nil {
		t.Fatal("a network in memory accepted cuda")
	}
}
