package engine

import (
	"math"
	"testing"
)

func TestExchangeReplacesChannelsBelowThreshold(t *testing.T) {
	tests := []struct {
		name  string
		m     int
		x     []float32 // one sample per modality, C = 2, one pixel
		gamma []float32
		want  []float32
	}{
		{"two modalities swap", 2, []float32{1, 2, 10, 20}, []float32{1, 0.01, -0.001, 0.5}, []float32{1, 20, 1, 20}},
		{"threshold is inclusive", 2, []float32{1, 2, 10, 20}, []float32{0.02, -0.02, 0.02, 1}, []float32{1, 2, 10, 20}},
		{"three modalities take the mean of the others", 3, []float32{1, 2, 3, 4, 7, 6}, []float32{1, 1, 0, 1, 1, 0}, []float32{1, 2, 4, 4, 7, 3}},
		{"one modality copies", 1, []float32{1, 2}, []float32{0, 0}, []float32{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := TensorFrom(tt.m, 2, 1, 1, tt.x)
			y := Exchange(x, tt.m, ExchangeMask(tt.gamma, 0.02))
			assertClose(t, "y", y.Data, tt.want, 1e-6)
		})
	}
}

func TestExchangeBackwardMatchesFiniteDifferences(t *testing.T) {
	rng := newRNG(50)
	for _, m := range []int{1, 2, 3} {
		n, c := 2, 5
		x := randTensor(rng, m*n, c, 3, 4)
		keep := make([]bool, m*c)
		for i := range keep {
			keep[i] = rng.IntN(3) > 0
		}
		r := randSlice(rng, x.Len(), -1, 1)
		dx := ExchangeBackward(TensorFrom(x.N, c, 3, 4, r), m, keep)
		f := func() float64 { return weighted(Exchange(x, m, keep), r) }
		checkGrad(t, "dx", x.Data, dx.Data, f, 1e-2, 1e-3, rng)
	}
}

func TestSoftmaxSumsToOneAndIsShiftInvariant(t *testing.T) {
	w := Softmax([]float32{float32(math.Log(3)), 0})
	assertClose(t, "softmax", w, []float32{0.75, 0.25}, 1e-6)
	w = Softmax([]float32{1000, 1000 + float32(math.Log(3))})
	assertClose(t, "large softmax", w, []float32{0.25, 0.75}, 1e-5)
}

func TestEnsembleWeightsLogitsBySoftmaxOfAlpha(t *testing.T) {
	l0 := TensorFrom(1, 2, 1, 1, []float32{4, 8})
	l1 := TensorFrom(1, 2, 1, 1, []float32{0, 4})
	y := Ensemble([]*Tensor{l0, l1}, []float32{0, 0})
	assertClose(t, "equal alpha", y.Data, []float32{2, 6}, 1e-6)
	y = Ensemble([]*Tensor{l0, l1}, []float32{float32(math.Log(3)), 0})
	assertClose(t, "alpha ln3, 0", y.Data, []float32{3, 7}, 1e-6)
}

func TestEnsembleBackwardMatchesFiniteDifferences(t *testing.T) {
	rng := newRNG(51)
	for _, m := range []int{2, 3} {
		logits := make([]*Tensor, m)
		for i := range logits {
			logits[i] = randTensor(rng, 2, 4, 3, 5)
		}
		alpha := randSlice(rng, m, -1, 1)
		r := randSlice(rng, logits[0].Len(), -1, 1)
		dalpha := make([]float32, m)
		dalpha[0] = 1 // accumulated
		EnsembleBackward(logits, alpha, TensorFrom(2, 4, 3, 5, r), dalpha)
		dalpha[0]--
		f := func() float64 { return weighted(Ensemble(logits, alpha), r) }
		checkGrad(t, "dalpha", alpha, dalpha, f, 1e-2, 1e-2, rng)
	}
}
