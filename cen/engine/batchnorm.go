package engine

import (
	"fmt"
	"math"
)

// Batch norm with private parameter sets: the batch is modality-major, so
// sample n uses parameter set g = n / (N/groups), whose values are the slice
// [g*C, (g+1)*C) of gamma, beta, mean and variance.

func bnCheck(op string, x *Tensor, groups int, params ...[]float32) {
	if groups <= 0 || x.N%groups != 0 {
		panic(fmt.Sprintf("engine: %s: batch %d is not divisible into %d groups", op, x.N, groups))
	}
	for _, p := range params {
		if p != nil && len(p) != groups*x.C {
			panic(fmt.Sprintf("engine: %s: parameter has %d values, want groups*C = %d", op, len(p), groups*x.C))
		}
	}
}

// bnAffine returns, per parameter set and channel, the scale and shift that
// frozen batch norm reduces to, so the per-element work is one multiply-add.
func bnAffine(groups, c int, gamma, beta, mean, variance []float32, eps float32) (scale, shift []float32) {
	scale = make([]float32, groups*c)
	shift = make([]float32, groups*c)
	for i := range scale {
		inv := 1 / math.Sqrt(float64(variance[i])+float64(eps))
		scale[i] = float32(float64(gamma[i]) * inv)
		shift[i] = float32(float64(beta[i]) - float64(mean[i])*float64(gamma[i])*inv)
	}
	return scale, shift
}

// BatchNormEval applies frozen batch norm with groups private parameter sets:
// y = (x-mean)/sqrt(variance+eps)*gamma + beta, as BatchNorm2d in eval mode.
func BatchNormEval(x *Tensor, groups int, gamma, beta, mean, variance []float32, eps float32) *Tensor {
	bnCheck("BatchNormEval", x, groups, gamma, beta, mean, variance)
	scale, shift := bnAffine(groups, x.C, gamma, beta, mean, variance, eps)
	y := Empty(x.N, x.C, x.H, x.W)
	hw, per := x.H*x.W, x.N/groups
	parallelFor(x.N*x.C, hw, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			n, c := p/x.C, p%x.C
			i := (n/per)*x.C + c
			a, b := scale[i], shift[i]
			src, dst := x.Data[p*hw:(p+1)*hw], y.Data[p*hw:(p+1)*hw]
			for j, v := range src {
				dst[j] = v*a + b
			}
		}
	})
	return y
}

// BatchNormEvalBackward computes the gradients of BatchNormEval. dx (if
// non-nil) is overwritten and may be dy itself (the gradient is then
// computed in place); dgamma and dbeta (if non-nil) are accumulated.
func BatchNormEvalBackward(x, dy *Tensor, groups int, gamma, mean, variance []float32, eps float32, dx *Tensor, dgamma, dbeta []float32) {
	bnCheck("BatchNormEvalBackward", x, groups, gamma, mean, variance, dgamma, dbeta)
	mustSameShape("BatchNormEvalBackward dy", dy, x)
	if dx != nil {
		mustSameShape("BatchNormEvalBackward dx", dx, x)
	}
	hw, per := x.H*x.W, x.N/groups
	// One task per (group, channel) so the accumulations into dgamma and dbeta
	// never race.
	parallelFor(groups*x.C, per*hw, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g, c := i/x.C, i%x.C
			inv := 1 / math.Sqrt(float64(variance[i])+float64(eps))
			m := mean[i]
			scale := float32(float64(gamma[i]) * inv)
			var sdy, sdyx float64
			for n := g * per; n < (g+1)*per; n++ {
				o := (n*x.C + c) * hw
				xs, ds := x.Data[o:o+hw], dy.Data[o:o+hw]
				for j, d := range ds {
					sdy += float64(d)
					sdyx += float64(d) * float64(xs[j]-m)
				}
				if dx != nil {
					// After the sums above: dd may be ds.
					dd := dx.Data[o : o+hw]
					for j, d := range ds {
						dd[j] = d * scale
					}
				}
			}
			if dgamma != nil {
				dgamma[i] += float32(sdyx * inv)
			}
			if dbeta != nil {
				dbeta[i] += float32(sdy)
			}
		}
	})
}

// BNCache holds what BatchNormTrainBackward needs from the forward pass.
// It references the forward input, which must not change until the backward.
type BNCache struct {
	x      *Tensor
	groups int
	gamma  []float32
	mean   []float32 // batch mean per (group, channel)
	invStd []float32 // 1/sqrt(biased batch variance + eps)
}

// BatchNormTrain applies training-mode batch norm with groups private
// parameter sets, as torch.nn.BatchNorm2d in train mode: each set normalises
// its own samples with their batch mean and biased variance over N/groups
// samples and H*W, and updates runMean and runVar in place with
// running = (1-momentum)*running + momentum*batch, using the unbiased batch
// variance for runVar. It returns the output and the cache for the backward.
func BatchNormTrain(x *Tensor, groups int, gamma, beta, runMean, runVar []float32, momentum, eps float32) (*Tensor, *BNCache) {
	bnCheck("BatchNormTrain", x, groups, gamma, beta, runMean, runVar)
	hw, per := x.H*x.W, x.N/groups
	cnt := per * hw
	if cnt < 2 {
		panic(fmt.Sprintf("engine: BatchNormTrain: %d values per channel, need more than 1", cnt))
	}
	cache := &BNCache{x: x, groups: groups, gamma: gamma,
		mean: make([]float32, groups*x.C), invStd: make([]float32, groups*x.C)}
	y := Empty(x.N, x.C, x.H, x.W)
	parallelFor(groups*x.C, 3*cnt, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g, c := i/x.C, i%x.C
			// Two passes (mean, then squared deviations) in float64 avoid the
			// cancellation of E[x²]-E[x]² on activations with a large mean.
			var s float64
			for n := g * per; n < (g+1)*per; n++ {
				o := (n*x.C + c) * hw
				s += sum32(x.Data[o : o+hw])
			}
			mean := s / float64(cnt)
			var ss float64
			for n := g * per; n < (g+1)*per; n++ {
				o := (n*x.C + c) * hw
				for _, v := range x.Data[o : o+hw] {
					d := float64(v) - mean
					ss += d * d
				}
			}
			variance := ss / float64(cnt)
			inv := 1 / math.Sqrt(variance+float64(eps))
			cache.mean[i] = float32(mean)
			cache.invStd[i] = float32(inv)
			a := float32(float64(gamma[i]) * inv)
			b := float32(float64(beta[i]) - mean*float64(gamma[i])*inv)
			for n := g * per; n < (g+1)*per; n++ {
				o := (n*x.C + c) * hw
				dst := y.Data[o : o+hw]
				for j, v := range x.Data[o : o+hw] {
					dst[j] = v*a + b
				}
			}
			m := float64(momentum)
			runMean[i] = float32((1-m)*float64(runMean[i]) + m*mean)
			runVar[i] = float32((1-m)*float64(runVar[i]) + m*ss/float64(cnt-1))
		}
	})
	return y, cache
}

// BatchNormTrainBackward computes the gradients of BatchNormTrain, including
// the paths through the batch statistics. dx (if non-nil) is overwritten and
// may be dy itself (in place); dgamma and dbeta (if non-nil) are accumulated.
func BatchNormTrainBackward(c *BNCache, dy *Tensor, dx *Tensor, dgamma, dbeta []float32) {
	x, groups := c.x, c.groups
	bnCheck("BatchNormTrainBackward", x, groups, dgamma, dbeta)
	mustSameShape("BatchNormTrainBackward dy", dy, x)
	if dx != nil {
		mustSameShape("BatchNormTrainBackward dx", dx, x)
	}
	hw, per := x.H*x.W, x.N/groups
	cnt := float64(per * hw)
	parallelFor(groups*x.C, 2*per*hw, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g, ch := i/x.C, i%x.C
			m, inv := c.mean[i], c.invStd[i]
			// sdy = Σdy, sdyx = Σdy·x̂ with x̂ = (x-mean)·invStd.
			var sdy, sdyx float64
			for n := g * per; n < (g+1)*per; n++ {
				o := (n*x.C + ch) * hw
				xs, ds := x.Data[o:o+hw], dy.Data[o:o+hw]
				for j, d := range ds {
					sdy += float64(d)
					sdyx += float64(d) * float64(xs[j]-m)
				}
			}
			sdyx *= float64(inv)
			if dgamma != nil {
				dgamma[i] += float32(sdyx)
			}
			if dbeta != nil {
				dbeta[i] += float32(sdy)
			}
			if dx == nil {
				continue
			}
			// dx = γ·invStd·(dy - mean(dy) - x̂·mean(dy·x̂))
			k := float32(float64(c.gamma[i]) * float64(inv))
			mdy := float32(sdy / cnt)
			mdyx := float32(sdyx / cnt)
			for n := g * per; n < (g+1)*per; n++ {
				o := (n*x.C + ch) * hw
				xs, ds, dd := x.Data[o:o+hw], dy.Data[o:o+hw], dx.Data[o:o+hw]
				for j, d := range ds {
					xh := (xs[j] - m) * inv
					dd[j] = k * (d - mdy - xh*mdyx)
				}
			}
		}
	})
}
