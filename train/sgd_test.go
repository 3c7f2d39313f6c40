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
	// Restoring the state into a fresh optimiser continues identically.
	s2 := NewSGD(m, 0.1, 0.01, 0.9, 0.01)
	if err := s2.Restore(s.State()); err != nil {
		t.Fatal(err)
	}
	if got := s2.buf["conv1.weight"][0]; got != s.buf["conv1.weight"][0] {
		t.Fatalf("restored momentum %v, want %v", got, s.buf["conv1.weight"][0])
	}
}
