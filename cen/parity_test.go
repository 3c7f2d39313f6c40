package cen

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cen-ros/cen/cen/engine"
	"github.com/cen-ros/cen/internal/npy"
)

// The fixtures in test/fixtures were written once by test/fixtures/gen_fixtures.py with Debian's PyTorch, from an
// independent PyTorch model of the official network (see its README).
const fixtures = "../test/fixtures"

type fixtureConfig struct {
	Arch       string  `json:"arch"`
	Width      float64 `json:"width"`
	Modalities int     `json:"modalities"`
	Classes    int     `json:"classes"`
	Threshold  float32 `json:"threshold"`
	Lambda     float32 `json:"lambda"`
	N, H, W    int
	BNMode     string `json:"bn_mode"`
	Params     int    `json:"params"`
}

type fixtureLoss struct {
	CE    []float64 `json:"ce"`
	L1    float64   `json:"l1"`
	Total float64   `json:"total"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readTensor(t *testing.T, path string) *engine.Tensor {
	t.Helper()
	a, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := append([]int{}, a.Shape...)
	for len(s) < 4 {
		s = append([]int{1}, s...)
	}
	return engine.TensorFrom(s[0], s[1], s[2], s[3], a.Float32())
}

// relErr is max|got-want| / max|want|: the error relative to the tensor's scale.
func relErr(got, want []float32) float64 {
	var maxDiff, maxRef float64
	for i := range want {
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
		maxRef = math.Max(maxRef, math.Abs(float64(want[i])))
	}
	if maxRef == 0 {
		return maxDiff
	}
	return maxDiff / maxRef
}

func modalityNames(m int) []string {
	names := []string{"rgb", "depth", "third", "fourth"}
	return names[:m]
}

// loadFixture builds the fixture's network and loads its official-format checkpoint through ImportTorch.
func loadFixture(t *testing.T, dir string) (*Model, fixtureConfig) {
	t.Helper()
	var fc fixtureConfig
	readJSON(t, filepath.Join(dir, "config.json"), &fc)
	cfg := Config{Arch: fc.Arch, Modalities: modalityNames(fc.Modalities), Classes: fc.Classes, Width: fc.Width,
		Threshold: fc.Threshold, Lambda: fc.Lambda}
	m, err := New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.CountParams().Total; got != fc.Params {
		t.Fatalf("%s: %d parameters, PyTorch has %d", dir, got, fc.Params)
	}
	tf, err := ReadTorch(filepath.Join(dir, "model.pth"))
	if err != nil {
		t.Fatal(err)
	}
	if tf.Wrapper != "segmenter" {
		t.Fatalf("official checkpoint wrapper %q, want segmenter", tf.Wrapper)
	}
	if _, err := ImportTorch(m, tf); err != nil {
		t.Fatal(err)
	}
	return m, fc
}

func fixtureInputs(t *testing.T, dir string, m int) []*engine.Tensor {
	var in []*engine.Tensor
	for i := 0; i < m; i++ {
		in = append(in, readTensor(t, filepath.Join(dir, fmt.Sprintf("in_%d.npy", i))))
	}
	return in
}

var parityCases = []string{"r50_m2", "r50_m3", "r50_m1", "lite18_m2", "lite34_m3", "lite18_m2_bntrain"}

// TestForwardMatchesPyTorch compares the logits of every modality and of the ensemble with PyTorch's.
func TestForwardMatchesPyTorch(t *testing.T) {
	for _, name := range parityCases {
		if strings.HasSuffix(name, "_bntrain") {
			continue // training-mode batch norm: its logits are checked by TestBackwardMatchesPyTorch
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(fixtures, name)
			m, fc := loadFixture(t, dir)
			out, err := m.Forward(fixtureInputs(t, dir, fc.Modalities))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < fc.Modalities; i++ {
				want := readTensor(t, filepath.Join(dir, fmt.Sprintf("logits_%d.npy", i)))
				if !out.Logits[i].SameShape(want) {
					t.Fatalf("logits %d: shape %v, want %v", i, out.Logits[i], want)
				}
				if e := relErr(out.Logits[i].Data, want.Data); e > 1e-4 {
					t.Errorf("logits of modality %d differ from PyTorch by %.2e (relative)", i, e)
				}
			}
			want := readTensor(t, filepath.Join(dir, "logits_ens.npy"))
			if e := relErr(out.Ensemble.Data, want.Data); e > 1e-4 {
				t.Errorf("ensemble logits differ from PyTorch by %.2e (relative)", e)
			}
		})
	}
}

// TestBackwardMatchesPyTorch compares the loss and the gradient of every trainable parameter after one backward
// pass (and, with training-mode batch norm, the updated running statistics).
func TestBackwardMatchesPyTorch(t *testing.T) {
	for _, name := range parityCases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(fixtures, name)
			m, fc := loadFixture(t, dir)
			lab, err := npy.ReadFile(filepath.Join(dir, "labels.npy"))
			if err != nil {
				t.Fatal(err)
			}
			m.ZeroGrad()
			labels := make([]uint16, len(lab.U8))
			for i, v := range lab.U8 {
				labels[i] = uint16(v)
			}
			loss, out, err := m.Backward(fixtureInputs(t, dir, fc.Modalities), labels, fc.H, fc.W,
				TrainOptions{BNTrain: fc.BNMode == "train", NoDropout: true})
			if err != nil {
				t.Fatal(err)
			}
			var want fixtureLoss
			readJSON(t, filepath.Join(dir, "loss.json"), &want)
			for i := range want.CE {
				if math.Abs(loss.CE[i]-want.CE[i]) > 1e-4*math.Abs(want.CE[i]) {
					t.Errorf("cross-entropy of output %d: %.7f, PyTorch %.7f", i, loss.CE[i], want.CE[i])
				}
			}
			if math.Abs(loss.L1-want.L1) > 1e-4*math.Abs(want.L1) || math.Abs(loss.Total-want.Total) > 1e-4*math.Abs(want.Total) {
				t.Errorf("L1 %.6f total %.6f, PyTorch %.6f %.6f", loss.L1, loss.Total, want.L1, want.Total)
			}
			if fc.BNMode == "train" {
				for i := 0; i < fc.Modalities; i++ {
					w := readTensor(t, filepath.Join(dir, fmt.Sprintf("logits_%d.npy", i)))
					if e := relErr(out.Logits[i].Data, w.Data); e > 1e-4 {
						t.Errorf("training-mode logits of modality %d differ by %.2e", i, e)
					}
				}
				stats, err := npy.ReadNPZ(filepath.Join(dir, "running_stats.npz"))
				if err != nil {
					t.Fatal(err)
				}
				for k, a := range stats {
					p := m.Param(k)
					if p == nil {
						t.Fatalf("no parameter %s", k)
					}
					if e := relErr(p.Data, a.Float32()); e > 1e-4 {
						t.Errorf("running statistic %s differs by %.2e", k, e)
					}
				}
			}
			grads, err := npy.ReadNPZ(filepath.Join(dir, "grads.npz"))
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			worst, worstName := 0.0, ""
			for _, p := range m.Params() {
				if p.Kind != Weight {
					continue
				}
				a, ok := grads[p.Name]
				if !ok {
					t.Fatalf("PyTorch has no gradient for %s", p.Name)
				}
				g := a.Float32()
				if e := relErr(p.Grad, g); e > worst {
					worst, worstName = e, p.Name
				}
				checked++
			}
			if checked != len(grads) {
				t.Errorf("checked %d gradients, PyTorch wrote %d", checked, len(grads))
			}
			if worst > 1e-3 {
				t.Errorf("gradient of %s differs from PyTorch by %.2e (relative); tolerance 1e-3", worstName, worst)
			}
			t.Logf("%d gradients, worst relative error %.2e (%s)", checked, worst, worstName)
		})
	}
}
