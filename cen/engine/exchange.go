package engine

import (
	"fmt"
	"math"
)

func checkExchange(op string, x *Tensor, m int, keep []bool) {
	if m <= 0 || x.N%m != 0 {
		panic(fmt.Sprintf("engine: %s: batch of %v is not divisible into %d modalities", op, x, m))
	}
	if len(keep) != m*x.C {
		panic(fmt.Sprintf("engine: %s: keep has %d values, want m*C = %d", op, len(keep), m*x.C))
	}
}

// Exchange is the channel exchange of CEN (paper Eq. 6) on a modality-major
// batch x [m*N, C, H, W]. keep[mi*C+c] says whether modality mi keeps its own
// channel c; where it does not, channel c of modality mi becomes the mean of
// the other modalities' channel c, read from the original x. For m = 2 this
// is the official swap; for m = 1 it is a copy.
func Exchange(x *Tensor, m int, keep []bool) *Tensor {
	checkExchange("Exchange", x, m, keep)
	y := x.Clone()
	ExchangeInPlace(y, m, keep)
	return y
}

// ExchangeInPlace is Exchange overwriting x with its result.
func ExchangeInPlace(x *Tensor, m int, keep []bool) {
	checkExchange("ExchangeInPlace", x, m, keep)
	if m == 1 {
		return
	}
	n, hw := x.N/m, x.H*x.W
	inv := float32(1) / float32(m-1)
	// One task per (sample within modality, channel): it reads the m source
	// planes and writes only the planes of that sample and channel. The
	// replacements are summed into tmp first, since they read planes that
	// are replaced too.
	parallelFor(n*x.C, m*hw, func(lo, hi int) {
		var tmp []float32 // from the scratch list: this runs in every exchange of every step
		defer func() {
			if tmp != nil {
				putScratch(tmp)
			}
		}()
		for t := lo; t < hi; t++ {
			s, c := t/x.C, t%x.C
			if allKept(keep, m, x.C, c) {
				continue // every modality keeps channel c
			}
			plane := func(mi int) []float32 { p := ((mi*n+s)*x.C + c) * hw; return x.Data[p : p+hw] }
			if tmp == nil {
				tmp = getScratch(m * hw)
			}
			for mi := 0; mi < m; mi++ {
				if keep[mi*x.C+c] {
					continue
				}
				d := tmp[mi*hw : (mi+1)*hw]
				clear(d)
				for k := 0; k < m; k++ {
					if k == mi {
						continue
					}
					for j, v := range plane(k) {
						d[j] += v
					}
				}
				if m > 2 {
					for j := range d {
						d[j] *= inv
					}
				}
			}
			for mi := 0; mi < m; mi++ {
				if !keep[mi*x.C+c] {
					copy(plane(mi), tmp[mi*hw:(mi+1)*hw])
				}
			}
		}
	})
}

// ExchangeBackward returns the input gradient of Exchange: a kept channel
// passes its own gradient, and a replaced channel of modality mi sends
// 1/(m-1) of its gradient to each other modality's channel.
func ExchangeBackward(dy *Tensor, m int, keep []bool) *Tensor {
	checkExchange("ExchangeBackward", dy, m, keep)
	dx := dy.Clone()
	ExchangeBackwardInPlace(dx, m, keep)
	return dx
}

// ExchangeBackwardInPlace is ExchangeBackward overwriting dy with the input gradient.
func ExchangeBackwardInPlace(dy *Tensor, m int, keep []bool) {
	checkExchange("ExchangeBackwardInPlace", dy, m, keep)
	if m == 1 {
		return
	}
	n, hw := dy.N/m, dy.H*dy.W
	inv := float32(1) / float32(m-1)
	parallelFor(n*dy.C, m*m*hw, func(lo, hi int) {
		var src []float32 // the replaced planes' output gradients of one task, read while dy is overwritten
		defer func() {
			if src != nil {
				putScratch(src)
			}
		}()
		for t := lo; t < hi; t++ {
			s, c := t/dy.C, t%dy.C
			if allKept(keep, m, dy.C, c) {
				continue // every modality keeps channel c: the gradient passes unchanged
			}
			plane := func(mi int) []float32 { p := ((mi*n+s)*dy.C + c) * hw; return dy.Data[p : p+hw] }
			if src == nil {
				src = getScratch(m * hw)
			}
			for mi := 0; mi < m; mi++ {
				if !keep[mi*dy.C+c] { // only replaced planes are read from src
					copy(src[mi*hw:(mi+1)*hw], plane(mi))
				}
			}
			for k := 0; k < m; k++ {
				d := plane(k)
				if !keep[k*dy.C+c] {
					clear(d)
				}
				for mi := 0; mi < m; mi++ {
					if mi == k || keep[mi*dy.C+c] {
						continue
					}
					for j, v := range src[mi*hw : (mi+1)*hw] {
						d[j] += v * inv
					}
				}
			}
		}
	})
}

// ExchangeMask returns keep for Exchange from the batch-norm scales gamma
// (length m*C, set mi at [mi*C, (mi+1)*C)): a channel is kept when
// |gamma| >= threshold, as the official code tests.
func ExchangeMask(gamma []float32, threshold float32) []bool {
	keep := make([]bool, len(gamma))
	for i, g := range gamma {
		keep[i] = float32(math.Abs(float64(g))) >= threshold
	}
	return keep
}

// Softmax returns the softmax of alpha, computed stably in float64.
func Softmax(alpha []float32) []float32 {
	if len(alpha) == 0 {
		return nil
	}
	mx := math.Inf(-1)
	for _, a := range alpha {
		mx = math.Max(mx, float64(a))
	}
	e := make([]float64, len(alpha))
	var s float64
	for i, a := range alpha {
		e[i] = math.Exp(float64(a) - mx)
		s += e[i]
	}
	out := make([]float32, len(alpha))
	for i := range e {
		out[i] = float32(e[i] / s)
	}
	return out
}

func checkEnsemble(op string, logits []*Tensor, alpha []float32) {
	if len(logits) == 0 || len(logits) != len(alpha) {
		panic(fmt.Sprintf("engine: %s: %d logits for %d weights", op, len(logits), len(alpha)))
	}
	for _, l := range logits {
		mustSameShape(op, l, logits[0])
	}
}

// Ensemble returns CEN's ensemble Σ_m softmax(alpha)_m · logits_m, a weighted
// sum of logits (not probabilities), each logits_m [N, K, H, W].
func Ensemble(logits []*Tensor, alpha []float32) *Tensor {
	checkEnsemble("Ensemble", logits, alpha)
	w := Softmax(alpha)
	l0 := logits[0]
	y := NewTensor(l0.N, l0.C, l0.H, l0.W)
	parallelFor(len(y.Data), len(logits), func(lo, hi int) {
		d := y.Data[lo:hi]
		for m, l := range logits {
			wm := w[m]
			for i, v := range l.Data[lo:hi] {
				d[i] += wm * v
			}
		}
	})
	return y
}

// EnsembleBackward accumulates into dalpha the gradient of Ensemble with
// respect to alpha given the output gradient dy. The logits are treated as
// constants (detached), as the official code does.
func EnsembleBackward(logits []*Tensor, alpha []float32, dy *Tensor, dalpha []float32) {
	checkEnsemble("EnsembleBackward", logits, alpha)
	mustSameShape("EnsembleBackward dy", dy, logits[0])
	if len(dalpha) != len(alpha) {
		panic(fmt.Sprintf("engine: EnsembleBackward: dalpha has %d values, want %d", len(dalpha), len(alpha)))
	}
	w := Softmax(alpha)
	// g_m = Σ dy·logits_m is the gradient wrt the softmax weight m; the
	// softmax Jacobian turns it into dalpha_j = w_j (g_j - Σ_m w_m g_m).
	g := make([]float64, len(logits))
	for m, l := range logits {
		g[m] = dot64(dy.Data, l.Data)
	}
	var wg float64
	for m := range g {
		wg += float64(w[m]) * g[m]
	}
	for j := range dalpha {
		dalpha[j] += float32(float64(w[j]) * (g[j] - wg))
	}
}

// dot64 returns Σ a_i b_i accumulated in float64, in parallel.
func dot64(a, b []float32) float64 {
	t := Threads()
	parts := make([]float64, t)
	chunk := (len(a) + t - 1) / t
	parallelFor(t, chunk, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			s, e := min(p*chunk, len(a)), min((p+1)*chunk, len(a))
			var acc float64
			bs := b[s:e]
			for i, v := range a[s:e] {
				acc += float64(v) * float64(bs[i])
			}
			parts[p] = acc
		}
	})
	var s float64
	for _, v := range parts {
		s += v
	}
	return s
}

// allKept reports whether every one of the m modalities keeps its channel c.
func allKept(keep []bool, m, channels, c int) bool {
	for mi := 0; mi < m; mi++ {
		if !keep[mi*channels+c] {
			return false
		}
	}
	return true
}
