// Package cen is the Channel-Exchanging Network (Wang et al., "Deep Multimodal Fusion by Channel Exchanging",
// NeurIPS 2020, https://arxiv.org/abs/2011.05005) for RGB-D semantic segmentation: the architectures, their
// parameters and names, checkpoint files, import of the official PyTorch checkpoints, and the forward and
// backward passes on the Go compute engine (cen/engine).
//
// The M modalities (RGB, depth, ...) share every convolution and keep private batch-norm layers. They run as one
// batch of M·N samples, modality-major. After the batch norm that follows each residual block's middle 3×3
// convolution (bn2 of a bottleneck, bn1 of a basic block), channel c of modality m is replaced by the mean of
// the other modalities' channel c when |γ_m,c| < θ (paper Eq. 6; for M = 2 the official swap). The decoder
// (RefineNet with 3×3 convolutions, as the official code) produces per-modality logits, and the output is
// Σ_m softmax(α)_m · logits_m with the logits detached, as the official code does.
package cen

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Config fixes a network: architecture, modalities, classes and width. It travels inside checkpoints.
type Config struct {
	// Arch is one of Archs(): refinenet-r50/r101/r152 (the paper's) or lite-r18/r34 (basic-block encoder,
	// 1×1 light decoder).
	Arch string `json:"arch"`
	// Modalities names the inputs in batch order; the official models are ["rgb", "depth"].
	Modalities []string `json:"modalities"`
	// Classes is the number of output classes (40 for NYUDv2, 37 for SUN RGB-D).
	Classes int `json:"classes"`
	// Width multiplies every channel count (1 = the paper's network); small widths keep tests fast with the
	// same structure and names.
	Width float64 `json:"width"`
	// Threshold is θ of the exchange: a channel is replaced when |γ| < Threshold. The official value is 2e-2.
	Threshold float32 `json:"threshold"`
	// Lambda weighs the L1 penalty on the γ sub-parts. The official value is 2e-4; the official loss counts
	// the penalty once per output (M+1 times), and so does Loss.
	Lambda float32 `json:"lambda"`
	// Dropout is the probability of the three dropout layers in training (0.5 officially).
	Dropout float32 `json:"dropout"`
	// Penalty says which γ of each exchanging batch norm the L1 penalty covers: "disjoint" (or "", the paper's:
	// modality m's m-th of M channel slices) or "all" (every channel of every modality: the ablation row of
	// the paper's Table 1 "exchange with L1 on all channels").
	Penalty string `json:"penalty,omitempty"`
}

// Penalty modes of Config.Penalty.
const (
	PenaltyDisjoint = "disjoint"
	PenaltyAll      = "all"
)

// DefaultConfig is the paper's NYUDv2 set-up for arch: RGB + depth, 40 classes, full width, θ = 2e-2,
// λ = 2e-4, dropout 0.5.
func DefaultConfig(arch string) Config {
	return Config{Arch: arch, Modalities: []string{"rgb", "depth"}, Classes: 40, Width: 1,
		Threshold: 2e-2, Lambda: 2e-4, Dropout: 0.5}
}

// M is the number of modalities.
func (c Config) M() int { return len(c.Modalities) }

// archSpec is the shape of one architecture.
type archSpec struct {
	basic     bool   // basic blocks (ResNet-18/34) instead of bottlenecks
	blocks    [4]int // residual blocks per stage
	decKernel int    // decoder convolution size (classifier is always 3×3)
	decTop    int    // decoder width at the lowest resolution (before Width)
	dec       int    // decoder width elsewhere (before Width)
}

var archs = map[string]archSpec{
	"refinenet-r50":  {blocks: [4]int{3, 4, 6, 3}, decKernel: 3, decTop: 512, dec: 256},
	"refinenet-r101": {blocks: [4]int{3, 4, 23, 3}, decKernel: 3, decTop: 512, dec: 256},
	"refinenet-r152": {blocks: [4]int{3, 8, 36, 3}, decKernel: 3, decTop: 512, dec: 256},
	"lite-r18":       {basic: true, blocks: [4]int{2, 2, 2, 2}, decKernel: 1, decTop: 256, dec: 128},
	"lite-r34":       {basic: true, blocks: [4]int{3, 4, 6, 3}, decKernel: 1, decTop: 256, dec: 128},
}

// Archs lists the architecture names.
func Archs() []string {
	names := make([]string, 0, len(archs))
	for n := range archs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	if _, ok := archs[c.Arch]; !ok {
		return fmt.Errorf("unknown architecture %q (known: %s)", c.Arch, strings.Join(Archs(), ", "))
	}
	if c.M() < 1 {
		return fmt.Errorf("a network needs at least one modality")
	}
	seen := map[string]bool{}
	for _, m := range c.Modalities {
		if m == "" || seen[m] {
			return fmt.Errorf("modality names must be unique and non-empty, got %q", c.Modalities)
		}
		seen[m] = true
	}
	if c.Classes < 1 {
		return fmt.Errorf("classes must be at least 1, got %d", c.Classes)
	}
	if !(c.Width > 0 && c.Width <= 4) {
		return fmt.Errorf("width multiplier must be in (0, 4], got %g", c.Width)
	}
	if c.Penalty != "" && c.Penalty != PenaltyDisjoint && c.Penalty != PenaltyAll {
		return fmt.Errorf("L1 penalty %q: use %s or %s", c.Penalty, PenaltyDisjoint, PenaltyAll)
	}
	if c.Threshold < 0 || c.Lambda < 0 || c.Dropout < 0 || c.Dropout >= 1 {
		return fmt.Errorf("threshold and lambda must be >= 0 and dropout in [0, 1): got %g, %g, %g", c.Threshold, c.Lambda, c.Dropout)
	}
	return nil
}

// ch scales a channel count by the width multiplier: max(1, floor(c·w + 0.5)).
func (c Config) ch(n int) int {
	v := int(math.Floor(float64(n)*c.Width + 0.5))
	if v < 1 {
		return 1
	}
	return v
}

// StageChannels returns the encoder's output channels at strides 4, 8, 16 and 32.
func (c Config) StageChannels() [4]int {
	a := archs[c.Arch]
	exp := 4
	if a.basic {
		exp = 1
	}
	var out [4]int
	for i, p := range [4]int{64, 128, 256, 512} {
		out[i] = exp * c.ch(p)
	}
	return out
}
