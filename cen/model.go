package cen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/cen-ros/cen/cen/engine"
)

// Model is a CEN network with its parameters.
type Model struct {
	cfg    Config
	arch   archSpec
	ps     params
	conv1  *conv
	bn1    *bn
	layers [4][]*block
	dec    decoder
	alpha  *Param
	recipe Recipe // what files of this network record about feeding it; empty until SetRecipe
}

// block is a residual block: a bottleneck (conv1 1×1, conv2 3×3 with the stride, conv3 1×1, exchange after
// bn2) or, in the lite networks, a basic block (conv1 3×3 with the stride, conv2 3×3, exchange after bn1).
type block struct {
	convs    []*conv
	bns      []*bn
	down     *conv // nil without downsample
	downBN   *bn
	exchange int // index into bns of the exchanging batch norm
}

// rcu is RefineNet's chain of residual conv units; unit i is r = relu(x); y = r + b_i(relu(a_i(r))). The
// residual is relu(x), not x: the official ReLU runs in place on the tensor the residual refers to.
type rcu struct{ a, b []*conv }

// crp is chained residual pooling: four stages of 5×5 max-pool (stride 1) then convolution, each stage fed by
// the previous one, all added to the input.
type crp struct{ convs [4]*conv }

type decoder struct {
	dimred     [4]*conv // p_ims1d2_outl{1..4}_dimred, from l4 down to l1
	adapt      [4]*rcu  // adapt_stage{1..4}_b
	adaptJoint [4]*conv // adapt_stage{2..4}_b2_joint_varout_dimred (index 0 unused)
	pool       [4]*crp  // mflow_conv_g{1..4}_pool
	mflow      [4]*rcu  // mflow_conv_g{1..4}_b
	joint      [4]*conv // mflow_conv_g{1..3}_b3_joint_varout_dimred (index 3 unused)
	clf        *conv
}

// New builds a network for cfg with freshly initialised weights, as the official code initialises a network
// it does not load: the encoder as torchvision initialises a ResNet (He-normal convolutions in fan-out mode,
// unit batch norms), the decoder with PyTorch's default for convolutions (weights and biases uniform in
// ±1/√fan-in), α = 1. seed makes the initialisation reproducible.
func New(cfg Config, seed uint64) (*Model, error) {
	m, err := newModel(cfg, true)
	if err != nil {
		return nil, err
	}
	m.initWeights(seed)
	return m, nil
}

// newModel builds the network; grads says whether to allocate gradient buffers (not needed for inference).
func newModel(cfg Config, grads bool) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg, arch: archs[cfg.Arch]}
	m.ps.noGrad, m.ps.penalty = !grads, cfg.Penalty
	M := cfg.M()
	ps := &m.ps
	// α comes first in the official state_dict: a module's own parameters precede its children's.
	m.alpha = ps.weight("alpha", false, M)
	for i := range m.alpha.Data {
		m.alpha.Data[i] = 1
	}
	stem := cfg.ch(64)
	m.conv1 = newConv(ps, "conv1", true, 3, stem, 7, 2, false)
	m.bn1 = newBN(ps, "bn1", stem, M, false)
	in := stem
	for s := 0; s < 4; s++ {
		planes := cfg.ch(64 << s)
		stride := 2
		if s == 0 {
			stride = 1
		}
		for b := 0; b < m.arch.blocks[s]; b++ {
			name := fmt.Sprintf("layer%d.%d", s+1, b)
			st := 1
			if b == 0 {
				st = stride
			}
			blk := &block{}
			var out int
			if m.arch.basic {
				out = planes
				blk.convs = append(blk.convs, newConv(ps, name+".conv1", true, in, planes, 3, st, false))
				blk.bns = append(blk.bns, newBN(ps, name+".bn1", planes, M, true))
				blk.convs = append(blk.convs, newConv(ps, name+".conv2", true, planes, planes, 3, 1, false))
				blk.bns = append(blk.bns, newBN(ps, name+".bn2", planes, M, false))
				blk.exchange = 0
			} else {
				out = 4 * planes
				blk.convs = append(blk.convs, newConv(ps, name+".conv1", true, in, planes, 1, 1, false))
				blk.bns = append(blk.bns, newBN(ps, name+".bn1", planes, M, false))
				blk.convs = append(blk.convs, newConv(ps, name+".conv2", true, planes, planes, 3, st, false))
				blk.bns = append(blk.bns, newBN(ps, name+".bn2", planes, M, true))
				blk.convs = append(blk.convs, newConv(ps, name+".conv3", true, planes, out, 1, 1, false))
				blk.bns = append(blk.bns, newBN(ps, name+".bn3", out, M, false))
				blk.exchange = 1
			}
			// torchvision's rule, which the official model follows: a projection where the shape changes.
			// Bottleneck stages always change width in block 0 (64 -> 256 in layer1 too).
			if b == 0 && (st != 1 || in != out) {
				blk.down = newConv(ps, name+".downsample.0", true, in, out, 1, st, false)
				blk.downBN = newBN(ps, name+".downsample.1", out, M, false)
			}
			m.layers[s] = append(m.layers[s], blk)
			in = out
		}
	}
	m.buildDecoder()
	return m, nil
}

func (m *Model) buildDecoder() {
	cfg, ps, k := m.cfg, &m.ps, m.arch.decKernel
	enc := cfg.StageChannels()
	top, w := cfg.ch(m.arch.decTop), cfg.ch(m.arch.dec)
	d := &m.dec
	newRCU := func(name string, c, units int) *rcu {
		r := &rcu{}
		for i := 1; i <= units; i++ {
			r.a = append(r.a, newConv(ps, fmt.Sprintf("%s.0.%d_conv", name, i), false, c, c, k, 1, true))
			r.b = append(r.b, newConv(ps, fmt.Sprintf("%s.0.%d_conv_relu_varout_dimred", name, i), false, c, c, k, 1, false))
		}
		return r
	}
	newCRP := func(name string, c int) *crp {
		p := &crp{}
		for i := range p.convs {
			p.convs[i] = newConv(ps, fmt.Sprintf("%s.0.%d_outvar_dimred", name, i+1), false, c, c, k, 1, false)
		}
		return p
	}
	for s := 0; s < 4; s++ {
		c := w
		if s == 0 {
			c = top
		}
		d.dimred[s] = newConv(ps, fmt.Sprintf("p_ims1d2_outl%d_dimred", s+1), false, enc[3-s], c, k, 1, false)
		d.adapt[s] = newRCU(fmt.Sprintf("adapt_stage%d_b", s+1), c, 2)
		if s > 0 {
			d.adaptJoint[s] = newConv(ps, fmt.Sprintf("adapt_stage%d_b2_joint_varout_dimred", s+1), false, c, c, k, 1, false)
		}
		d.pool[s] = newCRP(fmt.Sprintf("mflow_conv_g%d_pool", s+1), c)
		d.mflow[s] = newRCU(fmt.Sprintf("mflow_conv_g%d_b", s+1), c, 3)
		if s < 3 {
			d.joint[s] = newConv(ps, fmt.Sprintf("mflow_conv_g%d_b3_joint_varout_dimred", s+1), false, c, w, k, 1, false)
		}
	}
	d.clf = newConv(ps, "clf_conv", false, w, cfg.Classes, 3, 1, true)
}

func (m *Model) initWeights(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x63656e))
	fanIn := map[string]int{} // of each decoder convolution, for its bias
	for _, p := range m.ps.list {
		if p.Kind != Weight || len(p.Shape) != 4 {
			continue
		}
		in := p.Shape[1] * p.Shape[2] * p.Shape[3]
		if p.Encoder {
			std := math.Sqrt(2 / float64(p.Shape[0]*p.Shape[2]*p.Shape[3])) // kaiming_normal_, fan_out, relu
			for i := range p.Data {
				p.Data[i] = float32(rng.NormFloat64() * std)
			}
			continue
		}
		// nn.Conv2d's reset_parameters: kaiming_uniform_ with a = √5, i.e. U(±1/√fan_in).
		bound := 1 / math.Sqrt(float64(in))
		for i := range p.Data {
			p.Data[i] = float32((2*rng.Float64() - 1) * bound)
		}
		fanIn[strings.TrimSuffix(p.Name, ".weight")] = in
	}
	for _, p := range m.ps.list {
		if in, ok := fanIn[strings.TrimSuffix(p.Name, ".bias")]; ok && strings.HasSuffix(p.Name, ".bias") {
			bound := 1 / math.Sqrt(float64(in))
			for i := range p.Data {
				p.Data[i] = float32((2*rng.Float64() - 1) * bound)
			}
		}
	}
}

// Config returns the network's configuration.
func (m *Model) Config() Config { return m.cfg }

// ExchangeBNs returns, for each exchanging batch norm in network order, its name and γ of every modality
// ([M·C], modality-major): the data of the paper's diagnostic (how many penalised γ fell below θ).
func (m *Model) ExchangeBNs() []ExchangeBN {
	var out []ExchangeBN
	for s, blocks := range m.layers {
		for b, blk := range blocks {
			x := blk.bns[blk.exchange]
			name := fmt.Sprintf("layer%d.%d.bn%d", s+1, b, blk.exchange+1)
			out = append(out, ExchangeBN{Name: name, Stage: s + 1, C: x.c, Gamma: x.gamma})
		}
	}
	return out
}

// ExchangeBN is one exchanging batch norm (see Model.ExchangeBNs).
type ExchangeBN struct {
	Name  string
	Stage int
	C     int
	Gamma []float32
}

// Output is what the network returns for a batch.
type Output struct {
	// Logits holds each modality's logits [N, K, H/4, W/4] (at the network's output stride).
	Logits []*engine.Tensor
	// Ensemble is Σ_m softmax(α)_m · Logits[m], the network's prediction.
	Ensemble *engine.Tensor
	// Weights is softmax(α).
	Weights []float32
}

// checkInputs validates one tensor per modality, all [N, 3, H, W] of one shape.
func (m *Model) checkInputs(inputs []*engine.Tensor) error {
	if len(inputs) != m.cfg.M() {
		return fmt.Errorf("the network takes %d modalities (%v), got %d inputs", m.cfg.M(), m.cfg.Modalities, len(inputs))
	}
	for i, x := range inputs {
		if x == nil {
			return fmt.Errorf("input %q is missing", m.cfg.Modalities[i])
		}
		if x.C != 3 {
			return fmt.Errorf("input %q has %d channels, the network takes 3", m.cfg.Modalities[i], x.C)
		}
		if x.N != inputs[0].N || x.H != inputs[0].H || x.W != inputs[0].W {
			return fmt.Errorf("input %q is %v but %q is %v: modalities must have the same size", m.cfg.Modalities[i], x, m.cfg.Modalities[0], inputs[0])
		}
		if x.N < 1 || x.H < 32 || x.W < 32 {
			return fmt.Errorf("input %q is %v: the network needs at least 1 image of 32×32", m.cfg.Modalities[i], x)
		}
		if len(x.Data) != x.Len() {
			return fmt.Errorf("input %q holds %d values for shape %v", m.cfg.Modalities[i], len(x.Data), x)
		}
	}
	return nil
}

// Forward runs the network in inference mode (batch norm with running statistics, no dropout). inputs holds
// one [N, 3, H, W] tensor per modality, already normalised (see preprocess/).
func (m *Model) Forward(inputs []*engine.Tensor) (*Output, error) {
	if err := m.checkInputs(inputs); err != nil {
		return nil, err
	}
	g := &graph{}
	logits := m.forward(g, inputs)
	return m.output(logits.t), nil
}

func (m *Model) output(logits *engine.Tensor) *Output {
	out := &Output{Logits: logits.Split(m.cfg.M()), Weights: engine.Softmax(m.alpha.Data)}
	out.Ensemble = engine.Ensemble(out.Logits, m.alpha.Data)
	return out
}

// forward runs the shared network on the modality-major batch and returns the logits of all modalities
// [M·N, K, H/4, W/4]. Each value is used as written; the ops that overwrite their input (ReLU, the left operand
// of add) and the frees come where nothing later reads the tensor (graph.reuse and graph.free check that no
// backward closure does).
func (m *Model) forward(g *graph, inputs []*engine.Tensor) *value {
	th := m.cfg.Threshold
	x := newValue(engine.Concat(inputs), false)
	x = g.conv(m.conv1, x)
	x = g.batchNorm(m.bn1, x, th)
	x = g.relu(x)
	x = g.maxPool(x, 3, 2, 1)
	var l [4]*value
	for s, blocks := range m.layers {
		for _, blk := range blocks {
			x = m.block(g, blk, x)
		}
		l[s] = x
	}
	l[3] = g.drop(l[3])
	l[2] = g.drop(l[2])
	d := &m.dec
	var up *value
	for s := 0; s < 4; s++ {
		y := g.conv(d.dimred[s], l[3-s])
		y = m.rcu(g, d.adapt[s], y)
		if s == 0 {
			y = g.relu(y)
		} else {
			y = g.conv(d.adaptJoint[s], y)
			y = g.relu(g.add(y, up))
			g.free(up)
		}
		y = m.crp(g, d.pool[s], y)
		y = m.rcu(g, d.mflow[s], y)
		if s < 3 {
			j := g.conv(d.joint[s], y)
			next := l[2-s]
			up = g.upsample(j, next.t.H, next.t.W, true)
			if up != j {
				g.free(j)
			}
		} else {
			up = y
		}
	}
	x = g.drop(up)
	if x != up {
		g.free(up)
	}
	return g.conv(d.clf, x)
}

func (m *Model) block(g *graph, b *block, x *value) *value {
	th := m.cfg.Threshold
	y := x
	last := len(b.convs) - 1
	for i, c := range b.convs {
		y = g.conv(c, y)
		y = g.batchNorm(b.bns[i], y, th)
		if i < last {
			y = g.relu(y)
		}
	}
	res := x
	if b.down != nil {
		res = g.batchNorm(b.downBN, g.conv(b.down, x), th)
	}
	y = g.add(y, res)
	if res != x {
		g.free(res)
	}
	return g.relu(y)
}

// rcu runs the residual conv units. x is dead afterwards: its ReLU is in place, as the official one.
func (m *Model) rcu(g *graph, r *rcu, x *value) *value {
	for i := range r.a {
		res := g.relu(x)
		y := g.conv(r.b[i], g.relu(g.conv(r.a[i], res)))
		x = g.add(y, res)
	}
	return x
}

// crp is chained residual pooling. x stays in use (the sum is in new storage); each stage's convolution output
// is dead once the next stage has pooled it and the sum has added it.
func (m *Model) crp(g *graph, p *crp, x *value) *value {
	out, top := x, x
	for i, c := range p.convs {
		next := g.conv(c, g.maxPool(top, 5, 1, 2))
		if i == 0 {
			out = g.addNew(x, next)
		} else {
			out = g.add(out, next)
			g.free(top)
		}
		top = next
	}
	g.free(top)
	return out
}

// Loss is the official training objective of one batch and its parts.
type Loss struct {
	// CE holds the cross-entropy of each modality's output and, last, of the ensemble.
	CE []float64
	// L1 is Σ|γ| over the penalised sub-parts (before weighting).
	L1 float64
	// Total is Σ CE + (M+1)·λ·L1: the official code adds the penalty once per output (λ·L1 with
	// TrainOptions.L1Once).
	Total float64
}

// TrainOptions select the training-mode behaviour of a forward/backward pass.
type TrainOptions struct {
	// BNTrain trains batch norm with batch statistics. The official recipe keeps it frozen (false).
	BNTrain bool
	// NoDropout switches the dropout layers off (deterministic gradients, as in the PyTorch fixtures); otherwise
	// they drop with Config.Dropout.
	NoDropout bool
	// Seed drives the dropout masks.
	Seed uint64
	// Ignore is the label the loss skips. It defaults to IgnoreLabel (255) for networks of up to 255 classes
	// and to 65535 for larger ones.
	Ignore uint16
	// L1Once counts the L1 penalty once. The official loss adds it inside the loop over the M+1 outputs,
	// M+1 times, and so does the default.
	L1Once bool
}

// IgnoreFor is the default ignore label of a network of k classes (TrainOptions.Ignore).
func IgnoreFor(k int) uint16 {
	if k <= IgnoreLabel {
		return IgnoreLabel
	}
	return 65535
}

// ErrLabels reports labels that do not fit the network (wrong size or class out of range).
var ErrLabels = errors.New("bad labels")

// IgnoreLabel is the label value the loss skips, as the official NYUDv2 masks use it for void.
const IgnoreLabel = 255

// Backward runs a training forward pass on one batch, computes the official loss against labels
// (N·H·W values at the label size H×W; TrainOptions.Ignore is skipped), and accumulates the gradients of
// every parameter into Param.Grad (call ZeroGrad between steps). Each output's logits are upsampled
// bilinearly (align_corners=False) to the label size before the cross-entropy, as the official loss does.
func (m *Model) Backward(inputs []*engine.Tensor, labels []uint16, h, w int, opt TrainOptions) (*Loss, *Output, error) {
	if err := m.checkInputs(inputs); err != nil {
		return nil, nil, err
	}
	n := inputs[0].N
	if h < 1 || w < 1 || len(labels) != n*h*w {
		return nil, nil, fmt.Errorf("%w: %d labels for %d images of %d×%d", ErrLabels, len(labels), n, h, w)
	}
	K := m.cfg.Classes
	ignore := opt.Ignore
	if ignore == 0 {
		ignore = IgnoreFor(K)
	}
	for i, v := range labels {
		if v != ignore && int(v) >= K {
			return nil, nil, fmt.Errorf("%w: label %d at index %d is not a class of this %d-class network", ErrLabels, v, i, K)
		}
	}
	m.allocGrads()
	drop := m.cfg.Dropout
	if opt.NoDropout {
		drop = 0
	}
	g := &graph{record: true, dropout: drop, bnTrain: opt.BNTrain, rng: rand.New(rand.NewPCG(opt.Seed, 0x64726f70))}
	logits := m.forward(g, inputs)
	M := m.cfg.M()
	out := m.output(logits.t)
	loss := &Loss{CE: make([]float64, M+1)}

	// Per-modality outputs: each modality's logits upsampled to the label size, its cross-entropy and the
	// gradient back at the logits' size, one modality at a time so that only one label-sized map and its
	// gradient exist at once (they are the largest tensors of a step after the first layers).
	dLogits := engine.Empty(logits.t.N, logits.t.C, logits.t.H, logits.t.W)
	for i, part := range logits.t.Split(M) {
		ce, d := crossEntropyAt(part, labels, h, w, ignore)
		loss.CE[i] = ce
		copy(dLogits.Batch(i*n, (i+1)*n).Data, d.Data)
		engine.Release(d)
	}
	// The ensemble's loss reaches only α (the logits are detached, as in the official model).
	ce, dEns := crossEntropyAt(out.Ensemble, labels, h, w, ignore)
	loss.CE[M] = ce
	engine.EnsembleBackward(out.Logits, m.alpha.Data, dEns, m.alpha.Grad)
	engine.Release(dEns)

	// L1 on the penalised γ slices, counted once per output as in the official loop (or once).
	coef := float32(M+1) * m.cfg.Lambda
	if opt.L1Once {
		coef = m.cfg.Lambda
	}
	for _, p := range m.ps.list {
		for i := p.PenaltyLo; i < p.PenaltyHi; i++ {
			v := p.Data[i]
			loss.L1 += math.Abs(float64(v))
			switch {
			case v > 0:
				p.Grad[i] += coef
			case v < 0:
				p.Grad[i] -= coef
			}
		}
	}
	for _, c := range loss.CE {
		loss.Total += c
	}
	loss.Total += float64(coef) * loss.L1

	logits.s.g = dLogits
	g.backward()
	return loss, out, nil
}

// crossEntropyAt is the official loss of logits [N, K, h', w'] against labels of size h×w: the logits upsampled
// bilinearly (align_corners=False) to h×w unless they have that size, their mean cross-entropy, and its
// gradient with respect to the logits at their own size (new storage the caller owns).
func crossEntropyAt(logits *engine.Tensor, labels []uint16, h, w int, ignore uint16) (float64, *engine.Tensor) {
	if logits.H == h && logits.W == w {
		return engine.CrossEntropy(logits, labels, ignore)
	}
	up := engine.ResizeBilinear(logits, h, w, false)
	ce, dUp := engine.CrossEntropy(up, labels, ignore)
	engine.Release(up)
	d := engine.ResizeBilinearBackward(dUp, logits.H, logits.W, false)
	engine.Release(dUp)
	return ce, d
}
