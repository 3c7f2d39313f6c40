package cen

import (
	"fmt"
	"strings"
)

// Kind says what a named tensor of the network is.
type Kind int

const (
	// Weight is a trained parameter (convolution weights and biases, batch-norm γ and β, α).
	Weight Kind = iota
	// RunningStat is a batch-norm running mean or variance: state, not trained by gradients.
	RunningStat
)

// Param is one named tensor of the network. Names are the official checkpoint keys without the DataParallel
// "module." prefix and the ModuleParallel ".module." infix, e.g. "layer3.5.bn2.bn_1.weight" (see ImportTorch for
// the exact map). The per-modality batch-norm tensors of one layer are views into one contiguous buffer, so
// Data and Grad of "…bn_1.weight" alias the second C values of the layer's γ.
type Param struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32 // nil for running statistics
	Kind  Kind
	// Encoder is true for the stem and layer1–4 (the official optimiser split: the encoder and the decoder,
	// α included, get different learning rates).
	Encoder bool
	// Penalised is the slice [Lo, Hi) of Data under the L1 sparsity penalty (γ of an exchanging batch norm);
	// Hi == 0 means none.
	PenaltyLo, PenaltyHi int
}

// Size is the number of values.
func (p *Param) Size() int { return len(p.Data) }

// Counter is a batch-norm num_batches_tracked value, kept so checkpoints round-trip with PyTorch.
type Counter struct {
	Name  string
	Value int64
}

// params is the ordered registry the layers add themselves to.
type params struct {
	list     []*Param
	byName   map[string]*Param
	counters []*Counter
	noGrad   bool // inference-only model: convolution gradients are allocated on first training use
	penalty  string
}

func (ps *params) add(p *Param) *Param {
	if ps.byName == nil {
		ps.byName = map[string]*Param{}
	}
	if _, dup := ps.byName[p.Name]; dup {
		panic("cen: duplicate parameter name " + p.Name)
	}
	ps.list = append(ps.list, p)
	ps.byName[p.Name] = p
	return p
}

func (ps *params) weight(name string, encoder bool, shape ...int) *Param {
	n := 1
	for _, s := range shape {
		n *= s
	}
	p := &Param{Name: name, Shape: shape, Data: make([]float32, n), Kind: Weight, Encoder: encoder}
	if !ps.noGrad {
		p.Grad = make([]float32, n)
	}
	return ps.add(p)
}

// allocGrads gives every trained parameter a gradient buffer (a model loaded for inference has none).
func (m *Model) allocGrads() {
	for _, p := range m.ps.list {
		if p.Kind == Weight && p.Grad == nil {
			p.Grad = make([]float32, len(p.Data))
		}
	}
	m.ps.noGrad = false
}

// Params returns every named tensor in registration order (the order of the official state_dict).
func (m *Model) Params() []*Param { return m.ps.list }

// Param returns the tensor called name, or nil.
func (m *Model) Param(name string) *Param { return m.ps.byName[name] }

// Counters returns the batch-norm num_batches_tracked values.
func (m *Model) Counters() []*Counter { return m.ps.counters }

// ZeroGrad clears every gradient.
func (m *Model) ZeroGrad() {
	for _, p := range m.ps.list {
		clear(p.Grad)
	}
}

// Count is a parameter count split the way the official optimisers split the network.
type Count struct {
	Encoder, Decoder, Total int
}

// CountParams counts trained values (running statistics excluded), as PyTorch's sum of p.numel() over
// model.parameters().
func (m *Model) CountParams() Count {
	var c Count
	for _, p := range m.ps.list {
		if p.Kind != Weight {
			continue
		}
		if p.Encoder {
			c.Encoder += p.Size()
		} else {
			c.Decoder += p.Size()
		}
	}
	c.Total = c.Encoder + c.Decoder
	return c
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprint(v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
