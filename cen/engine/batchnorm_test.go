package engine

import (
	"math"
	"testing"
)

func TestBatchNormEvalUsesEachGroupsParameters(t *testing.T) {
	// Two groups of one sample, one channel, two pixels.
	x := TensorFrom(2, 1, 1, 2, []float32{1, 2, 3, 4})
	gamma := []float32{2, 1}
	beta := []float32{1, 0}
	mean := []float32{1, 3}
	variance := []float32{3, 0}
	// eps 1 with var 3 gives scale 2/2; for group 1 var 0 + eps 1 gives scale 1.
	y := BatchNormEval(x, 2, gamma, beta, mean, variance, 1)
	assertClose(t, "y", y.Data, []float32{1, 2, 0, 1}, 1e-6)
}

func TestBatchNormTrainNormalisesWithBatchStatistics(t *testing.T) {
	// Group 0 holds [1, 3]: mean 2, biased var 1, unbiased var 2.
	// Group 1 holds [5, 5]: mean 5, var 0.
	x := TensorFrom(2, 1, 1, 2, []float32{1, 3, 5, 5})
	gamma := []float32{2, 1}
	beta := []float32{0.5, -1}
	runMean := []float32{0, 1}
	runVar := []float32{1, 1}
	y, _ := BatchNormTrain(x, 2, gamma, beta, runMean, runVar, 0.1, 0)
	assertClose(t, "y", y.Data[:2], []float32{-1.5, 2.5}, 1e-6)
	assertClose(t, "runMean", runMean, []float32{0.2, 0.9 + 0.5}, 1e-6)
	assertClose(t, "runVar", runVar, []float32{0.9 + 0.2, 0.9}, 1e-6)
}

func TestBatchNormTrainRunningStatsUseUnbiasedVariance(t *testing.T) {
	rng := newRNG(10)
	x := randTensor(rng, 6, 3, 4, 5) // 2 groups of 3 samples
	runMean := make([]float32, 6)
	runVar := make([]float32, 6)
	for i := range runVar {
		runVar[i] = 1
	}
	BatchNormTrain(x, 2, randSlice(rng, 6, 0.5, 1.5), randSlice(rng, 6, -1, 1), runMean, runVar, 0.25, 1e-5)
	for g := 0; g < 2; g++ {
		for c := 0; c < 3; c++ {
			var vals []float64
			for n := g * 3; n < g*3+3; n++ {
				for _, v := range x.Data[(n*3+c)*20 : (n*3+c+1)*20] {
					vals = append(vals, float64(v))
				}
			}
			var m, ss float64
			for _, v := range vals {
				m += v
			}
			m /= float64(len(vals))
			for _, v := range vals {
				ss += (v - m) * (v - m)
			}
			unbiased := ss / float64(len(vals)-1)
			i := g*3 + c
			if math.Abs(float64(runMean[i])-0.25*m) > 1e-6 || math.Abs(float64(runVar[i])-(0.75+0.25*unbiased)) > 1e-5 {
				t.Errorf("set %d: running mean %v var %v, want %v %v", i, runMean[i], runVar[i], 0.25*m, 0.75+0.25*unbiased)
			}
		}
	}
}

func TestBatchNormEvalBackwardMatchesFiniteDifferences(t *testing.T) {
	rng := newRNG(11)
	x := randTensor(rng, 4, 3, 3, 4)
	gamma := randSlice(rng, 6, 0.5, 1.5)
	beta := randSlice(rng, 6, -1, 1)
	mean := randSlice(rng, 6, -0.5, 0.5)
	variance := randSlice(rng, 6, 0.5, 2)
	const eps = 1e-5
	r := randSlice(rng, x.Len(), -1, 1)
	dy := TensorFrom(4, 3, 3, 4, r)
	dx := NewTensor(4, 3, 3, 4)
	dgamma := make([]float32, 6)
	dbeta := make([]float32, 6)
	BatchNormEvalBackward(x, dy, 2, gamma, mean, variance, eps, dx, dgamma, dbeta)
	f := func() float64 { return weighted(BatchNormEval(x, 2, gamma, beta, mean, variance, eps), r) }
	checkGrad(t, "dx", x.Data, dx.Data, f, 1e-2, 1e-2, rng)
	checkGrad(t, "dgamma", gamma, dgamma, f, 1e-2, 1e-2, rng)
	checkGrad(t, "dbeta", beta, dbeta, f, 1e-2, 1e-2, rng)
}

func TestBatchNormTrainBackwardMatchesFiniteDifferences(t *testing.T) {
	rng := newRNG(12)
	for _, groups := range []int{1, 2} {
		x := randTensor(rng, 4, 3, 3, 4)
		gamma := randSlice(rng, 3*groups, 0.5, 1.5)
		beta := randSlice(rng, 3*groups, -1, 1)
		rm := make([]float32, 3*groups)
		rv := make([]float32, 3*groups)
		const eps = 1e-5
		r := randSlice(rng, x.Len(), -1, 1)
		_, cache := BatchNormTrain(x, groups, gamma, beta, rm, rv, 0.1, eps)
		dx := NewTensor(4, 3, 3, 4)
		dgamma := make([]float32, 3*groups)
		dbeta := make([]float32, 3*groups)
		BatchNormTrainBackward(cache, TensorFrom(4, 3, 3, 4, r), dx, dgamma, dbeta)
		f := func() float64 {
			y, _ := BatchNormTrain(x, groups, gamma, beta, rm, rv, 0.1, eps)
			return weighted(y, r)
		}
		checkGrad(t, "dx", x.Data, dx.Data, f, 1e-2, 2e-2, rng)
		checkGrad(t, "dgamma", gamma, dgamma, f, 1e-2, 1e-2, rng)
		checkGrad(t, "dbeta", beta, dbeta, f, 1e-2, 1e-2, rng)
	}
}
