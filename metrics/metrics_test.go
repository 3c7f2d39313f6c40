package metrics

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

type fixture struct {
	Name        string     `json:"name"`
	Classes     int        `json:"classes"`
	GT          []int      `json:"gt"`
	Pred        []int      `json:"pred"`
	Confusion   []uint64   `json:"confusion"`
	PixelAcc    *float64   `json:"pixel_acc"`
	MeanAcc     *float64   `json:"mean_acc"`
	MIoU        *float64   `json:"miou"`
	PerClassIoU []*float64 `json:"per_class_iou"`
	PerClassAcc []*float64 `json:"per_class_acc"`
	Ignored     uint64     `json:"ignored"`
}

func same(got float64, want *float64) bool {
	if want == nil {
		return math.IsNaN(got)
	}
	return math.Abs(got-*want) <= 1e-9*math.Max(1, math.Abs(*want))
}

// TestScoresMatchNumPyReference compares the confusion matrix and every score with the NumPy computation of
// the paper's formulas in testdata/gen_scores.py (absent classes, ignored pixels, classes predicted but absent
// from the ground truth, an all-ignored frame, random 40-class frames).
func TestScoresMatchNumPyReference(t *testing.T) {
	b, err := os.ReadFile("testdata/scores.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []fixture
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 5 {
		t.Fatalf("%d fixture cases", len(cases))
	}
	for _, fx := range cases {
		t.Run(fx.Name, func(t *testing.T) {
			c, err := NewConfusion(fx.Classes)
			if err != nil {
				t.Fatal(err)
			}
			// Two halves accumulated separately and merged: one matrix over frames, as the paper.
			h := len(fx.GT) / 2
			if err := Add(c, fx.GT[:h], fx.Pred[:h]); err != nil {
				t.Fatal(err)
			}
			d, _ := NewConfusion(fx.Classes)
			if err := Add(d, fx.GT[h:], fx.Pred[h:]); err != nil {
				t.Fatal(err)
			}
			if err := c.Merge(d); err != nil {
				t.Fatal(err)
			}
			for i, v := range fx.Confusion {
				if c.Counts[i] != v {
					t.Fatalf("confusion[%d] = %d, NumPy %d", i, c.Counts[i], v)
				}
			}
			if c.Ignored != fx.Ignored {
				t.Errorf("ignored %d, NumPy %d", c.Ignored, fx.Ignored)
			}
			s := c.Scores()
			if !same(s.PixelAcc, fx.PixelAcc) || !same(s.MeanAcc, fx.MeanAcc) || !same(s.MIoU, fx.MIoU) {
				t.Errorf("pixel %v mean %v miou %v; NumPy %v %v %v", s.PixelAcc, s.MeanAcc, s.MIoU, deref(fx.PixelAcc), deref(fx.MeanAcc), deref(fx.MIoU))
			}
			for k := range fx.PerClassIoU {
				if !same(s.PerClassIoU[k], fx.PerClassIoU[k]) || !same(s.PerClassAcc[k], fx.PerClassAcc[k]) {
					t.Errorf("class %d: IoU %v acc %v; NumPy %v %v", k, s.PerClassIoU[k], s.PerClassAcc[k], deref(fx.PerClassIoU[k]), deref(fx.PerClassAcc[k]))
				}
			}
			// JSON carries undefined values as null and round-trips the rest.
			js, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var back fixture
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			if !same(s.MIoU, back.MIoU) || len(back.PerClassIoU) != fx.Classes || !same(s.PerClassIoU[0], back.PerClassIoU[0]) {
				t.Errorf("JSON %s", js)
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return "NaN"
	}
	return *p
}

// TestHandComputedScores spells out one small case: class 2 is absent from both (left out of the means),
// class 3 is predicted once but absent from the ground truth (IoU 0, counted).
func TestHandComputedScores(t *testing.T) {
	c, _ := NewConfusion(4)
	gt := []uint8{0, 0, 1, 1, 255}
	pred := []uint8{0, 3, 1, 0, 2}
	if err := Add(c, gt, pred); err != nil {
		t.Fatal(err)
	}
	s := c.Scores()
	// rows: 0 → {0:1, 3:1}; 1 → {1:1, 0:1}. IoU0 = 1/(2+2-1) = 1/3, IoU1 = 1/(2+1-1) = 1/2, IoU3 = 0.
	want := (100.0/3 + 50 + 0) / 3
	if math.Abs(s.MIoU-want) > 1e-9 || math.Abs(s.PixelAcc-50) > 1e-9 || math.Abs(s.MeanAcc-50) > 1e-9 {
		t.Fatalf("scores %+v, want mIoU %v, pixel 50, mean 50", s, want)
	}
	if !math.IsNaN(s.PerClassIoU[2]) || s.PerClassIoU[3] != 0 || c.Ignored != 1 {
		t.Fatalf("per-class IoU %v, ignored %d", s.PerClassIoU, c.Ignored)
	}
}

func TestAddRefusesWhatCannotBeScored(t *testing.T) {
	c, _ := NewConfusion(3)
	for _, tc := range []struct {
		gt, pred []uint16
		want     string
	}{
		{[]uint16{0, 1}, []uint16{0}, "2 ground-truth pixels but 1 predicted"},
		{[]uint16{0, 1}, []uint16{0, 3}, "prediction 3 at pixel 1 is not one of the 3 classes"},
	} {
		if err := Add(c, tc.gt, tc.pred); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
	if c.Total() != 0 {
		t.Fatalf("a refused frame was counted: %v", c.Counts)
	}
	if _, err := NewConfusion(0); err == nil {
		t.Fatal("0 classes accepted")
	}
	d, _ := NewConfusion(4)
	if err := c.Merge(d); err == nil {
		t.Fatal("merging matrices of different sizes")
	}
}
