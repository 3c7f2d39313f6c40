package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

func randSlice(rng *rand.Rand, n int, lo, hi float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = lo + (hi-lo)*rng.Float32()
	}
	return s
}

func randTensor(rng *rand.Rand, n, c, h, w int) *Tensor {
	return TensorFrom(n, c, h, w, randSlice(rng, n*c*h*w, -1, 1))
}

// weighted returns Σ y·r in float64: the scalar objective whose gradient
// with respect to y is r.
func weighted(y *Tensor, r []float32) float64 {
	var s float64
	for i, v := range y.Data {
		s += float64(v) * float64(r[i])
	}
	return s
}

func assertClose(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i])-float64(want[i])) > tol*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %v, want %v (all: got %v want %v)", name, i, got[i], want[i], got, want)
		}
	}
}

// checkGrad compares the analytic gradient grad of f with respect to p with
// central finite differences at up to maxChecks sampled indices. The step
// actually taken is the float32-rounded one. The tolerance is relative,
// with an absolute floor scaled by the largest analytic gradient so that
// float32 cancellation in tiny components does not fail the check.
func checkGrad(t *testing.T, name string, p, grad []float32, f func() float64, eps, rtol float64, rng *rand.Rand) {
	t.Helper()
	if len(p) != len(grad) {
		t.Fatalf("%s: %d parameters, %d gradients", name, len(p), len(grad))
	}
	var scale float64
	for _, g := range grad {
		scale = math.Max(scale, math.Abs(float64(g)))
	}
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	const maxChecks = 40
	if len(idx) > maxChecks {
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		idx = idx[:maxChecks]
	}
	for _, i := range idx {
		orig := p[i]
		p[i] = float32(float64(orig) + eps)
		up := float64(p[i])
		fp := f()
		p[i] = float32(float64(orig) - eps)
		down := float64(p[i])
		fm := f()
		p[i] = orig
		num := (fp - fm) / (up - down)
		a := float64(grad[i])
		if math.Abs(num-a) > rtol*math.Max(math.Abs(num), math.Abs(a))+rtol*0.1*scale+1e-6 {
			t.Errorf("%s[%d]: analytic %.6g, numeric %.6g", name, i, a, num)
		}
	}
}
