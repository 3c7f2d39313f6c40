// Package train trains CEN: data sets, augmentation, the training loop with the official schedule, logging
// and plots. The network, its loss and gradients come from cen/; the inputs from preprocess/.
package train

import (
	"fmt"

	"github.com/cen-ros/cen/cen"
)

// SGD is stochastic gradient descent with momentum and weight decay, with PyTorch's update rule (which the
// official recipe uses): d = g + wd·w; b = μ·b + d (b = d on the first step); w -= lr·b. The encoder (stem and
// layer1–4) and the decoder (everything else, α included) have their own learning rates, as in the official
// two-optimiser set-up.
type SGD struct {
	EncoderLR, DecoderLR float32
	Momentum             float32
	WeightDecay          float32

	params []*cen.Param
	buf    map[string][]float32
}

// OfficialSGD returns the optimiser of the official recipe's first stage: learning rates 5e-4 (encoder) and
// 3e-3 (decoder), momentum 0.9, weight decay 1e-5 on every parameter (batch-norm γ/β and α included).
func OfficialSGD(m *cen.Model) *SGD {
	return NewSGD(m, 5e-4, 3e-3, 0.9, 1e-5)
}

// NewSGD returns an optimiser over m's trained parameters.
func NewSGD(m *cen.Model, encLR, decLR, momentum, wd float32) *SGD {
	s := &SGD{EncoderLR: encLR, DecoderLR: decLR, Momentum: momentum, WeightDecay: wd, buf: map[string][]float32{}}
	for _, p := range m.Params() {
		if p.Kind == cen.Weight {
			s.params = append(s.params, p)
		}
	}
	return s
}

// Step applies one update from the gradients in Param.Grad.
func (s *SGD) Step() {
	for _, p := range s.params {
		lr := s.DecoderLR
		if p.Encoder {
			lr = s.EncoderLR
		}
		b, ok := s.buf[p.Name]
		if !ok {
			b = make([]float32, len(p.Data))
			s.buf[p.Name] = b
		}
		mu, wd := s.Momentum, s.WeightDecay
		for i, g := range p.Grad {
			d := g + wd*p.Data[i]
			if ok {
				b[i] = mu*b[i] + d
			} else {
				b[i] = d
			}
			p.Data[i] -= lr * b[i]
		}
	}
}

// State returns the momentum buffers keyed "momentum.<param>", for a checkpoint.
func (s *SGD) State() map[string][]float32 {
	out := make(map[string][]float32, len(s.buf))
	for k, v := range s.buf {
		out["momentum."+k] = v
	}
	return out
}

// Restore sets the momentum buffers from State's output (a resumed run continues where it stopped).
func (s *SGD) Restore(state map[string][]float32) error {
	sizes := map[string]int{}
	for _, p := range s.params {
		sizes[p.Name] = len(p.Data)
	}
	for k, v := range state {
		name, ok := cutPrefix(k, "momentum.")
		if !ok {
			continue
		}
		n, known := sizes[name]
		if !known || n != len(v) {
			return fmt.Errorf("momentum buffer %s does not match the network", name)
		}
		s.buf[name] = append([]float32(nil), v...)
	}
	return nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}
