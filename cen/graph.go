package cen

import (
	"math/rand/v2"
	"strconv"

	"github.com/cen-ros/cen/cen/engine"
)

// value is a tensor in a forward pass and the slot its gradient accumulates in. Backward closures capture the
// slots they feed and only the tensors their kernels read (a convolution's input, a ReLU's output), so every
// other activation is dead as soon as the forward pass has used it: training holds what PyTorch's autograd
// holds, not every intermediate.
//
// Storage is handed back to the engine (engine.Release) the moment it is dead, as PyTorch frees a tensor when
// its last reference goes, so the next tensor of that size reuses it instead of growing the heap: a captured
// tensor when the last closure that reads it has run, a gradient when its consumer's backward has used it, and
// a forward intermediate that nothing captured when the op after it has read it (free). Ops whose input is dead
// afterwards run in place on it, as the official model's in-place ReLUs do.
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
	// held counts, per captured tensor, the closures that still read it; it is released when the count drops
	// to zero, and an in-place op on a held tensor is a bug (it would change what a backward reads).
	held map[*engine.Tensor]int
}

func newValue(t *engine.Tensor, need bool) *value {
	return &value{t: t, s: &slot{need: need, n: t.N, c: t.C, h: t.H, w: t.W}}
}

func (g *graph) out(t *engine.Tensor) *value { return newValue(t, true) }

// acc adds d to the gradient in s, taking ownership of d: the caller must not use d again.
func (s *slot) acc(d *engine.Tensor) {
	if d == nil {
		return
	}
	if !s.need {
		engine.Release(d)
		return
	}
	if s.g == nil {
		s.g = d
		return
	}
	engine.AddInPlace(s.g, d)
	engine.Release(d)
}

// take returns the accumulated gradient and empties the slot (nil when nothing flowed here). The caller owns it.
func (s *slot) take() *engine.Tensor {
	g := s.g
	s.g = nil
	return g
}

// buffer returns a tensor for the slot's gradient, to be overwritten entirely, or nil when no gradient flows
// there (kernels then skip it).
func (s *slot) buffer() *engine.Tensor {
	if !s.need {
		return nil
	}
	return engine.Empty(s.n, s.c, s.h, s.w)
}

func (g *graph) push(f func()) {
	if g.record {
		g.back = append(g.back, f)
	}
}

// capture records that a closure about to be pushed reads t in the backward pass; the closure calls done(t)
// when it has.
func (g *graph) capture(t *engine.Tensor) *engine.Tensor {
	if g.record {
		if g.held == nil {
			g.held = map[*engine.Tensor]int{}
		}
		g.held[t]++
	}
	return t
}

// done releases t once no closure reads it any more.
func (g *graph) done(t *engine.Tensor) {
	if n := g.held[t] - 1; n > 0 {
		g.held[t] = n
		return
	}
	delete(g.held, t)
	engine.Release(t)
}

// free releases the tensor of a forward value that is dead: nothing reads it later in the forward pass and no
// closure captured it. v must not be used afterwards.
func (g *graph) free(v *value) {
	if g.held[v.t] > 0 {
		panic("cen: freeing a tensor a backward closure reads")
	}
	engine.Release(v.t)
	v.t = nil
}

// reuse hands the tensor of x, which is dead after the caller's op, to that op's output: x must not be used
// afterwards.
func (g *graph) reuse(x *value) *engine.Tensor {
	t := x.t
	if g.held[t] > 0 {
		panic("cen: in-place op on a tensor a backward closure reads")
	}
	x.t = nil
	return t
}

// backward runs the recorded closures in reverse order, dropping each once it has run.
func (g *graph) backward() {
	for i := len(g.back) - 1; i >= 0; i-- {
		g.back[i]()
		g.back[i] = nil
	}
	g.back = nil
}

// relu is the in-place ReLU: x is dead afterwards (the official model's ReLUs are in place too).
func (g *graph) relu(x *value) *value {
	t := g.reuse(x)
	engine.ReLUInPlace(t)
	y := g.out(t)
	yt, xs, ys := g.capture(t), x.s, y.s
	g.push(func() {
		defer g.done(yt)
		if dy := ys.take(); dy != nil {
			engine.ReLUBackwardInPlace(yt, dy)
			xs.acc(dy)
		}
	})
	return y
}

// add returns a + b; a is dead afterwards (its storage holds the sum).
func (g *graph) add(a, b *value) *value {
	t := g.reuse(a)
	engine.AddInPlace(t, b.t)
	return g.sum(t, a, b)
}

// addNew returns a + b in new storage, for an a that stays in use.
func (g *graph) addNew(a, b *value) *value {
	return g.sum(engine.Add(a.t, b.t), a, b)
}

func (g *graph) sum(t *engine.Tensor, a, b *value) *value {
	y := g.out(t)
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
			dx := engine.MaxPool2DBackward(idx, dy)
			engine.Release(dy)
			xs.acc(dx)
		}
	})
	return y
}

// upsample resizes bilinearly to h×w; the decoder uses align_corners=True as the official model. It returns x
// itself when x already has that size.
func (g *graph) upsample(x *value, h, w int, alignCorners bool) *value {
	if x.t.H == h && x.t.W == w {
		return x
	}
	y := g.out(engine.ResizeBilinear(x.t, h, w, alignCorners))
	xs, ys := x.s, y.s
	g.push(func() {
		if dy := ys.take(); dy != nil {
			dx := engine.ResizeBilinearBackward(dy, xs.h, xs.w, alignCorners)
			engine.Release(dy)
			xs.acc(dx)
		}
	})
	return y
}

// drop is dropout; it returns x itself when the graph does not drop.
func (g *graph) drop(x *value) *value {
	if g.dropout <= 0 {
		return x
	}
	t, mask := engine.Dropout(x.t, g.dropout, g.rng)
	y := g.out(t)
	xs, ys := x.s, y.s
	g.push(func() {
		if dy := ys.take(); dy != nil {
			engine.DropoutBackwardInPlace(mask, dy)
			xs.acc(dy)
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
	xt, xs, ys := g.capture(x.t), x.s, y.s
	g.push(func() {
		defer g.done(xt)
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
		engine.Release(dy)
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
// exchanging batch norm with several modalities, the channel exchange on its output (in place: nothing else
// reads the batch norm's output). Both backward passes run in place on the output gradient.
func (g *graph) batchNorm(b *bn, x *value, threshold float32) *value {
	var y *value
	xt, xs := g.capture(x.t), x.s
	// inPlace is where the input gradient goes: the output gradient itself, or nowhere.
	inPlace := func(dy *engine.Tensor) *engine.Tensor {
		if xs.need {
			return dy
		}
		return nil
	}
	if g.bnTrain {
		t, cache := engine.BatchNormTrain(x.t, b.m, b.gamma, b.beta, b.mean, b.vari, bnMomentum, bnEps)
		for _, c := range b.counters {
			c.Value++
		}
		y = g.out(t)
		ys := y.s
		g.push(func() {
			defer g.done(xt)
			if dy := ys.take(); dy != nil {
				engine.BatchNormTrainBackward(cache, dy, inPlace(dy), b.dgamma, b.dbeta)
				xs.acc(dy)
			}
		})
	} else {
		y = g.out(engine.BatchNormEval(x.t, b.m, b.gamma, b.beta, b.mean, b.vari, bnEps))
		ys := y.s
		g.push(func() {
			defer g.done(xt)
			if dy := ys.take(); dy != nil {
				engine.BatchNormEvalBackward(xt, dy, b.m, b.gamma, b.mean, b.vari, bnEps, inPlace(dy), b.dgamma, b.dbeta)
				xs.acc(dy)
			}
		})
	}
	if !b.exchange || b.m < 2 {
		return y
	}
	keep := engine.ExchangeMask(b.gamma, threshold)
	t := g.reuse(y)
	engine.ExchangeInPlace(t, b.m, keep)
	z := g.out(t)
	ys, zs := y.s, z.s
	g.push(func() {
		if dz := zs.take(); dz != nil {
			engine.ExchangeBackwardInPlace(dz, b.m, keep)
			ys.acc(dz)
		}
	})
	return z
}

func itoa(i int) string { return strconv.Itoa(i) }
