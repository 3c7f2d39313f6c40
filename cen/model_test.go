package cen

import (
	"bufio"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cen-ros/cen/cen/engine"
)

// TestParameterCountsMatchThePaper builds every architecture at full width (no weights initialised) and checks
// the parameter counts: the paper's refinenet-r101 has 118,201,578 parameters with 2 modalities and 40 classes,
// refinenet-r50 99,157,226; the others are PyTorch's counts of the reference model (test/fixtures/param_counts.txt).
func TestParameterCountsMatchThePaper(t *testing.T) {
	f, err := os.Open(filepath.Join(fixtures, "param_counts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 7 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		arch := fields[0]
		mods, _ := strconv.Atoi(fields[1])
		classes, _ := strconv.Atoi(fields[2])
		total, _ := strconv.Atoi(fields[3])
		enc, _ := strconv.Atoi(fields[5])
		dec, _ := strconv.Atoi(fields[6])
		cfg := DefaultConfig(arch)
		cfg.Modalities, cfg.Classes = modalityNames(mods), classes
		m, err := newModel(cfg, false)
		if err != nil {
			t.Fatal(err)
		}
		c := m.CountParams()
		if c.Total != total || c.Encoder != enc || c.Decoder != dec {
			t.Errorf("%s M=%d: %d parameters (encoder %d, decoder %d), PyTorch %d (%d, %d)", arch, mods, c.Total, c.Encoder, c.Decoder, total, enc, dec)
		}
		rows++
	}
	if rows != 10 {
		t.Fatalf("read %d rows of param_counts.txt, want 10", rows)
	}
	cfg := DefaultConfig("refinenet-r101")
	m, _ := newModel(cfg, false)
	if got := m.CountParams().Total; got != 118201578 {
		t.Fatalf("refinenet-r101: %d parameters, the paper's network has 118,201,578", got)
	}
}

// lossWithoutEnsemble is the part of the objective whose gradient flows to the network: the ensemble's
// cross-entropy reaches only α, through detached logits, so a finite difference of the total would not match.
func lossWithoutEnsemble(l *Loss) float64 { return l.Total - l.CE[len(l.CE)-1] }

// TestWholeNetworkGradientMatchesFiniteDifferences checks the backward pass of complete small networks (M = 2
// and 3, bottleneck and basic blocks) with a directional derivative: for a random direction v over every
// parameter, (L(θ+εv) − L(θ−εv)) / 2ε must equal ∇L·v.
func TestWholeNetworkGradientMatchesFiniteDifferences(t *testing.T) {
	for _, c := range []struct {
		fixture string
	}{{"r50_m2"}, {"r50_m3"}, {"lite34_m3"}} {
		t.Run(c.fixture, func(t *testing.T) {
			dir := filepath.Join(fixtures, c.fixture)
			m, fc := loadFixture(t, dir)
			in := fixtureInputs(t, dir, fc.Modalities)
			labels := make([]uint16, fc.N*fc.H*fc.W)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range labels {
				labels[i] = uint16(rng.IntN(fc.Classes))
			}
			opt := TrainOptions{NoDropout: true}
			m.ZeroGrad()
			if _, _, err := m.Backward(in, labels, fc.H, fc.W, opt); err != nil {
				t.Fatal(err)
			}
			// Direction: random, scaled to each tensor's magnitude, zero on exchanging γ so no channel crosses θ.
			var dirs [][]float32
			var dot float64
			for _, p := range m.Params() {
				d := make([]float32, len(p.Data))
				if p.Kind == Weight && p.PenaltyHi == 0 && !strings.HasSuffix(p.Name, "alpha") {
					for i := range d {
						d[i] = float32(rng.NormFloat64()) * (0.05 + float32(math.Abs(float64(p.Data[i]))))
						dot += float64(d[i]) * float64(p.Grad[i])
					}
				}
				dirs = append(dirs, d)
			}
			eval := func(eps float32) float64 {
				for k, p := range m.Params() {
					for i, d := range dirs[k] {
						p.Data[i] += eps * d
					}
				}
				l, _, err := m.Backward(in, labels, fc.H, fc.W, opt)
				for k, p := range m.Params() {
					for i, d := range dirs[k] {
						p.Data[i] -= eps * d
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				return lossWithoutEnsemble(l)
			}
			const eps = 1e-3
			fd := (eval(eps) - eval(-eps)) / (2 * eps)
			if math.Abs(fd-dot) > 2e-2*math.Abs(dot) {
				t.Fatalf("directional derivative: backward %.6g, finite difference %.6g", dot, fd)
			}
			t.Logf("directional derivative: backward %.6g, finite difference %.6g", dot, fd)
		})
	}
}

func TestForwardRejectsBadInputs(t *testing.T) {
	m := smallModel(t, "lite-r18", 2, 5, 1.0/16)
	ok := engine.NewTensor(1, 3, 64, 64)
	cases := []struct {
		in   []*engine.Tensor
		want string
	}{
		{[]*engine.Tensor{ok}, "takes 2 modalities"},
		{[]*engine.Tensor{ok, engine.NewTensor(1, 1, 64, 64)}, `input "depth" has 1 channels`},
		{[]*engine.Tensor{ok, engine.NewTensor(1, 3, 64, 48)}, "must have the same size"},
		{[]*engine.Tensor{engine.NewTensor(1, 3, 16, 16), engine.NewTensor(1, 3, 16, 16)}, "at least 1 image of 32×32"},
	}
	for _, c := range cases {
		if _, err := m.Forward(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
	_, _, err := m.Backward([]*engine.Tensor{ok, ok}, make([]uint16, 64*64), 64, 64, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad := make([]uint16, 64*64)
	bad[100] = 9
	if _, _, err := m.Backward([]*engine.Tensor{ok, ok}, bad, 64, 64, TrainOptions{}); err == nil || !strings.Contains(err.Error(), "label 9 at index 100") {
		t.Errorf("error %v for a label out of range", err)
	}
}

// TestConvFLOPsOfTheDesignBudget checks the count the benchmarks divide by: refinenet-r50 at 240×320 with two
// modalities is 287 GFLOP per frame (DESIGN.md).
func TestConvFLOPsOfTheDesignBudget(t *testing.T) {
	m, err := newModel(DefaultConfig("refinenet-r50"), false)
	if err != nil {
		t.Fatal(err)
	}
	if g := m.ConvFLOPs(1, 240, 320) / 1e9; math.Abs(g-287) > 1 {
		t.Fatalf("refinenet-r50 at 240x320: %.1f GFLOP, design budget says 287", g)
	}
	m, _ = newModel(DefaultConfig("refinenet-r101"), false)
	if g := m.ConvFLOPs(1, 480, 640) / 1e12; math.Abs(g-1.24) > 0.01 {
		t.Fatalf("refinenet-r101 at 480x640: %.3f TFLOP, design budget says 1.24", g)
	}
}

// TestPenaltyModesAndL1Count checks the ablation switches of the L1 term: the penalised γ are each modality's
// disjoint slice (the paper) or every channel, and the term is counted M+1 times (the official loop) or once.
func TestPenaltyModesAndL1Count(t *testing.T) {
	for _, tc := range []struct {
		penalty string
		once    bool
	}{{"", false}, {PenaltyAll, false}, {PenaltyDisjoint, true}} {
		cfg := DefaultConfig("lite-r18")
		cfg.Width, cfg.Classes, cfg.Penalty, cfg.Modalities = 1.0/16, 3, tc.penalty, modalityNames(3)
		m, err := New(cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		penalised, channels := 0, 0
		for _, p := range m.Params() {
			penalised += p.PenaltyHi - p.PenaltyLo
		}
		for _, x := range m.ExchangeBNs() {
			channels += len(x.Gamma)
		}
		want := channels / 3 // each modality's third of its own channels
		if tc.penalty == PenaltyAll {
			want = channels
		}
		if d := penalised - want; d < -8 || d > 8 { // integer slices of odd widths
			t.Errorf("penalty %q: %d penalised γ of %d, want about %d", tc.penalty, penalised, channels, want)
		}
		x := []*engine.Tensor{engine.NewTensor(1, 3, 32, 32), engine.NewTensor(1, 3, 32, 32), engine.NewTensor(1, 3, 32, 32)}
		labels := make([]uint16, 32*32)
		loss, _, err := m.Backward(x, labels, 32, 32, TrainOptions{NoDropout: true, L1Once: tc.once})
		if err != nil {
			t.Fatal(err)
		}
		ce := 0.0
		for _, c := range loss.CE {
			ce += c
		}
		count := 4.0 // M + 1 outputs
		if tc.once {
			count = 1
		}
		if got, want := loss.Total-ce, count*float64(cfg.Lambda)*loss.L1; math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Errorf("penalty %q once %v: L1 term %g, want %g", tc.penalty, tc.once, got, want)
		}
		if loss.L1 != float64(penalised) { // γ starts at 1: the sum of |γ| is the count
			t.Errorf("penalty %q: L1 %g over %d penalised γ of value 1", tc.penalty, loss.L1, penalised)
		}
	}
	cfg := DefaultConfig("lite-r18")
	cfg.Penalty = "half"
	if _, err := New(cfg, 1); err == nil || !strings.Contains(err.Error(), `L1 penalty "half"`) {
		t.Errorf("bad penalty mode: %v", err)
	}
}
