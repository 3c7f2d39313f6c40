package train

import (
	"math"
	"testing"

	"github.com/cen-ros/cen/cen"
)

// TestSGDFollowsPyTorchRule checks two steps against the update written out by hand.
func TestSGDFollowsPyTorchRule(t *testing.T) {
	cfg := cen.DefaultConfig("lite-r18")
	cfg.Width, cfg.Classes = 1.0/16, 3
	m, err := cen.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	enc, dec := m.Param("conv1.weight"), m.Param("alpha")
	w0, a0 := enc.Data[0], dec.Data[1]
	enc.Grad[0], dec.Grad[1] = 0.5, -2
	s := NewSGD(m, 0.1, 0.01, 0.9, 0.01)
	s.Step()
	b1e := 0.5 + 0.01*w0
	b1d := -2 + 0.01*a0
	w1, a1 := w0-0.1*b1e, a0-0.01*b1d
	s.Step() // same gradients again
	b2e := 0.9*b1e + 0.5 + 0.01*w1
	b2d := 0.9*b1d - 2 + 0.01*a1
	wantW, wantA := w1-0.1*b2e, a1-0.01*b2d
	if math.Abs(float64(enc.Data[0]-wantW)) > 1e-6 || math.Abs(float64(dec.Data[1]-wantA)) > 1e-6 {
		t.Fatalf("after two steps: encoder %v (want %v), decoder %v (want %v)", enc.Data[0], wantW, dec.Data[1], wantA)
	}
	// A resumed run: restoring the state into a fresh optimiser over a copy of the weights and stepping both
	// with the same gradients must give the same weights as the optimiser that never stopped.
	resumed, err := cen.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		copy(resumed.Param(p.Name).Data, p.Data)
	}
	s2 := NewSGD(resumed, 0.1, 0.01, 0.9, 0.01)
	if err := s2.Restore(s.State()); err != nil {
		t.Fatal(err)
	}
	// The same step without the restore (momentum lost) must end elsewhere, or the comparison shows nothing.
	lost, _ := cen.New(cfg, 1)
	for _, p := range m.Params() {
		copy(lost.Param(p.Name).Data, p.Data)
	}
	sLost := NewSGD(lost, 0.1, 0.01, 0.9, 0.01)
	for _, mm := range []*cen.Model{m, resumed, lost} {
		for _, p := range mm.Params() {
			clear(p.Grad)
		}
		mm.Param("conv1.weight").Grad[0], mm.Param("alpha").Grad[1] = 0.25, 1
	}
	s.Step()
	s2.Step()
	sLost.Step()
	if lost.Param("conv1.weight").Data[0] == m.Param("conv1.weight").Data[0] {
		t.Fatal("a step without the momentum lands where the resumed one does")
	}
	for _, p := range m.Params() {
		q := resumed.Param(p.Name)
		for i := range p.Data {
			if p.Data[i] != q.Data[i] {
				t.Fatalf("after a restored step %s[%d] = %v, the uninterrupted run has %v", p.Name, i, q.Data[i], p.Data[i])
			}
		}
	}
	if err := s2.Restore(map[string][]float32{"momentum.conv1.weight": {1}}); err == nil {
		t.Fatal("a momentum buffer of the wrong size was accepted")
	}
}
