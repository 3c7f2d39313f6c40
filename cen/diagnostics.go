package cen

// StageSparsity is the paper's exchange diagnostic for one encoder stage: of the γ under the L1 penalty (each
// modality's own slice of every exchanging batch norm), how many are below the threshold θ and so replaced by
// the other modalities' channels.
type StageSparsity struct {
	Stage     int // 1..4 (layer1..layer4)
	Penalised int
	Below     int
	// BelowAll counts every channel below θ, penalised or not (the official test covers all channels).
	BelowAll, Channels int
}

// Fraction is Below / Penalised.
func (s StageSparsity) Fraction() float64 {
	if s.Penalised == 0 {
		return 0
	}
	return float64(s.Below) / float64(s.Penalised)
}

// Sparsity returns the diagnostic per stage.
func (m *Model) Sparsity() []StageSparsity {
	out := make([]StageSparsity, 4)
	M, th := m.cfg.M(), m.cfg.Threshold
	for i := range out {
		out[i].Stage = i + 1
	}
	for _, x := range m.ExchangeBNs() {
		s := &out[x.Stage-1]
		for mod := 0; mod < M; mod++ {
			lo, hi := mod*x.C/M, (mod+1)*x.C/M
			for c := 0; c < x.C; c++ {
				g := x.Gamma[mod*x.C+c]
				below := g < th && g > -th
				s.Channels++
				if below {
					s.BelowAll++
				}
				if c >= lo && c < hi {
					s.Penalised++
					if below {
						s.Below++
					}
				}
			}
		}
	}
	return out
}
