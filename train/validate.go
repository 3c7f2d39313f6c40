package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/internal/atomicfile"
	"github.com/cen-ros/cen/internal/plot"
	"github.com/cen-ros/cen/metrics"
	"github.com/cen-ros/cen/preprocess"
)

// Validation follows the paper's evaluation (cen-reference §4): every validation frame at the recipe's size
// (full resolution for the official recipe), logits upsampled bicubically before the arg-max, one confusion
// matrix per output (each modality's and the ensemble's) over the whole set. The ensemble's mIoU picks
// best.ckpt. It runs through the inference library, exactly as `cen eval` and the node segment.

// scores is one validation's result per output.
type scores struct {
	Epoch   int              `json:"epoch"`
	Outputs []string         `json:"outputs"` // modality names, then "ensemble"
	Scores  []metrics.Scores `json:"scores"`
	// Sparsity is, per encoder stage, the fraction of penalised γ below θ (the paper's diagnostic).
	Sparsity []float64 `json:"gamma_below_theta"`
}

func (r *run) validate(epoch int) error {
	sc, confs, err := r.score()
	if err != nil {
		return err
	}
	sc.Epoch = epoch
	for _, s := range r.model.Sparsity() {
		sc.Sparsity = append(sc.Sparsity, s.Fraction())
	}
	ens := sc.Scores[len(sc.Scores)-1]
	var parts []string
	for i, o := range sc.Outputs {
		parts = append(parts, fmt.Sprintf("%s %.1f", o, sc.Scores[i].MIoU))
	}
	r.log(fmt.Sprintf("epoch %d validation: mIoU %s (pixel acc %.1f, mean acc %.1f)", epoch, strings.Join(parts, ", "), ens.PixelAcc, ens.MeanAcc))
	r.write(map[string]any{"kind": "validation", "epoch": epoch, "step": r.st.Step, "outputs": sc.Outputs, "scores": sc.Scores,
		"gamma_below_theta": sc.Sparsity})
	r.history.addVal(sc)
	if !math.IsNaN(ens.MIoU) && (ens.MIoU > r.st.BestMIoU || r.st.BestEpoch == 0) {
		r.st.BestMIoU, r.st.BestEpoch = ens.MIoU, epoch
		if err := r.save(filepath.Join(r.conf.Out, BestCheckpoint)); err != nil {
			return err
		}
		if err := plot.Confusion(filepath.Join(r.conf.Out, "confusion.png"), fmt.Sprintf("ensemble, epoch %d (%% of each ground-truth class)", epoch),
			r.classes.Names, confs[len(confs)-1].Counts); err != nil {
			return err
		}
	}
	return r.history.plot(r.conf.Out)
}

// score runs the validation set through the model.
func (r *run) score() (*scores, []*metrics.Confusion, error) {
	m, err := infer.NewEngine(r.model, infer.Conf{PerModality: len(r.conf.Modalities) > 1})
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	ev, err := Evaluate(m, r.valSet, r.conf.ValFrames, nil, 0)
	if err != nil {
		return nil, nil, err
	}
	sc := &scores{Outputs: ev.Outputs}
	for _, c := range ev.Confusions {
		sc.Scores = append(sc.Scores, c.Scores())
	}
	return sc, ev.Confusions, nil
}

// Evaluation is a model's result on a data set, with the paper's protocol.
type Evaluation struct {
	// Outputs names the scored outputs: each modality's (when the model gives them), then "ensemble"; a
	// unimodal network has its one output.
	Outputs []string
	// Confusions holds one matrix per output, over all frames.
	Confusions []*metrics.Confusion
	// Latencies are the times of the inference path per frame, in milliseconds.
	Latencies []float64
	// Samples are the first frames with the ensemble's labels, for reports.
	Samples []EvalSample
}

// EvalSample is one evaluated frame.
type EvalSample struct {
	Sample
	Pred []uint16
}

// Evaluate scores m on the first limit frames of ds (0: all) with the paper's evaluation protocol: each frame
// at the model's recipe (full resolution for the official one), bicubic logits then arg-max, one confusion
// matrix per output over all frames. progress, when not nil, is called after each frame; keep frames are
// kept as samples. Per-modality outputs are scored when m was opened with Conf.PerModality.
func Evaluate(m *infer.Model, ds Dataset, limit int, progress func(done, total int), keep int) (*Evaluation, error) {
	info := m.Info()
	k := info.Classes
	if len(ds.Classes().Names) != k {
		return nil, fmt.Errorf("eval: the data set has %d classes, the model %d", len(ds.Classes().Names), k)
	}
	ev := &Evaluation{}
	perMod := false
	n := ds.Len()
	if limit > 0 {
		n = min(n, limit)
	}
	var res infer.Result
	for i := 0; i < n; i++ {
		s, err := ds.Load(i)
		if err != nil {
			return nil, err
		}
		if err := m.Segment(infer.Frame{RGB: s.RGB, Depth: s.Depth, View: s.View}, &res); err != nil {
			return nil, fmt.Errorf("eval: %s: %w", s.Name, err)
		}
		if ev.Outputs == nil {
			perMod = len(res.Modalities) > 1
			if perMod {
				ev.Outputs = append(ev.Outputs, info.Modalities...)
			}
			ev.Outputs = append(ev.Outputs, "ensemble")
			if len(info.Modalities) == 1 {
				ev.Outputs = []string{info.Modalities[0]}
			}
			for range ev.Outputs {
				c, _ := metrics.NewConfusion(k)
				ev.Confusions = append(ev.Confusions, c)
			}
		}
		if err := metrics.Add(ev.Confusions[len(ev.Confusions)-1], s.Labels, res.Labels); err != nil {
			return nil, err
		}
		if perMod {
			for j := range info.Modalities {
				if err := metrics.Add(ev.Confusions[j], s.Labels, res.Modalities[j]); err != nil {
					return nil, err
				}
			}
		}
		ev.Latencies = append(ev.Latencies, float64(res.Timings.Total().Microseconds())/1e3)
		if len(ev.Samples) < keep {
			ev.Samples = append(ev.Samples, EvalSample{Sample: s, Pred: append([]uint16(nil), res.Labels...)})
		}
		if progress != nil {
			progress(i+1, n)
		}
	}
	if ev.Outputs == nil {
		return nil, fmt.Errorf("eval: no frame to evaluate")
	}
	return ev, nil
}

// finish ends a completed run: the best model exported to ONNX, and sample overlays of it.
func (r *run) finish(sum *Summary) error {
	best := filepath.Join(r.conf.Out, BestCheckpoint)
	m, _, err := cen.LoadCheckpoint(best)
	if err != nil {
		return err
	}
	out := filepath.Join(r.conf.Out, ExportFile)
	spec := r.conf.Spec
	if err := atomicfile.Write(out, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		if err := m.ExportONNX(bw, cen.ExportOptions{Height: spec.Height, Width: spec.Width, PerModality: true}); err != nil {
			return err
		}
		return bw.Flush()
	}); err != nil {
		return fmt.Errorf("train: exporting %s: %w", out, err)
	}
	sum.Export = out
	r.log(fmt.Sprintf("best: epoch %d, ensemble mIoU %.2f; exported %s", r.st.BestEpoch, r.st.BestMIoU, out))
	return r.samples(m)
}

// samples writes samples.png: validation frames with their ground truth and the best model's labels.
func (r *run) samples(m *cen.Model) error {
	im, err := infer.NewEngine(m, infer.Conf{})
	if err != nil {
		return err
	}
	defer im.Close()
	var rows [][]image.Image
	var res infer.Result
	for i := 0; i < min(4, r.valSet.Len()); i++ {
		s, err := r.valSet.Load(i * max(1, r.valSet.Len()/4))
		if err != nil {
			return err
		}
		if err := im.Segment(infer.Frame{RGB: s.RGB, Depth: s.Depth, View: s.View}, &res); err != nil {
			return err
		}
		var gt, pred, over preprocess.RGBImage
		pal := r.classes.Palette
		if err := preprocess.Colorize(&gt, s.Labels, s.RGB.Width, s.RGB.Height, pal); err != nil {
			return err
		}
		if err := preprocess.Colorize(&pred, res.Labels, res.Width, res.Height, pal); err != nil {
			return err
		}
		if err := preprocess.Overlay(&over, s.RGB, pred, 0.5); err != nil {
			return err
		}
		rows = append(rows, []image.Image{rgbImage(s.RGB), depthImage(s.Depth), rgbImage(gt), rgbImage(pred), rgbImage(over)})
	}
	return plot.Panel(filepath.Join(r.conf.Out, "samples.png"), []string{"colour", "depth", "ground truth", "prediction", "overlay"}, rows)
}

func rgbImage(m preprocess.RGBImage) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, m.Width, m.Height))
	for i := 0; i < m.Width*m.Height; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = m.Pix[3*i], m.Pix[3*i+1], m.Pix[3*i+2], 255
	}
	return img
}

// depthImage shades depth from near (light) to far (dark); invalid pixels are black.
func depthImage(d preprocess.DepthImage) image.Image {
	img := image.NewGray(image.Rect(0, 0, d.Width, d.Height))
	var hi float32
	for _, v := range d.Pix {
		hi = max(hi, v)
	}
	for i, v := range d.Pix {
		if v > 0 && hi > 0 {
			img.Pix[i] = uint8(255 - 200*v/hi)
		}
	}
	return img
}

// history is what the plots show, rebuilt from log.jsonl when a run resumes.
type history struct {
	names []string // the outputs: the modalities, then "ensemble"
	steps []float64
	loss  [][]float64 // per output CE, then the total
	vals  []scores
}

func (h *history) addStep(step int, l *cen.Loss) {
	h.steps = append(h.steps, float64(step))
	row := append(append([]float64(nil), l.CE...), l.Total)
	h.loss = append(h.loss, row)
}

func (h *history) addVal(s *scores) { h.vals = append(h.vals, *s) }

// load reads the history of a run's log up to step (the checkpoint a run resumes from) and rewrites the log
// without the lines of later steps.
func (h *history) load(path string, step int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("train: %w", err)
	}
	var keep []byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e struct {
			Kind string    `json:"kind"`
			Step int       `json:"step"`
			Loss float64   `json:"loss"`
			CE   []float64 `json:"ce"`
			L1   float64   `json:"l1"`
			scores
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Step > step {
			continue
		}
		keep = append(append(keep, sc.Bytes()...), '\n')
		switch e.Kind {
		case "step":
			h.addStep(e.Step, &cen.Loss{CE: e.CE, Total: e.Loss, L1: e.L1})
		case "validation":
			h.addVal(&e.scores)
		}
	}
	if len(keep) == len(b) {
		return nil
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { _, err := w.Write(keep); return err })
}

// plot writes the run's curves: losses, validation scores per output, and the fraction of γ below θ.
func (h *history) plot(dir string) error {
	if len(h.steps) > 0 && len(h.loss[0]) > 0 {
		var ss []plot.Series
		for j := range h.loss[0] {
			s := plot.Series{Name: "total (with L1)"}
			if j < len(h.loss[0])-1 && j < len(h.names) {
				s.Name = "cross-entropy " + h.names[j]
			}
			for i := range h.steps {
				if j < len(h.loss[i]) {
					s.X, s.Y = append(s.X, h.steps[i]), append(s.Y, h.loss[i][j])
				}
			}
			ss = append(ss, s)
		}
		if err := plot.Lines(filepath.Join(dir, "loss.png"), "training loss", "step", "loss", ss); err != nil {
			return err
		}
	}
	if len(h.vals) == 0 {
		return nil
	}
	for _, metric := range []struct{ key, title string }{{"miou", "mean IoU (%)"}, {"pixel_acc", "pixel accuracy (%)"}, {"mean_acc", "mean accuracy (%)"}} {
		var ss []plot.Series
		for j, o := range h.vals[0].Outputs {
			s := plot.Series{Name: o}
			for _, v := range h.vals {
				if j >= len(v.Scores) {
					continue
				}
				val := map[string]float64{"miou": v.Scores[j].MIoU, "pixel_acc": v.Scores[j].PixelAcc, "mean_acc": v.Scores[j].MeanAcc}[metric.key]
				s.X, s.Y = append(s.X, float64(v.Epoch)), append(s.Y, val)
			}
			ss = append(ss, s)
		}
		if err := plot.Lines(filepath.Join(dir, metric.key+".png"), "validation "+metric.title, "epoch", metric.title, ss); err != nil {
			return err
		}
	}
	var ss []plot.Series
	for stage := range h.vals[0].Sparsity {
		s := plot.Series{Name: fmt.Sprintf("layer%d", stage+1)}
		for _, v := range h.vals {
			if stage < len(v.Sparsity) {
				s.X, s.Y = append(s.X, float64(v.Epoch)), append(s.Y, 100*v.Sparsity[stage])
			}
		}
		ss = append(ss, s)
	}
	if len(ss) > 0 {
		return plot.Lines(filepath.Join(dir, "gamma.png"), "penalised γ below θ", "epoch", "% of channels", ss)
	}
	return nil
}
