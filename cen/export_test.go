package cen_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	. "github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/internal/modeltest"
	"github.com/cen-ros/cen/preprocess"
)

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
			model := modeltest.Network(t, tc.arch, tc.m, 1)
			spec := preprocess.DefaultSpec()
			spec.Height, spec.Width, spec.Resize = 64, 96, preprocess.Letterbox
			recipe := modeltest.Recipe(7, spec)
			recipe.Dataset = "synthetic"
			if err := model.SetRecipe(recipe); err != nil {
				t.Fatal(err)
			}
			opt := ExportOptions{Height: 64, Width: 96, Dynamic: tc.dynamic, PerModality: tc.perMod}
			path := modeltest.Export(t, model, opt)
			mi, err := ReadModelInfo(path)
			if err != nil {
				t.Fatal(err)
			}
			if mi.Arch != tc.arch || mi.Classes != 7 || len(mi.Modalities) != tc.m || mi.Dynamic() != tc.dynamic ||
				mi.PerModality != tc.perMod || mi.Metadata["preprocess.height"] != "64" || mi.Recipe.Dataset != "synthetic" ||
				mi.IRVersion != 8 || mi.Opset != 17 || mi.LabelType != "uint8" || len(mi.Recipe.ClassNames) != 7 ||
				len(mi.Recipe.Palette) != 7 || mi.Recipe.Version != Version {
				t.Errorf("model info does not match the export: %+v", mi)
			}
			if got, err := preprocess.SpecFromMetadata(mi.Recipe.Preprocess); err != nil || got != spec {
				t.Errorf("exported preprocessing %+v (%v), want %+v", got, err, spec)
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
	modeltest.SetRecipe(t, m, preprocess.DefaultSpec())
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
	model := modeltest.Network(t, "lite-r18", 2, 2)
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
		{"no palette", "metadata key cen.palette is missing", rebuild(func(mp *onnx.ModelProto) { dropMeta(mp, MetaPalette) })},
		{"no preprocessing", "metadata has no preprocessing", rebuild(func(mp *onnx.ModelProto) {
			for _, k := range []string{"preprocess.height", "preprocess.width", "preprocess.resize", "preprocess.rgb_interp", "preprocess.rgb_scale",
				"preprocess.rgb_mean", "preprocess.rgb_std", "preprocess.depth_encoding", "preprocess.depth_channels", "preprocess.depth_scale",
				"preprocess.depth_mean", "preprocess.depth_std", "preprocess.depth_min", "preprocess.depth_max", "preprocess.invalid_depth"} {
				dropMeta(mp, k)
			}
		})},
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

func dropMeta(mp *onnx.ModelProto, key string) {
	for i, e := range mp.MetadataProps {
		if e.Key == key {
			mp.MetadataProps = append(mp.MetadataProps[:i], mp.MetadataProps[i+1:]...)
			return
		}
	}
}

// narrowLite is a lite-r18 of width 0.125 and 3 classes, without a recipe.
func narrowLite(t *testing.T) *Model {
	t.Helper()
	cfg := DefaultConfig("lite-r18")
	cfg.Width, cfg.Classes = 0.125, 3
	m, err := New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExportNeedsARecipe(t *testing.T) {
	m := narrowLite(t)
	var buf bytes.Buffer
	if err := m.ExportONNX(&buf, ExportOptions{Height: 64, Width: 64}); err == nil || !strings.Contains(err.Error(), "recipe names 0 classes") {
		t.Fatalf("export without a recipe: %v", err)
	}
	if err := m.SetRecipe(modeltest.Recipe(4, preprocess.DefaultSpec())); err == nil || !strings.Contains(err.Error(), "recipe names 4 classes, the network has 3") {
		t.Fatalf("SetRecipe with the wrong class count: %v", err)
	}
}

// A dynamic model cannot have Winograd tiles, which are cut at the export size: the library says so, as the
// CLI does, rather than exporting a plain graph that was not asked for.
func TestExportRefusesWinogradInADynamicModel(t *testing.T) {
	m := narrowLite(t)
	if err := m.SetRecipe(modeltest.Recipe(3, preprocess.DefaultSpec())); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{ConvWinograd, ConvWinogradAll} {
		_, err := m.ONNXModel(ExportOptions{Dynamic: true, Conv3x3: c})
		if err == nil || !strings.Contains(err.Error(), "3x3 convolutions "+c+" need a fixed-size model") {
			t.Errorf("dynamic export with %s: %v", c, err)
		}
	}
	if _, err := m.ONNXModel(ExportOptions{Dynamic: true, Conv3x3: ConvPlain}); err != nil {
		t.Errorf("dynamic plain export: %v", err)
	}
}

// FuzzParseModelInfo feeds arbitrary bytes, seeded with a small exported model and damaged copies, to the ONNX
// metadata reader: it must describe the model or return an error wrapping ErrBadModel, never panic.
func FuzzParseModelInfo(f *testing.F) {
	cfg := DefaultConfig("lite-r18")
	cfg.Width, cfg.Classes, cfg.Modalities = 1.0/32, 2, []string{"rgb", "depth"}
	m, err := New(cfg, 1)
	if err != nil {
		f.Fatal(err)
	}
	if err := m.SetRecipe(modeltest.Recipe(2, preprocess.DefaultSpec())); err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.ExportONNX(&buf, ExportOptions{Height: 32, Width: 32, PerModality: true}); err != nil {
		f.Fatal(err)
	}
	good := buf.Bytes()
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add([]byte{0x08, 0x08, 0x3a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		mi, err := ParseModelInfo(data)
		if err != nil {
			if !errors.Is(err, ErrBadModel) {
				t.Fatalf("error %v does not wrap ErrBadModel", err)
			}
			return
		}
		if len(mi.Recipe.ClassNames) != mi.Classes || len(mi.Inputs) != len(mi.Modalities) {
			t.Fatalf("accepted an inconsistent model: %+v", mi)
		}
	})
}
