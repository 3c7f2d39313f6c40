package test

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/internal/modeltest"
	"github.com/cen-ros/cen/internal/npy"
	"github.com/cen-ros/cen/test/rosenv"
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

// TestKilledTrainingResumesToTheSameWeights kills `cen train` (SIGKILL, no chance to save) after its first
// checkpoint, resumes it with --resume, and requires the same final weights as an uninterrupted run.
func TestKilledTrainingResumesToTheSameWeights(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "syn")
	if out, code := runCen(t, os.Environ(), "synth", "--out", data, "--n", "24", "--size", "64x80", "--val", "4"); code != 0 {
		t.Fatalf("synth: %s", out)
	}
	args := func(out string) []string {
		return []string{"train", "--dataset", "synthetic", "--data", data, "--arch", "lite-r18", "--width", "0.125", "--epochs", "4",
			"--batch", "2", "--crop", "64x80", "--val-every", "2", "--seed", "9", "--threads", "1", "--out", out}
	}
	whole := filepath.Join(dir, "whole")
	if out, code := runCen(t, os.Environ(), args(whole)...); code != 0 {
		t.Fatalf("uninterrupted run: %s", out)
	}
	killed := filepath.Join(dir, "killed")
	cmd := exec.Command(rosenv.Binary(t), args(killed)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(killed, "last.ckpt")); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended before its first checkpoint: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint after 2 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	if err := <-done; err == nil {
		t.Skip("the run finished before it could be killed: nothing to resume")
	}
	out, code := runCen(t, os.Environ(), "train", "--resume", killed, "--threads", "1")
	if code != 0 || !strings.Contains(out, "resuming") {
		t.Fatalf("resume (exit %d):\n%s", code, out)
	}
	for _, f := range []string{"last.ckpt", "best.ckpt"} {
		a, _, err := cen.LoadCheckpoint(filepath.Join(whole, f))
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := cen.LoadCheckpoint(filepath.Join(killed, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range a.Params() {
			if modeltest.RelErr(b.Param(p.Name).Data, p.Data) != 0 && !allZero(p.Data) {
				t.Fatalf("%s: %s differs between the killed-and-resumed run and the uninterrupted one", f, p.Name)
			}
		}
	}
	if out, code := runCen(t, os.Environ(), "train", "--resume", killed, "--arch", "lite-r34"); code == 0 || !strings.Contains(out, "--arch cannot change") {
		t.Errorf("resume with another architecture (exit %d): %s", code, out)
	}
}

func allZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
