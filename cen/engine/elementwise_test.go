package engine

import (
	"testing"
)

func TestReLUZeroesNegatives(t *testing.T) {
	x := TensorFrom(1, 1, 1, 4, []float32{-1, 0, 2, -0.5})
	want := []float32{0, 0, 2, 0}
	assertClose(t, "ReLU", ReLU(x).Data, want, 0)
	ReLUInPlace(x)
	assertClose(t, "ReLUInPlace", x.Data, want, 0)
}

func TestReLUBackwardPassesGradientWhereOutputPositive(t *testing.T) {
	y := TensorFrom(1, 1, 1, 3, []float32{0, 1, 2})
	dy := TensorFrom(1, 1, 1, 3, []float32{5, 6, 7})
	assertClose(t, "dx", ReLUBackward(y, dy).Data, []float32{0, 6, 7}, 0)
}

func TestReLUBackwardMatchesFiniteDifferences(t *testing.T) {
	rng := newRNG(20)
	x := randTensor(rng, 2, 3, 4, 5)
	// Keep inputs away from the kink at 0 so the finite difference is exact.
	for i, v := range x.Data {
		if v >= 0 {
			x.Data[i] = v + 0.1
		} else {
			x.Data[i] = v - 0.1
		}
	}
	r := randSlice(rng, x.Len(), -1, 1)
	dx := ReLUBackward(ReLU(x), TensorFrom(2, 3, 4, 5, r))
	checkGrad(t, "dx", x.Data, dx.Data, func() float64 { return weighted(ReLU(x), r) }, 1e-2, 1e-3, rng)
}

func TestAddSumsElementwise(t *testing.T) {
	a := TensorFrom(1, 1, 1, 3, []float32{1, 2, 3})
	b := TensorFrom(1, 1, 1, 3, []float32{10, 20, 30})
	assertClose(t, "Add", Add(a, b).Data, []float32{11, 22, 33}, 0)
	AddInPlace(a, b)
	assertClose(t, "AddInPlace", a.Data, []float32{11, 22, 33}, 0)
}

func TestDropoutScalesKeptValuesAndIsDeterministic(t *testing.T) {
	x := NewTensor(1, 1, 100, 100)
	for i := range x.Data {
		x.Data[i] = 1
	}
	tests := []struct {
		name     string
		p        float32
		keep     float32
		fraction [2]float64
	}{
		{"p 0 keeps everything", 0, 1, [2]float64{1, 1}},
		{"p 0.5 doubles half", 0.5, 2, [2]float64{0.47, 0.53}},
		{"p 0.25 keeps three quarters", 0.25, 4.0 / 3, [2]float64{0.72, 0.78}},
		{"p 1 drops everything", 1, 0, [2]float64{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y, mask := Dropout(x, tt.p, newRNG(5))
			y2, _ := Dropout(x, tt.p, newRNG(5))
			kept := 0
			for i, v := range y.Data {
				if v != 0 && v != tt.keep || v != mask.At(i) || v != y2.Data[i] {
					t.Fatalf("element %d: y %v mask %v repeat %v, keep scale %v", i, v, mask.At(i), y2.Data[i], tt.keep)
				}
				if v != 0 {
					kept++
				}
			}
			f := float64(kept) / float64(len(y.Data))
			if f < tt.fraction[0] || f > tt.fraction[1] {
				t.Errorf("kept fraction %v, want in %v", f, tt.fraction)
			}
		})
	}
}

func TestDropoutBackwardMatchesFiniteDifferences(t *testing.T) {
	rng := newRNG(21)
	x := randTensor(rng, 2, 3, 4, 5)
	r := randSlice(rng, x.Len(), -1, 1)
	_, mask := Dropout(x, 0.3, newRNG(9))
	dx := DropoutBackward(mask, TensorFrom(2, 3, 4, 5, r))
	f := func() float64 {
		y, _ := Dropout(x, 0.3, newRNG(9)) // same seed, same mask
		return weighted(y, r)
	}
	checkGrad(t, "dx", x.Data, dx.Data, f, 1e-2, 1e-3, rng)
}
