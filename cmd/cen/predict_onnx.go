package main

import (
	"fmt"
	"os"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/cen/engine"
	"github.com/cen-ros/cen/cen/ort"
	"github.com/cen-ros/cen/preprocess"
)

// onnxPredictor runs an exported model through ONNX Runtime, with the preprocessing stored in its metadata.
type onnxPredictor struct {
	s    *ort.Session
	sp   preprocess.Spec
	info *cen.ModelInfo
}

func openONNXPredictor(path, device, ortLib string, threads int) (predictor, error) {
	s, err := ort.Open(path, ort.Options{Library: ortLib, Device: device, IntraOpThreads: threads,
		Logger: func(msg string) { fmt.Fprintln(os.Stderr, msg) }})
	if err != nil {
		return nil, err
	}
	info := s.Info()
	if len(info.Modalities) != 2 {
		s.Close()
		return nil, fmt.Errorf("%s has %d modalities %v; predict feeds RGB and depth", path, len(info.Modalities), info.Modalities)
	}
	sp, err := preprocess.SpecFromMetadata(s.Metadata())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if info.Dynamic() {
		sp.Height, sp.Width = 0, 0 // run at the image's size
	}
	return &onnxPredictor{s: s, sp: sp, info: info}, nil
}

func (o *onnxPredictor) spec() preprocess.Spec { return o.sp }
func (o *onnxPredictor) classes() int          { return o.info.Classes }
func (o *onnxPredictor) classNames() []string  { return o.info.ClassNames }
func (o *onnxPredictor) close()                { o.s.Close() }

func (o *onnxPredictor) predict(in *preprocess.Input) (*prediction, error) {
	h, w := in.Geometry.NetHeight, in.Geometry.NetWidth
	if !o.info.Dynamic() && (h != o.info.InputHeight || w != o.info.InputWidth) {
		return nil, fmt.Errorf("%s takes %dx%d inputs, not %dx%d: drop --height/--width or export with --dynamic", o.s.Path(), o.info.InputWidth, o.info.InputHeight, w, h)
	}
	res, err := o.s.Run([][]float32{in.RGB, in.Depth}, 1, h, w)
	if err != nil {
		return nil, err
	}
	labels := make([]int32, h*w)
	for i := range labels {
		labels[i] = int32(res.Label(i))
	}
	logits := engine.TensorFrom(1, res.Classes, res.LogitsHeight, res.LogitsWidth, append([]float32(nil), res.Logits...))
	return &prediction{logits: logits, labels: labels, confidence: append([]float32(nil), res.Confidence...), width: w, height: h}, nil
}
