package ort

import (
	"fmt"
	"math/rand/v2"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// TimeFile runs any ONNX model with float32 inputs of fixed shapes (not only cen's: `cen bench onnx` times
// the reference network exported by torch.onnx.export with it) on random inputs (a free batch axis: 1), on the CPU with the given
// intra-op threads (0: ONNX Runtime's default) and full graph optimisation, and returns the time of each of
// iters runs after warmup untimed ones.
func TimeFile(path, library string, threads, warmup, iters int) ([]time.Duration, error) {
	if _, err := Load(library); err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	so, err := sessionOptions(Options{IntraOpThreads: threads})
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	var inNames, outNames []string
	var inputs []ort.Value
	defer func() {
		for _, v := range inputs {
			v.Destroy()
		}
	}()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, in := range ins {
		if in.DataType != ort.TensorElementDataTypeFloat {
			return nil, fmt.Errorf("%s: input %q is %v, not float32", path, in.Name, in.DataType)
		}
		if len(in.Dimensions) > 0 && in.Dimensions[0] <= 0 {
			in.Dimensions[0] = 1 // a free batch: one frame
		}
		for _, d := range in.Dimensions {
			if d <= 0 {
				return nil, fmt.Errorf("%s: input %q has the free shape %v: export it at a fixed size", path, in.Name, in.Dimensions)
			}
		}
		data := make([]float32, in.Dimensions.FlattenedSize())
		for i := range data {
			data[i] = float32(rng.NormFloat64())
		}
		t, err := ort.NewTensor(in.Dimensions, data)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, t)
		inNames = append(inNames, in.Name)
	}
	for _, o := range outs {
		outNames = append(outNames, o.Name)
	}
	s, err := ort.NewDynamicAdvancedSession(path, inNames, outNames, so)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer s.Destroy()
	times := make([]time.Duration, 0, iters)
	for i := 0; i < warmup+iters; i++ {
		outputs := make([]ort.Value, len(outNames))
		t0 := time.Now()
		if err := s.Run(inputs, outputs); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if i >= warmup {
			times = append(times, time.Since(t0))
		}
		for _, v := range outputs {
			v.Destroy()
		}
	}
	return times, nil
}
