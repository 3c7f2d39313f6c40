package cen

import (
	"math/rand/v2"
	"strconv"

	"github.com/cen-ros/cen/cen/engine"
)

// value is a tensor in a forward pass and the slot its gradient accumulates in. Backward closures capture the
// slots they feed and only the tensors their kernels read (a convolution's input, a ReLU's output), so every
// other activation is garbage as soon as the forward pass has used it: training holds what PyTorch's autograd
// holds, not every intermediate.
type value struct {
	t *engine.Tensor
	s *slot
}

// slot is a value's gradient: nil until a backward closure adds to it.
type slot struct {
	g          *engine.Tensor
	need       bool // whether a gradient must flow here (false for the input images)
	n, c, h, w int
}

// graph records what the backward pass needs, op by op, as closures run in reverse order. A forward pass
// without recording keeps nothing, so inference holds only the live activations.
type graph struct {
	record  bool       // keep backward closures (training)
	dropout float32    // dropout probability; 0 in inference
	bnTrain bool       // batch norm in training mode (batch statistics, running-stat updates)
	rng     *rand.Rand // dropout masks
	back    []func()
}

func newValue(t *engine.Tensor, need bool) *value {
	return &value{t: t, s: &slot{need: need, n: t.N, c: t.C, h: t.H, w: t.W}}
}

func (g *graph) out(t *engine.Tensor) *value { return newValue(t, true) }

// acc adds d to the gradient in s, taking ownership of d: the caller must not use d again.
func (s *slot) acc(d *engine.Tensor) {
	if !s.need || d == nil {
		return
	}
	if s.g == nil {
		s.g = d
		return
	}
	engine.AddInPlace(s.g, d)
}

// take returns the accumulated gradient and empties the slot (nil when nothing flowed here).
func (s *slot) take() *engine.Tensor {
	g := s.g
	s.g = nil
	return g
}

// buffer returns a tensor for the slot's gradient, or nil when no gradient flows there (kernels then skip it).
func (s *slot) buffer() *engine.Tensor {
	if !s.need {
		return nil
	}
	return engine.NewTensor(s.n, s.c, s.h, s.w)
}

func (g *graph) push(f func()) {
	if g.record {
		g.back = append(g.back, f)
	}
}

// backward runs the recorded closures in reverse order, dropping each once it has run.
func (g *graph) backward() {
	for i := len(g.back) - 1; i >= 0; i-- {
		g.back[i]()
		g.back[i] = nil
	}
	g.back = nil
}

func (g *graph) relu(x *value) *value {
	y := g.out(engine.ReLU(x.t))
	yt, xs, ys := y.t, x.s, y.s
	g.push(func() {
		if dy := ys.take(); dy != nil {
			xs.acc(engine.ReLUBackward(yt, dy))
		}
	})
	return y
}

func (g *graph) add(a, b *value) *value {
	y := g.out(engine.Add(a.t, b.t))
	as, bs, ys := a.s, b.s, y.s
	g.push(func() {
		if dy := ys.take(); dy != nil {
			if bs.need {
				bs.acc(dy.Clone())
			}
			as.acc(dy)
		}
	})
	return y
}

func (g *graph) maxPool(x *value, k, stride, pad int) *value {
	t, idx := engine.MaxPool2D(x.t, k, stride, pad)
	y := g.out(t)
	xs, ys := x.s, y.s
	g.push(func() {
		if dy := ys.take(); dy != nil {
			xs.acc(engine.MaxPool2DBackward(idx, dy, xs.n, xs.c, xs.h, xs.w))
		}
	})
	return y
}

// upsample resizes bilinearly to h×w; the decoder uses align_corners=True as the official model.
func (g *graph) upsample(x *value, h, w int, alignCorners bool) *value {
	if x.t.H == h && x.t.W == w {
		return x
	}
	y := g.out(engine.ResizeBilinear(x.t, h, w, alignCorners))
	xs, ys := x.s, y.s
	g.push(func() {
		if dy := ys.take(); dy != nil {
			xs.acc(engine.ResizeBilinearBackward(dy, xs.h, xs.w, alignCorners))
		}
	})
	return y
}

func (g *graph) drop(x *value) *value {
	if g.dropout <= 0 {
		return x
	}
	t, mask := engine.Dropout(x.t, g.dropout, g.rng)
	y := g.out(t)
	xs, ys := x.s, y.s
	g.push(func() {
		if dy := ys.take(); dy != nil {
			xs.acc(engine.DropoutBackward(mask, dy))
		}
	})
	return y
}

// conv is a convolution shared by all modalities.
type conv struct {
	w, b *Param // b may be nil
	cout int
	spec engine.ConvSpec
}

func newConv(ps *params, name string, encoder bool, cin, cout, k, stride int, bias bool) *conv {
	c := &conv{cout: cout, spec: engine.ConvSpec{KH: k, KW: k, Stride: stride, Pad: k / 2, Dilation: 1}}
	c.w = ps.weight(name+".weight", encoder, cout, cin, k, k)
	if bias {
		c.b = ps.weight(name+".bias", encoder, cout)
	}
	return c
}

func (g *graph) conv(c *conv, x *value) *value {
	var bias []float32
	if c.b != nil {
		bias = c.b.Data
	}
	y := g.out(engine.Conv2D(x.t, c.w.Data, c.cout, bias, c.spec))
	xt, xs, ys := x.t, x.s, y.s
	g.push(func() {
		dy := ys.take()
		if dy == nil {
			return
		}
		var db []float32
		if c.b != nil {
			db = c.b.Grad
		}
		dx := xs.buffer()
		engine.Conv2DBackward(xt, c.w.Data, c.cout, c.spec, dy, dx, c.w.Grad, db)
		xs.acc(dx)
	})
	return y
}

// bn is a batch norm with one private parameter set per modality. γ, β and the running statistics of all
// modalities are contiguous ([M·C]); the per-modality Params are views into them.
type bn struct {
	c, m                    int
	gamma, beta, mean, vari []float32
	dgamma, dbeta           []float32
	counters                []*Counter
	exchange                bool // followed by the channel exchange
}

// bnEps and bnMomentum are torch.nn.BatchNorm2d's defaults, which the official model uses.
const (
	bnEps      = 1e-5
	bnMomentum = 0.1
)

func newBN(ps *params, name string, c, m int, exchange bool) *bn {
	b := &bn{c: c, m: m, exchange: exchange,
		gamma: make([]float32, m*c), beta: make([]float32, m*c), mean: make([]float32, m*c), vari: make([]float32, m*c),
		dgamma: make([]float32, m*c), dbeta: make([]float32, m*c)}
	for i := range b.gamma {
		b.gamma[i], b.vari[i] = 1, 1
	}
	for i := 0; i < m; i++ {
		lo, hi := i*c, (i+1)*c
		pre := name + ".bn_" + itoa(i) + "."
		gp := ps.add(&Param{Name: pre + "weight", Shape: []int{c}, Data: b.gamma[lo:hi:hi], Grad: b.dgamma[lo:hi:hi], Kind: Weight, Encoder: true})
		if exchange {
			// Modality i's γ is pushed towards sparsity on its own slice of the channels (paper: disjoint
			// sub-parts; official M = 2: first half for RGB, second half for depth), or on all of them for
			// the ablation.
			gp.PenaltyLo, gp.PenaltyHi = i*c/m, (i+1)*c/m
			if ps.penalty == PenaltyAll {
				gp.PenaltyLo, gp.PenaltyHi = 0, c
			}
		}
		ps.add(&Param{Name: pre + "bias", Shape: []int{c}, Data: b.beta[lo:hi:hi], Grad: b.dbeta[lo:hi:hi], Kind: Weight, Encoder: true})
		ps.add(&Param{Name: pre + "running_mean", Shape: []int{c}, Data: b.mean[lo:hi:hi], Kind: RunningStat, Encoder: true})
		ps.add(&Param{Name: pre + "running_var", Shape: []int{c}, Data: b.vari[lo:hi:hi], Kind: RunningStat, Encoder: true})
		cnt := &Counter{Name: pre + "num_batches_tracked"}
		b.counters = append(b.counters, cnt)
		ps.counters = append(ps.counters, cnt)
	}
	return b
}

// batchNorm applies the private batch norms (frozen statistics unless the graph trains them) and, for an
// exchanging batch norm with several modalities, the channel exchange on its output.
func (g *graph) batchNorm(b *bn, x *value, threshold float32) *value {
	var y *value
	xs := x.s
	if g.bnTrain {
		t, cache := engine.BatchNormTrain(x.t, b.m, b.gamma, b.beta, b.mean, b.vari, bnMomentum, bnEps)
		for _, c := range b.counters {
			c.Value++
		}
		y = g.out(t)
		ys := y.s
		g.push(func() {
			if dy := ys.take(); dy != nil {
				dx := xs.buffer()
				engine.BatchNormTrainBackward(cache, dy, dx, b.dgamma, b.dbeta)
				xs.acc(dx)
			}
		})
	} else {
		y = g.out(engine.BatchNormEval(x.t, b.m, b.gamma, b.beta, b.mean, b.vari, bnEps))
		xt, ys := x.t, y.s
		g.push(func() {
			if dy := ys.take(); dy != nil {
				dx := xs.buffer()
				engine.BatchNormEvalBackward(xt, dy, b.m, b.gamma, b.mean, b.vari, bnEps, dx, b.dgamma, b.dbeta)
				xs.acc(dx)
			}
		})
	}
	if !b.exchange || b.m < 2 {
		return y
	}
	keep := engine.ExchangeMask(b.gamma, threshold)
	z := g.out(engine.Exchange(y.t, b.m, keep))
	ys, zs := y.s, z.s
	g.push(func() {
		if dz := zs.take(); dz != nil {
			ys.acc(engine.ExchangeBackward(dz, b.m, keep))
		}
	})
	return z
}

func itoa(i int) string { return strconv.Itoa(i) }
