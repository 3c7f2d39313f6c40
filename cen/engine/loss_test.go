package engine

import (
	"math"
	"testing"
)

func TestCrossEntropyHandComputed(t *testing.T) {
	const ignore = 255
	tests := []struct {
		name    string
		logits  []float32 // [1, 2, 1, 2]: class planes of two pixels
		labels  []uint16
		loss    float64
		dlogits []float32
	}{
		{"uniform logits give ln 2", []float32{0, 0, 0, 0}, []uint16{0, 1}, math.Ln2, []float32{-0.25, 0.25, 0.25, -0.25}},
		{"ignored pixel is skipped", []float32{0, 5, 0, -3}, []uint16{0, ignore}, math.Ln2, []float32{-0.5, 0, 0.5, 0}},
		{"all ignored gives zero", []float32{1, 2, 3, 4}, []uint16{ignore, ignore}, 0, []float32{0, 0, 0, 0}},
		{"large logits stay finite", []float32{1000, 0, 1000 + float32(math.Log(3)), 0}, []uint16{1, 0}, (math.Log(4/3.0) + math.Ln2) / 2,
			[]float32{0.125, -0.25, -0.125, 0.25}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loss, d := CrossEntropy(TensorFrom(1, 2, 1, 2, tt.logits), tt.labels, ignore)
			if math.Abs(loss-tt.loss) > 1e-5 {
				t.Errorf("loss %v, want %v", loss, tt.loss)
			}
			assertClose(t, "dlogits", d.Data, tt.dlogits, 1e-5)
		})
	}
}

func TestCrossEntropyGradientMatchesFiniteDifferences(t *testing.T) {
	rng := newRNG(60)
	x := randTensor(rng, 2, 5, 3, 4)
	for i := range x.Data {
		x.Data[i] *= 3
	}
	labels := make([]uint16, 2*3*4)
	for i := range labels {
		labels[i] = uint16(rng.IntN(5))
		if i%5 == 0 {
			labels[i] = 255
		}
	}
	_, d := CrossEntropy(x, labels, 255)
	f := func() float64 {
		l, _ := CrossEntropy(x, labels, 255)
		return l
	}
	checkGrad(t, "dlogits", x.Data, d.Data, f, 1e-2, 1e-2, rng)
}
