package engine

import (
	"fmt"
	"math"
)

// CrossEntropy returns the mean pixel cross-entropy of logits [N, K, H, W]
// against labels (N*H*W values, row-major per sample) and its gradient with
// respect to the logits. Pixels labelled ignore are skipped; the mean is over
// the others, and with none left the loss and gradient are zero. It uses
// log-sum-exp with float64 accumulators. A label other than ignore that is not
// below K panics.
func CrossEntropy(logits *Tensor, labels []uint16, ignore uint16) (loss float64, dlogits *Tensor) {
	n, k, hw := logits.N, logits.C, logits.H*logits.W
	if len(labels) != n*hw {
		panic(fmt.Sprintf("engine: CrossEntropy: %d labels for logits %v", len(labels), logits))
	}
	dlogits = Empty(n, k, logits.H, logits.W)
	valid := 0
	for _, l := range labels {
		if l != ignore {
			if int(l) >= k {
				panic(fmt.Sprintf("engine: CrossEntropy: label %d with %d classes", l, k))
			}
			valid++
		}
	}
	if valid == 0 {
		clear(dlogits.Data)
		return 0, dlogits
	}
	inv := 1 / float64(valid)
	// Tasks are image rows: a row's pixels are contiguous in every class
	// plane, so the class loop walks memory sequentially.
	rows := n * logits.H
	w := logits.W
	parts := make([]float64, rows)
	parallelFor(rows, 3*k*w, func(lo, hi int) {
		mx := make([]float32, w)
		se := make([]float64, w)
		for r := lo; r < hi; r++ {
			s, h := r/logits.H, r%logits.H
			lab := labels[s*hw+h*w : s*hw+(h+1)*w]
			row := func(c int) int { return (s*k+c)*hw + h*w }
			copy(mx, logits.Data[row(0):row(0)+w])
			for c := 1; c < k; c++ {
				for j, v := range logits.Data[row(c) : row(c)+w] {
					if v > mx[j] {
						mx[j] = v
					}
				}
			}
			clear(se)
			for c := 0; c < k; c++ {
				src, dst := logits.Data[row(c):row(c)+w], dlogits.Data[row(c):row(c)+w]
				for j, v := range src {
					e := math.Exp(float64(v - mx[j]))
					se[j] += e
					dst[j] = float32(e)
				}
			}
			var acc float64
			for j, l := range lab {
				if l == ignore {
					for c := 0; c < k; c++ {
						dlogits.Data[row(c)+j] = 0
					}
					continue
				}
				// loss = log Σ exp(z - max) - (z_label - max)
				acc += math.Log(se[j]) - float64(logits.Data[row(int(l))+j]-mx[j])
				scale := inv / se[j]
				for c := 0; c < k; c++ {
					p := float64(dlogits.Data[row(c)+j]) * scale
					if c == int(l) {
						p -= inv
					}
					dlogits.Data[row(c)+j] = float32(p)
				}
			}
			parts[r] = acc
		}
	})
	for _, p := range parts {
		loss += p
	}
	return loss * inv, dlogits
}
