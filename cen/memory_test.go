package cen

import (
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/cen-ros/cen/cen/engine"
)

func memoryTestModel(t *testing.T, arch string, h, w int) (*Model, []*engine.Tensor, []uint16) {
	t.Helper()
	cfg := DefaultConfig(arch)
	cfg.Width, cfg.Classes, cfg.Modalities = 0.25, 5, modalityNames(2)
	m, err := New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 5))
	x := make([]*engine.Tensor, 2)
	for i := range x {
		x[i] = engine.NewTensor(2, 3, h, w)
		for j := range x[i].Data {
			x[i].Data[j] = float32(rng.NormFloat64())
		}
	}
	labels := make([]uint16, 2*h*w)
	for i := range labels {
		labels[i] = uint16(rng.IntN(5))
	}
	// Small γ in every exchanging batch norm, so the exchange runs.
	for _, e := range m.ExchangeBNs() {
		for i := 0; i < len(e.Gamma); i += 3 {
			e.Gamma[i] = 1e-3
		}
	}
	return m, x, labels
}

// TestBackwardReleasesEverythingItKept checks the bookkeeping of graph.capture: once the backward pass has run,
// no tensor is still held for it, so all of them went back to the engine for reuse.
func TestBackwardReleasesEverythingItKept(t *testing.T) {
	for _, arch := range []string{"lite-r18", "refinenet-r50"} {
		for _, bnTrain := range []bool{false, true} {
			m, x, _ := memoryTestModel(t, arch, 64, 96)
			g := &graph{record: true, dropout: 0.5, bnTrain: bnTrain, rng: rand.New(rand.NewPCG(1, 2))}
			logits := m.forward(g, x)
			if len(g.held) == 0 {
				t.Fatalf("%s: the forward pass kept nothing for the backward", arch)
			}
			d := engine.NewTensor(logits.t.N, logits.t.C, logits.t.H, logits.t.W)
			for i := range d.Data {
				d.Data[i] = 1
			}
			logits.s.g = d
			g.backward()
			if len(g.held) != 0 {
				t.Errorf("%s (batch-norm training %v): %d tensors still held after the backward pass", arch, bnTrain, len(g.held))
			}
		}
	}
}

// TestSteadyTrainingStepsReuseStorage checks that a training step after the first allocates little: its
// activations and gradients reuse the storage the previous step released, so the heap does not grow by a
// step's worth of garbage between collections (the cause of peak memory far above the working set).
func TestSteadyTrainingStepsReuseStorage(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no collection ages the free lists during the test
	for _, arch := range []string{"lite-r18", "refinenet-r50"} {
		m, x, labels := memoryTestModel(t, arch, 80, 112)
		engine.FreeBuffers() // the first step starts cold
		var alloc [3]uint64
		for i := range alloc {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			m.ZeroGrad()
			if _, _, err := m.Backward(x, labels, 80, 112, TrainOptions{Seed: uint64(i)}); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			alloc[i] = after.TotalAlloc - before.TotalAlloc
		}
		if alloc[2] > alloc[0]/5 {
			t.Errorf("%s: the third step allocated %d bytes, the first %d: steady steps should reuse the storage", arch, alloc[2], alloc[0])
		}
		t.Logf("%s: bytes allocated per step %v", arch, alloc)
	}
}
