package cen

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// exportModel builds a narrow network of arch with m modalities whose batch norms have random statistics and
// whose exchanging batch norms have about a third of their γ below the threshold, so that the folding and the
// exchange both matter.
func exportModel(t testing.TB, arch string, m int, seed uint64) *Model {
	t.Helper()
	cfg := DefaultConfig(arch)
	cfg.Modalities = modalityNames(m)
	cfg.Classes = 7
	cfg.Width = 0.125
	if strings.HasPrefix(arch, "refinenet") {
		cfg.Width = 0.0625
	}
	model, err := New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	randomizeBatchNorms(model, seed)
	for i := range model.alpha.Data {
		model.alpha.Data[i] = float32(i) * 0.3
	}
	return model
}

// randomizeBatchNorms gives every batch norm of m random statistics and every exchanging batch norm's γ a
// third of values below the threshold; tests use it to make exported and engine results comparable on
// something other than identity batch norms.
func randomizeBatchNorms(m *Model, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	visit := func(b *bn) {
		for i := range b.gamma {
			b.gamma[i] = 0.5 + rng.Float32()
			if b.exchange && rng.IntN(3) == 0 {
				b.gamma[i] = (rng.Float32()*2 - 1) * m.cfg.Threshold * 0.9
			}
			b.beta[i] = 0.2 * float32(rng.NormFloat64())
			b.mean[i] = 0.2 * float32(rng.NormFloat64())
			b.vari[i] = 0.5 + rng.Float32()
		}
	}
	visit(m.bn1)
	for _, blocks := range m.layers {
		for _, blk := range blocks {
			for _, b := range blk.bns {
				visit(b)
			}
			if blk.downBN != nil {
				visit(blk.downBN)
			}
		}
	}
	for _, p := range m.ps.list {
		if p.Kind == Weight && len(p.Shape) == 1 && strings.HasSuffix(p.Name, ".bias") && !strings.Contains(p.Name, "bn_") {
			for i := range p.Data {
				p.Data[i] = 0.1 * float32(rng.NormFloat64())
			}
		}
	}
}

// checkONNX runs the ONNX checker (python3-onnx, full check) on path. A missing checker fails the test:
// `make setup` installs it.
func checkONNX(t testing.TB, path string) {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "-c",
		"import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ONNX checker rejects %s (python3-onnx is installed by `make setup`): %v\n%s", path, err, out)
	}
}

func exportFile(t testing.TB, m *Model, opt ExportOptions) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.onnx")
	var buf bytes.Buffer
	if err := m.ExportONNX(&buf, opt); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExportedModelsPassTheONNXChecker(t *testing.T) {
	for _, tc := range []struct {
		arch    string
		m       int
		dynamic bool
		perMod  bool
	}{
		{"refinenet-r50", 2, false, false},
		{"refinenet-r50", 3, true, true},
		{"lite-r18", 2, true, false},
		{"lite-r18", 3, false, true},
		{"lite-r34", 1, false, false},
	} {
		name := tc.arch + "/M" + string(rune('0'+tc.m))
		t.Run(name, func(t *testing.T) {
			model := exportModel(t, tc.arch, tc.m, 1)
			opt := ExportOptions{Height: 64, Width: 96, Dynamic: tc.dynamic, PerModality: tc.perMod, Dataset: "synthetic",
				Version: "test", Metadata: map[string]string{"preprocess.height": "64"}}
			path := exportFile(t, model, opt)
			checkONNX(t, path)
			mi, err := ReadModelInfo(path)
			if err != nil {
				t.Fatal(err)
			}
			if mi.Arch != tc.arch || mi.Classes != 7 || len(mi.Modalities) != tc.m || mi.Dynamic() != tc.dynamic ||
				mi.PerModality != tc.perMod || mi.Metadata["preprocess.height"] != "64" || mi.Dataset != "synthetic" ||
				mi.IRVersion != 8 || mi.Opset != 17 || mi.LabelType != "uint8" || len(mi.ClassNames) != 7 {
				t.Errorf("model info does not match the export: %+v", mi)
			}
			if !tc.dynamic && (mi.InputHeight != 64 || mi.InputWidth != 96) {
				t.Errorf("input size %dx%d, want 96x64", mi.InputWidth, mi.InputHeight)
			}
		})
	}
}

func TestExportCountsTheReferenceFLOPs(t *testing.T) {
	// The design's figure for refinenet-r50 (2 modalities, 40 classes) at 240×320 is 287 GFLOP per frame.
	cfg := DefaultConfig("refinenet-r50")
	cfg.Width = 1
	if testing.Short() {
		t.Skip("builds a full-width network")
	}
	m, err := New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := m.ONNXModel(ExportOptions{Height: 240, Width: 320})
	if err != nil {
		t.Fatal(err)
	}
	var gf string
	for _, e := range mp.MetadataProps {
		if e.Key == MetaGFLOPs {
			gf = e.Value
		}
	}
	if !strings.HasPrefix(gf, "287.") && !strings.HasPrefix(gf, "286.") {
		t.Errorf("refinenet-r50 at 240x320 counts %s GFLOP, want about 287", gf)
	}
}

func TestParseModelInfoRejectsBrokenFiles(t *testing.T) {
	model := exportModel(t, "lite-r18", 2, 2)
	var buf bytes.Buffer
	if err := model.ExportONNX(&buf, ExportOptions{Height: 64, Width: 64}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
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
	rng := rand.New(rand.NewPCG(3, 3))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"empty", "empty", nil},
		{"random bytes", "not an ONNX model, or truncated", random},
		{"text", "not an ONNX model, or truncated", []byte("hello, this is not a model\n")},
		{"truncated", "not an ONNX model, or truncated", good[:len(good)*2/3]},
		{"missing metadata", "metadata key cen.arch is missing", rebuild(func(mp *onnx.ModelProto) {
			for i, e := range mp.MetadataProps {
				if e.Key == MetaArch {
					mp.MetadataProps = append(mp.MetadataProps[:i], mp.MetadataProps[i+1:]...)
					break
				}
			}
		})},
		{"not from cen", "not written by `cen export`", rebuild(func(mp *onnx.ModelProto) { mp.MetadataProps = nil })},
		{"wrong input", `input 1 is "ir"`, rebuild(func(mp *onnx.ModelProto) {
			mp.Graph.Input[1].Name = "ir"
		})},
		{"missing output", "the graph has 2 outputs", rebuild(func(mp *onnx.ModelProto) {
			mp.Graph.Output = mp.Graph.Output[:2]
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseModelInfo(tc.data)
			if err == nil || !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one about %q", err, tc.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "cut.onnx")
	if err := os.WriteFile(path, good[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadModelInfo(path); err == nil || !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("error %v does not start with the file name", err)
	}
}
