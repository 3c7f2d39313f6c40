package cen

import (
	"math/rand/v2"
	"strconv"

	"github.com/cen-ros/cen/cen/engine"
)

// value is a tensor in a forward pass, with the gradient the backward pass accumulates for it.
type value struct {
	t    *engine.Tensor
	g    *engine.Tensor
	need bool // whether a gradient must flow to it (false for the input images)
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

func (g *graph) out(t *engine.Tensor) *value { return &value{t: t, need: true} }

// acc adds d to x's gradient, taking ownership of d: the caller must not use d again.
func (g *graph) acc(x *value, d *engine.Tensor) {
	if !x.need || d == nil {
		return
	}
	if x.g == nil {
		x.g = d
		return
	}
	engine.AddInPlace(x.g, d)
}

// gradBuffer returns a tensor for x's gradient, or nil when no gradient flows to x (kernels then skip it).
func gradBuffer(x *value) *engine.Tensor {
	if !x.need {
		return nil
	}
	return engine.NewTensor(x.t.N, x.t.C, x.t.H, x.t.W)
}

func (g *graph) push(f func()) {
	if g.record {
		g.back = append(g.back, f)
	}
}

// backward runs the recorded closures in reverse order.
func (g *graph) backward() {
	for i := len(g.back) - 1; i >= 0; i-- {
		g.back[i]()
		g.back[i] = nil
	}
	g.back = nil
}

func (g *graph) relu(x *value) *value {
	y := g.out(engine.ReLU(x.t))
	g.push(func() {
		if y.g != nil {
			g.acc(x, engine.ReLUBackward(y.t, y.g))
			y.g = nil
		}
	})
	return y
}

func (g *graph) add(a, b *value) *value {
	y := g.out(engine.Add(a.t, b.t))
	g.push(func() {
		if y.g != nil {
			if b.need {
				g.acc(b, y.g.Clone())
			}
			g.acc(a, y.g)
			y.g = nil
		}
	})
	return y
}

func (g *graph) maxPool(x *value, k, stride, pad int) *value {
	t, idx := engine.MaxPool2D(x.t, k, stride, pad)
	y := g.out(t)
	n, c, h, w := x.t.N, x.t.C, x.t.H, x.t.W
	g.push(func() {
		if y.g != nil {
			g.acc(x, engine.MaxPool2DBackward(idx, y.g, n, c, h, w))
			y.g = nil
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
	ih, iw := x.t.H, x.t.W
	g.push(func() {
		if y.g != nil {
			g.acc(x, engine.ResizeBilinearBackward(y.g, ih, iw, alignCorners))
			y.g = nil
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
	g.push(func() {
		if y.g != nil {
			g.acc(x, engine.DropoutBackward(mask, y.g))
			y.g = nil
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
	g.push(func() {
		if y.g == nil {
			return
		}
		dx := gradBuffer(x)
		var db []float32
		if c.b != nil {
			db = c.b.Grad
		}
		engine.Conv2DBackward(x.t, c.w.Data, c.cout, c.spec, y.g, dx, c.w.Grad, db)
		g.acc(x, dx)
		y.g = nil
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
			// sub-parts; official M = 2: first half for RGB, second half for depth).
			gp.PenaltyLo, gp.PenaltyHi = i*c/m, (i+1)*c/m
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
	if g.bnTrain {
		t, cache := engine.BatchNormTrain(x.t, b.m, b.gamma, b.beta, b.mean, b.vari, bnMomentum, bnEps)
		for _, c := range b.counters {
			c.Value++
		}
		y = g.out(t)
		g.push(func() {
			if y.g == nil {
				return
			}
			dx := gradBuffer(x)
			engine.BatchNormTrainBackward(cache, y.g, dx, b.dgamma, b.dbeta)
			g.acc(x, dx)
			y.g = nil
		})
	} else {
		y = g.out(engine.BatchNormEval(x.t, b.m, b.gamma, b.beta, b.mean, b.vari, bnEps))
		g.push(func() {
			if y.g == nil {
				return
			}
			dx := gradBuffer(x)
			engine.BatchNormEvalBackward(x.t, y.g, b.m, b.gamma, b.mean, b.vari, bnEps, dx, b.dgamma, b.dbeta)
			g.acc(x, dx)
			y.g = nil
		})
	}
	if !b.exchange || b.m < 2 {
		return y
	}
	keep := engine.ExchangeMask(b.gamma, threshold)
	z := g.out(engine.Exchange(y.t, b.m, keep))
	g.push(func() {
		if z.g != nil {
			g.acc(y, engine.ExchangeBackward(z.g, b.m, keep))
			z.g = nil
		}
	})
	return z
}

func itoa(i int) string { return strconv.Itoa(i) }
