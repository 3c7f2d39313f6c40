package cen

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cen-ros/cen/cen/engine"
	"github.com/cen-ros/cen/preprocess"
)

func smallModel(t *testing.T, arch string, m int, classes int, width float64) *Model {
	t.Helper()
	cfg := DefaultConfig(arch)
	cfg.Modalities = modalityNames(m)
	cfg.Classes, cfg.Width = classes, width
	model, err := New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	// (internal/modeltest has the same recipe, but this package's own tests cannot import it.)
	cs := preprocess.GenericClasses("test", classes)
	if err := model.SetRecipe(Recipe{ClassNames: cs.Names, Palette: cs.Palette, Dataset: cs.Dataset, Preprocess: preprocess.DefaultSpec().Metadata()}); err != nil {
		t.Fatal(err)
	}
	return model
}

func TestCheckpointRoundTripKeepsWeightsStateAndOutputs(t *testing.T) {
	m := smallModel(t, "lite-r18", 3, 5, 1.0/16)
	for i, p := range m.Params() { // make BN statistics and γ non-trivial
		for j := range p.Data {
			p.Data[j] += float32((i+j)%7) * 0.01
		}
	}
	m.Counters()[0].Value = 42
	path := filepath.Join(t.TempDir(), "m.ckpt")
	state := json.RawMessage(`{"epoch":3,"step":120}`)
	extra := map[string][]float32{"momentum.conv1.weight": {1, 2, 3}}
	if err := m.SaveCheckpoint(path, state, extra); err != nil {
		t.Fatal(err)
	}
	got, info, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Arch != "lite-r18" || info.Config.M() != 3 || info.Config.Classes != 5 {
		t.Fatalf("config %+v", info.Config)
	}
	if string(info.State) != string(state) || len(info.Extra["momentum.conv1.weight"]) != 3 || info.Extra["momentum.conv1.weight"][2] != 3 {
		t.Fatalf("state %s extra %v", info.State, info.Extra)
	}
	for _, p := range m.Params() {
		q := got.Param(p.Name)
		if q == nil || relErr(q.Data, p.Data) != 0 {
			t.Fatalf("parameter %s did not round-trip", p.Name)
		}
	}
	if got.Counters()[0].Value != 42 {
		t.Fatalf("num_batches_tracked %d, want 42", got.Counters()[0].Value)
	}
	x := []*engine.Tensor{engine.NewTensor(1, 3, 64, 64), engine.NewTensor(1, 3, 64, 64), engine.NewTensor(1, 3, 64, 64)}
	for i := range x[0].Data {
		x[0].Data[i], x[1].Data[i], x[2].Data[i] = float32(i%13)/13, float32(i%7)/7, float32(i%5)/5
	}
	a, _ := m.Forward(x)
	b, _ := got.Forward(x)
	if relErr(b.Ensemble.Data, a.Ensemble.Data) != 0 {
		t.Fatal("loaded model computes different logits")
	}
}

func TestLoadingIntoWrongArchitectureNamesFirstMismatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r18.ckpt")
	if err := smallModel(t, "lite-r18", 2, 5, 1.0/16).SaveCheckpoint(path, nil, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		model *Model
		want  string
	}{
		{"deeper encoder", smallModel(t, "lite-r34", 2, 5, 1.0/16), "has no tensor layer1.2.conv1.weight"},
		{"more modalities", smallModel(t, "lite-r18", 3, 5, 1.0/16), "tensor alpha is F32 [2] in the file, [3] in the network"},
		{"fewer modalities", smallModel(t, "lite-r18", 1, 5, 1.0/16), "tensor alpha is F32 [2] in the file, [1] in the network"},
		{"other classes", smallModel(t, "lite-r18", 2, 6, 1.0/16), "tensor clf_conv.weight is F32 [5 8 3 3] in the file, [6 8 3 3] in the network"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := append([]float32(nil), c.model.Params()[1].Data...)
			_, err := c.model.LoadWeights(path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if relErr(c.model.Params()[1].Data, before) != 0 {
				t.Fatal("a failed load changed the model")
			}
		})
	}
}

func TestCorruptCheckpointsGiveOneClearError(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ckpt")
	if err := smallModel(t, "lite-r18", 2, 5, 1.0/16).SaveCheckpoint(good, nil, nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	cases := []struct {
		path, want string
	}{
		{write("truncated.ckpt", raw[:len(raw)-100]), "is truncated"},
		{write("header.ckpt", raw[:20]), "is truncated"},
		{write("random.ckpt", []byte("this is not a checkpoint at all, just text")), "is not a cen checkpoint"},
		{write("empty.ckpt", nil), "is not a cen checkpoint"},
		{filepath.Join(dir, "missing.ckpt"), "no such file"},
		{filepath.Join(fixtures, "r50_m2", "model.pth"), "is not a cen checkpoint"},
		{write("v1.ckpt", editHeader(t, raw, func(h map[string]any) { meta(h)["format"] = "cen-checkpoint/1" })), "was written by an earlier cen (cen-checkpoint/1)"},
		{write("nopalette.ckpt", editHeader(t, raw, func(h map[string]any) { delete(meta(h), MetaPalette) })), "metadata key cen.palette is missing"},
		{write("nospec.ckpt", editHeader(t, raw, func(h map[string]any) {
			for k := range meta(h) {
				if strings.HasPrefix(k, "preprocess.") {
					delete(meta(h), k)
				}
			}
		})), "metadata has no preprocessing"},
		{write("overflow.ckpt", editHeader(t, raw, func(h map[string]any) {
			h["state.momentum.x"] = map[string]any{"dtype": "F32", "shape": []int64{1 << 40, 1 << 40}, "data_offsets": []int64{0, 4}}
		})), "has tensor state.momentum.x of shape [1099511627776 1099511627776]: more than"},
		{write("stateint.ckpt", editHeader(t, raw, func(h map[string]any) {
			h["state.momentum.x"] = map[string]any{"dtype": "I64", "shape": []int64{1}, "data_offsets": []int64{0, 8}}
		})), "state tensor state.momentum.x is I64, want F32"},
	}
	for _, c := range cases {
		_, _, err := LoadCheckpoint(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Base(c.path)) {
			t.Errorf("%s: error %v, want %q and the file's name", filepath.Base(c.path), err, c.want)
		}
	}
}

// editHeader rewrites the JSON header of a checkpoint held in raw, keeping its tensor data.
func editHeader(t *testing.T, raw []byte, edit func(map[string]any)) []byte {
	t.Helper()
	n := binary.LittleEndian.Uint64(raw[:8])
	var h map[string]any
	if err := json.Unmarshal(raw[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	hb, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	return append(append(out, hb...), raw[8+n:]...)
}

func meta(h map[string]any) map[string]any { return h["__metadata__"].(map[string]any) }

// FuzzParseCheckpoint feeds arbitrary bytes (seeded with a real checkpoint and damaged copies) to the
// checkpoint reader and to the loader: no input may panic, and an accepted file must load or be refused
// with an error.
func FuzzParseCheckpoint(f *testing.F) {
	m := smallModel(&testing.T{}, "lite-r18", 1, 2, 1.0/32)
	path := filepath.Join(f.TempDir(), "seed.ckpt")
	if err := m.SaveCheckpoint(path, json.RawMessage(`{"epoch":1}`), map[string][]float32{"momentum.alpha": {1}}); err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add(raw[:64])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := parseCheckpoint(data)
		if err != nil {
			return
		}
		for _, k := range cf.order {
			if e := cf.entries[k]; e.Dtype == "F32" {
				_ = cf.f32(k)
			}
		}
		var cfg Config
		if json.Unmarshal([]byte(cf.meta["config"]), &cfg) != nil || cfg.Validate() != nil || cfg.Width > 1.0/16 || cfg.Classes > 64 || cfg.M() > 3 {
			return // building a network for a huge or invalid config is not what this target tests
		}
		if mm, err := newModel(cfg, false); err == nil {
			_, _ = mm.load(cf, "fuzz.ckpt")
		}
	})
}

// TestCheckpointIsReadableOutsideGo reads a checkpoint with Python's json and NumPy alone (no cen code) and
// compares one tensor and the metadata.
func TestCheckpointIsReadableOutsideGo(t *testing.T) {
	m := smallModel(t, "lite-r18", 2, 5, 1.0/16)
	path := filepath.Join(t.TempDir(), "m.ckpt")
	if err := m.SaveCheckpoint(path, json.RawMessage(`{"epoch":9}`), nil); err != nil {
		t.Fatal(err)
	}
	script := `
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
h = json.loads(raw[8:8 + n])
e = h['layer1.0.conv2.weight']
b, end = e['data_offsets']
w = np.frombuffer(raw[8 + n + b:8 + n + end], dtype='<f4').reshape(e['shape'])
print(h['__metadata__']['format'], json.loads(h['__metadata__']['state'])['epoch'], w.shape, repr(float(w[1, 2, 0, 1])))
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	w := m.Param("layer1.0.conv2.weight")
	idx := ((1*w.Shape[1]+2)*w.Shape[2]+0)*w.Shape[3] + 1
	want := CheckpointFormat + " 9 (4, 4, 3, 3) "
	if !strings.HasPrefix(string(out), want) {
		t.Fatalf("python read %q, want prefix %q", out, want)
	}
	var v float64
	json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(string(out), want))), &v)
	if float32(v) != w.Data[idx] {
		t.Fatalf("python read %v, Go has %v", v, w.Data[idx])
	}
}

// TestLoadWeightsExceptKeepsAClassifierOfAnotherSize starts a 6-class network from a 5-class checkpoint: every
// tensor but the classifier comes from the file, the classifier keeps its own values; any other mismatch is
// still an error. ReadCheckpointInfo reads the recipe and state without the weights.
func TestLoadWeightsExceptKeepsAClassifierOfAnotherSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "five.ckpt")
	five := smallModel(t, "lite-r18", 2, 5, 1.0/16)
	for _, p := range five.Params() {
		for i := range p.Data {
			p.Data[i] = 0.5
		}
	}
	if err := five.SaveCheckpoint(path, json.RawMessage(`{"epoch":4}`), nil); err != nil {
		t.Fatal(err)
	}
	six := smallModel(t, "lite-r18", 2, 6, 1.0/16)
	clf := append([]float32(nil), six.Param("clf_conv.weight").Data...)
	n, err := six.LoadWeightsExcept(path, "clf_conv.")
	if err != nil || n != 2 {
		t.Fatalf("LoadWeightsExcept = %d, %v; want the classifier's 2 tensors kept", n, err)
	}
	if six.Param("conv1.weight").Data[0] != 0.5 || six.Param("clf_conv.weight").Data[0] != clf[0] {
		t.Fatal("encoder not loaded or classifier overwritten")
	}
	if _, err := smallModel(t, "lite-r34", 2, 5, 1.0/16).LoadWeightsExcept(path, "clf_conv."); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("another architecture: %v", err)
	}
	info, err := ReadCheckpointInfo(path)
	if err != nil || string(info.State) != `{"epoch":4}` || info.Config.Classes != 5 || len(info.Recipe.ClassNames) != 5 {
		t.Fatalf("ReadCheckpointInfo = %+v, %v", info, err)
	}
}
