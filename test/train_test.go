package test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/internal/npy"
)

// TestOneTrainingStepMovesEveryParameterAsPyTorch runs `cen train --steps 1` from an imported official-format
// checkpoint (augmentation and dropout off, batch 1, the official recipe) and compares every parameter's
// update with the same step taken in PyTorch by the official recipe on our re-statement of the model
// (test/fixtures/sgd_step/gen.py, Debian's python3-torch): within 1e-3 relative on the update.
func TestOneTrainingStepMovesEveryParameterAsPyTorch(t *testing.T) {
	dir := t.TempDir()
	fx := filepath.Join(fixtures, "sgd_step")
	init := filepath.Join(dir, "init.ckpt")
	if out, code := runCen(t, os.Environ(), "import-torch", filepath.Join(fx, "model.pth"), "--arch", "refinenet-r50", "--width", "0.03125",
		"--dataset", "test", "-o", init); code != 0 {
		t.Fatalf("import-torch: %s", out)
	}
	run := filepath.Join(dir, "run")
	out, code := runCen(t, os.Environ(), "train", "--dataset", "folder", "--data", filepath.Join(fx, "data"), "--classes", "7",
		"--arch", "refinenet-r50", "--width", "0.03125", "--recipe", "official", "--init", init, "--steps", "1",
		"--augment", "none", "--dropout", "0", "--batch", "1", "--out", run, "--threads", "1")
	if code != 0 || !strings.Contains(out, "stopped after 1 steps") {
		t.Fatalf("cen train (exit %d):\n%s", code, out)
	}
	before, _, err := cen.LoadCheckpoint(init)
	if err != nil {
		t.Fatal(err)
	}
	after, _, err := cen.LoadCheckpoint(filepath.Join(run, "last.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := npy.ReadNPZ(filepath.Join(fx, "updated.npz"))
	if err != nil {
		t.Fatal(err)
	}
	checked, worst, worstName, movedNot := 0, 0.0, "", 0
	for _, p := range before.Params() {
		if p.Kind != cen.Weight {
			continue
		}
		w, ok := want[p.Name]
		if !ok {
			t.Fatalf("the PyTorch step has no %s", p.Name)
		}
		got := after.Param(p.Name).Data
		var diff, scale, size float64
		for i, old := range p.Data {
			du, dw := float64(got[i]-old), float64(w.F32[i]-old)
			diff = math.Max(diff, math.Abs(du-dw))
			scale = math.Max(scale, math.Abs(dw))
			size = math.Max(size, math.Abs(float64(old)))
		}
		// A parameter whose gradient is zero (a channel no pixel activates, at these narrow widths) moves by
		// weight decay alone, lr·1e-5·w: below float32's resolution of w, so not at all in either framework.
		// Such updates are compared against that resolution instead.
		scale = math.Max(scale, 1e-7*size)
		if scale == 1e-7*size {
			movedNot++
		}
		if e := diff / scale; e > worst {
			worst, worstName = e, p.Name
		}
		checked++
	}
	if checked != len(want) {
		t.Errorf("compared %d parameters, PyTorch's step has %d", checked, len(want))
	}
	t.Logf("%d parameters (%d without a gradient): worst relative difference of the update %.2e (%s)", checked, movedNot, worst, worstName)
	if movedNot > checked/2 {
		t.Errorf("%d of %d parameters do not move: the step shows little", movedNot, checked)
	}
	if worst > 1e-3 {
		t.Fatalf("the update of %s differs from PyTorch's by %.2e relative (limit 1e-3)", worstName, worst)
	}
}
