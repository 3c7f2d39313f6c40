package infer

import (
	"fmt"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/cen/engine"
	"github.com/cen-ros/cen/cen/ort"
	"github.com/cen-ros/cen/preprocess"
)

// engineBackend runs a checkpoint on the Go engine.
type engineBackend struct {
	m           *cen.Model
	perModality bool
}

func openCheckpoint(path string, conf Conf) (*Model, error) {
	switch d := normDevice(conf.Device); d {
	case "auto", "cpu":
	default:
		return nil, fmt.Errorf("%s is a checkpoint: it runs on the Go engine (cpu), not %s; export it to ONNX (`cen export`) to run on a GPU", path, d)
	}
	eo := conf.Engine
	if conf.Threads > 0 {
		eo.Threads = conf.Threads
	}
	if err := engine.Configure(eo); err != nil {
		return nil, err
	}
	m, ck, err := cen.LoadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	return engineModel(path, m, ck.Recipe, conf)
}

// NewEngine runs a network held in memory (a training run's, for validation) on the Go engine, exactly as
// Open runs a checkpoint: through its recipe, with the same preprocessing and post-processing. The network
// must not be trained while the Model is in use. Conf.Engine is not applied: the caller owns the engine's
// settings.
func NewEngine(m *cen.Model, conf Conf) (*Model, error) {
	switch d := normDevice(conf.Device); d {
	case "auto", "cpu":
	default:
		return nil, fmt.Errorf("a network in memory runs on the Go engine (cpu), not %s", d)
	}
	em, err := engineModel("(in memory)", m, m.Recipe(), conf)
	if err != nil {
		return nil, err
	}
	return em.prepare()
}

func engineModel(path string, m *cen.Model, r cen.Recipe, conf Conf) (*Model, error) {
	cfg := m.Config()
	spec, err := recipeSpec(path, r)
	if err != nil {
		return nil, err
	}
	if spec, err = sizeFor(path, spec, conf, true); err != nil {
		return nil, err
	}
	info := Info{Path: path, Format: "checkpoint", Arch: cfg.Arch, Width: cfg.Width, Classes: cfg.Classes,
		Modalities: cfg.Modalities, Threshold: cfg.Threshold, ClassNames: r.ClassNames, Palette: r.Palette,
		Dataset: r.Dataset, Spec: spec, Dynamic: true, Version: r.Version, Backend: "go-engine", Device: "cpu",
		GFLOPs: m.ConvFLOPs(1, spec.Height, spec.Width) / 1e9}
	logf(conf, "%s: %s on the Go engine (%d threads), %dx%d", path, cfg.Arch, engine.Threads(), spec.Width, spec.Height)
	return &Model{info: info, conf: conf, run: &engineBackend{m: m, perModality: conf.PerModality}}, nil
}

func (b *engineBackend) run(inputs [][]float32, h, w int, out *netResult) error {
	ts := make([]*engine.Tensor, len(inputs))
	for i, x := range inputs {
		ts[i] = engine.TensorFrom(1, 3, h, w, x)
	}
	o, err := b.m.Forward(ts)
	if err != nil {
		return err
	}
	e := o.Ensemble
	out.lh, out.lw = e.H, e.W
	out.logits = append(out.logits[:0], e.Data...)
	if err := labelsFromLogits(e.Data, e.C, e.H, e.W, h, w, &out.labels, &out.confidence); err != nil {
		return err
	}
	out.perMod = out.perMod[:0]
	if b.perModality {
		for _, l := range o.Logits {
			out.perMod = append(out.perMod, l.Data)
		}
	}
	return nil
}

func (b *engineBackend) close() error { return nil }

// onnxBackend runs an exported model in ONNX Runtime.
type onnxBackend struct {
	s   *ort.Session
	res ort.Result
}

func openONNX(path string, conf Conf) (*Model, error) {
	o := conf.ORT
	o.Device = conf.Device
	if conf.Threads > 0 {
		o.IntraOpThreads = conf.Threads
	}
	if conf.Logger != nil {
		o.Logger = conf.Logger
	}
	// The warm-up runs at the size asked for; 0 lets the session take its recipe's size.
	o.WarmupHeight, o.WarmupWidth = conf.Height, conf.Width
	s, err := ort.Open(path, o)
	if err != nil {
		return nil, err
	}
	m, err := onnxModel(path, conf, s)
	if err != nil {
		s.Close()
		return nil, err
	}
	return m, nil
}

func onnxModel(path string, conf Conf, s *ort.Session) (*Model, error) {
	mi := s.Info()
	spec, err := recipeSpec(path, mi.Recipe)
	if err != nil {
		return nil, err
	}
	if !mi.Dynamic() && (spec.Height != mi.InputHeight || spec.Width != mi.InputWidth) {
		return nil, fmt.Errorf("%s: its preprocessing is %dx%d but its graph takes %dx%d inputs", path, spec.Width, spec.Height, mi.InputWidth, mi.InputHeight)
	}
	if spec, err = sizeFor(path, spec, conf, mi.Dynamic()); err != nil {
		return nil, err
	}
	if conf.PerModality && !mi.PerModality {
		return nil, fmt.Errorf("%s has no per-modality outputs: export it with `cen export --per-modality`", path)
	}
	r := mi.Recipe
	info := Info{Path: path, Format: "onnx", Arch: mi.Arch, Width: mi.Width, Classes: mi.Classes,
		Modalities: mi.Modalities, Threshold: mi.Threshold, ClassNames: r.ClassNames, Palette: preprocess.Palette(r.Palette),
		Dataset: r.Dataset, Spec: spec, Dynamic: mi.Dynamic(), Version: r.Version, Backend: "onnxruntime",
		Device: s.Device(), RuntimeVersion: ort.Version(), GFLOPs: mi.GFLOPsAt(spec.Height, spec.Width),
		Conv3x3: mi.Metadata[cen.MetaConv3x3]}
	if info.Conv3x3 == "" {
		info.Conv3x3 = cen.ConvPlain
	}
	return &Model{info: info, conf: conf, run: &onnxBackend{s: s}}, nil
}

func (b *onnxBackend) run(inputs [][]float32, h, w int, out *netResult) error {
	if err := b.s.Run(inputs, 1, h, w, &b.res); err != nil {
		return err
	}
	r := &b.res
	// The graph's own arg-max and confidence (bicubic logits, as the official evaluation): the ONNX Runtime
	// path's one step from logits to labels.
	out.labels = append(out.labels[:0], r.Labels...)
	out.confidence = append(out.confidence[:0], r.Confidence...)
	out.logits = append(out.logits[:0], r.Logits...)
	out.lh, out.lw = r.LogitsHeight, r.LogitsWidth
	out.perMod = append(out.perMod[:0], r.PerModality...)
	return nil
}

func (b *onnxBackend) close() error { return b.s.Close() }
