package train

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/preprocess"
	"github.com/cen-ros/cen/synth"
)

// smallRun is a tiny lite-r18 run on 12 synthetic frames of 64×80: 4 batches per epoch, 3 epochs, the
// official augmentation (scaled to the crop), BN in training mode, dropout on.
func smallRun(t *testing.T, data, out string) Conf {
	t.Helper()
	r := LiteRecipe(3)
	r.Batch, r.ValEvery, r.Dropout = 2, 1, 0.2
	r.Augment.CropHeight, r.Augment.CropWidth, r.Augment.MinSide = 64, 80, 48
	spec := preprocess.DefaultSpec()
	spec.Height, spec.Width = 64, 80
	return Conf{Out: out, Arch: "lite-r18", Width: 0.125, Modalities: []string{"rgb", "depth"}, Seed: 5, Recipe: r, Spec: spec,
		Data: DataConf{Layout: LayoutSynthetic, Root: data}, Threads: 1, Workers: 2}
}

func synthData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "syn")
	if err := synth.WriteDataset(dir, synth.Conf{N: 12, Height: 64, Width: 80, Val: 3, Seed: 1}, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func sameWeights(t *testing.T, a, b string) {
	t.Helper()
	ma, ia, err := cen.LoadCheckpoint(a)
	if err != nil {
		t.Fatal(err)
	}
	mb, ib, err := cen.LoadCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ma.Params() {
		q := mb.Param(p.Name)
		for i := range p.Data {
			if p.Data[i] != q.Data[i] {
				t.Fatalf("%s[%d]: %v in %s, %v in %s", p.Name, i, p.Data[i], a, q.Data[i], b)
			}
		}
	}
	for k, v := range ia.Extra {
		w := ib.Extra[k]
		for i := range v {
			if v[i] != w[i] {
				t.Fatalf("optimiser state %s differs", k)
			}
		}
	}
}

// TestResumedRunEndsWithTheSameWeights stops a run mid-epoch (--steps), resumes it, and requires the final
// weights, momentum and best checkpoint to be bit-identical to an uninterrupted run with the same seed.
func TestResumedRunEndsWithTheSameWeights(t *testing.T) {
	data := synthData(t)
	dir := t.TempDir()
	whole := smallRun(t, data, filepath.Join(dir, "whole"))
	sa, err := Run(context.Background(), whole)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Stopped || sa.Steps != 12 || sa.Epochs != 3 {
		t.Fatalf("uninterrupted run: %+v", sa)
	}
	part := smallRun(t, data, filepath.Join(dir, "part"))
	part.Steps = 6 // half-way through epoch 2
	sb, err := Run(context.Background(), part)
	if err != nil {
		t.Fatal(err)
	}
	if !sb.Stopped || sb.Steps != 6 {
		t.Fatalf("stopped run: %+v", sb)
	}
	sc, err := Run(context.Background(), Conf{Out: part.Out, Resume: true, Threads: 1, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Stopped || sc.Steps != 12 || sc.BestEpoch != sa.BestEpoch || sc.BestMIoU != sa.BestMIoU {
		t.Fatalf("resumed run %+v, uninterrupted %+v", sc, sa)
	}
	sameWeights(t, sa.Last, sc.Last)
	sameWeights(t, sa.Best, sc.Best)
	for _, f := range []string{ExportFile, "loss.png", "miou.png", "gamma.png", "confusion.png", "samples.png", LogFile} {
		if _, err := os.Stat(filepath.Join(part.Out, f)); err != nil {
			t.Errorf("the resumed run folder lacks %s", f)
		}
	}
	if _, err := Run(context.Background(), smallRun(t, data, part.Out)); err == nil {
		t.Error("a new run over an existing one was started")
	}
}
