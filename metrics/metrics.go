// Package metrics scores semantic segmentation the way the CEN paper's evaluation does: one confusion matrix
// accumulated over every frame of a data set or bag (no per-image averaging), then pixel accuracy, mean
// accuracy, mean IoU and per-class IoU from it.
//
// With C the confusion matrix (rows: ground truth, columns: prediction), the scores, all in percent, are
//
//	pixel accuracy = Σ_c C[c][c] / Σ C
//	mean accuracy  = mean over classes present in the ground truth of C[c][c] / Σ_j C[c][j]
//	IoU_c          = C[c][c] / (Σ_j C[c][j] + Σ_i C[i][c] − C[c][c])
//	mean IoU       = mean of IoU_c over classes with a non-zero denominator
//
// so a class that is predicted but absent from the ground truth scores IoU 0 and counts, and a class absent
// from both is left out (the official code's nanmean). Ground-truth pixels whose label is not a class (the
// ignore label 255, or any value ≥ the class count) are not scored, as the official evaluation keeps only
// gt < classes.
package metrics

import (
	"encoding/json"
	"fmt"
	"math"
)

// Label is the element type of a label map.
type Label interface {
	~uint8 | ~uint16 | ~int32 | ~int64 | ~int
}

// Confusion is a K×K confusion matrix: Counts[gt*K + pred] pixels of ground-truth class gt were predicted as
// pred.
type Confusion struct {
	K      int
	Counts []uint64
	// Ignored counts the ground-truth pixels that were not scored (ignore label, or not a class).
	Ignored uint64
}

// NewConfusion returns an empty matrix for k classes.
func NewConfusion(k int) (*Confusion, error) {
	if k < 1 || k > 1<<16 {
		return nil, fmt.Errorf("metrics: %d classes: want 1 to 65536", k)
	}
	return &Confusion{K: k, Counts: make([]uint64, k*k)}, nil
}

// Add accumulates one frame: gt and pred are label maps of the same size. Ground-truth pixels that are not a
// class are counted as Ignored; a prediction that is not a class is an error (a model predicts only its
// classes), and nothing of the frame is counted then.
func Add[G, P Label](c *Confusion, gt []G, pred []P) error {
	if len(gt) != len(pred) {
		return fmt.Errorf("metrics: %d ground-truth pixels but %d predicted", len(gt), len(pred))
	}
	k := uint64(c.K)
	for i, p := range pred {
		if uint64(p) >= k || p < 0 {
			return fmt.Errorf("metrics: prediction %d at pixel %d is not one of the %d classes", int64(p), i, c.K)
		}
	}
	for i, g := range gt {
		if g < 0 || uint64(g) >= k {
			c.Ignored++
			continue
		}
		c.Counts[uint64(g)*k+uint64(pred[i])]++
	}
	return nil
}

// Merge adds o's counts to c.
func (c *Confusion) Merge(o *Confusion) error {
	if o.K != c.K {
		return fmt.Errorf("metrics: cannot merge a %d-class matrix into a %d-class one", o.K, c.K)
	}
	for i, v := range o.Counts {
		c.Counts[i] += v
	}
	c.Ignored += o.Ignored
	return nil
}

// Total is the number of scored pixels.
func (c *Confusion) Total() uint64 {
	var t uint64
	for _, v := range c.Counts {
		t += v
	}
	return t
}

// Scores are the paper's metrics, in percent. NaN marks a value that is undefined (a class absent from both
// ground truth and prediction, or an empty matrix); it is written as null in JSON.
type Scores struct {
	PixelAcc float64 `json:"pixel_acc"`
	MeanAcc  float64 `json:"mean_acc"`
	MIoU     float64 `json:"miou"`
	// PerClassIoU and PerClassAcc (recall) are indexed by class.
	PerClassIoU []float64 `json:"-"`
	PerClassAcc []float64 `json:"-"`
	// Pixels is the number of scored pixels.
	Pixels uint64 `json:"pixels"`
}

// Scores computes the metrics of c.
func (c *Confusion) Scores() Scores {
	k := c.K
	s := Scores{PerClassIoU: make([]float64, k), PerClassAcc: make([]float64, k), Pixels: c.Total()}
	var diag uint64
	var iouSum, accSum float64
	var iouN, accN int
	for i := 0; i < k; i++ {
		var row, col uint64
		for j := 0; j < k; j++ {
			row += c.Counts[i*k+j]
			col += c.Counts[j*k+i]
		}
		tp := c.Counts[i*k+i]
		diag += tp
		s.PerClassAcc[i], s.PerClassIoU[i] = math.NaN(), math.NaN()
		if row > 0 {
			s.PerClassAcc[i] = 100 * float64(tp) / float64(row)
			accSum += s.PerClassAcc[i]
			accN++
		}
		if u := row + col - tp; u > 0 {
			s.PerClassIoU[i] = 100 * float64(tp) / float64(u)
			iouSum += s.PerClassIoU[i]
			iouN++
		}
	}
	s.PixelAcc, s.MeanAcc, s.MIoU = math.NaN(), math.NaN(), math.NaN()
	if s.Pixels > 0 {
		s.PixelAcc = 100 * float64(diag) / float64(s.Pixels)
	}
	if accN > 0 {
		s.MeanAcc = accSum / float64(accN)
	}
	if iouN > 0 {
		s.MIoU = iouSum / float64(iouN)
	}
	return s
}

// MarshalJSON writes the scores with NaN as null and the per-class lists as "per_class_iou" and
// "per_class_acc".
func (s Scores) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		PixelAcc    *float64   `json:"pixel_acc"`
		MeanAcc     *float64   `json:"mean_acc"`
		MIoU        *float64   `json:"miou"`
		PerClassIoU []*float64 `json:"per_class_iou"`
		PerClassAcc []*float64 `json:"per_class_acc"`
		Pixels      uint64     `json:"pixels"`
	}{nullable(s.PixelAcc), nullable(s.MeanAcc), nullable(s.MIoU), nullables(s.PerClassIoU), nullables(s.PerClassAcc), s.Pixels})
}

func nullable(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func nullables(v []float64) []*float64 {
	out := make([]*float64, len(v))
	for i, x := range v {
		out[i] = nullable(x)
	}
	return out
}
