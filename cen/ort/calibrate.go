package ort

import (
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/cen-ros/cen/cen"
)

// TensorRanges runs the fp32 model mp on ONNX Runtime's CPU provider over calibration frames and returns the
// range each named tensor took (cen.QuantTargets lists the ones the int8 export needs). next returns one
// frame's inputs, one [1, 3, h, w] slice per graph input in order, and false when there are no more; the
// number of frames run is returned too.
func TensorRanges(mp *onnx.ModelProto, names []string, h, w int, threads int, library string, next func() ([][]float32, bool, error)) (map[string]cen.Range, int, error) {
	if _, err := Load(library); err != nil {
		return nil, 0, err
	}
	data, err := proto.Marshal(cen.WithOutputs(mp, names))
	if err != nil {
		return nil, 0, err
	}
	so, err := sessionOptions(Options{IntraOpThreads: threads})
	if err != nil {
		return nil, 0, err
	}
	defer so.Destroy()
	var inNames []string
	for _, in := range mp.Graph.Input {
		inNames = append(inNames, in.Name)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(data, inNames, names, so)
	if err != nil {
		return nil, 0, fmt.Errorf("calibration session: %w", err)
	}
	defer s.Destroy()
	ranges := make(map[string]cen.Range, len(names))
	for _, n := range names {
		ranges[n] = cen.Range{Min: float32(math.Inf(1)), Max: float32(math.Inf(-1))}
	}
	frames := 0
	for {
		in, ok, err := next()
		if err != nil {
			return nil, frames, err
		}
		if !ok {
			break
		}
		if len(in) != len(inNames) {
			return nil, frames, fmt.Errorf("calibration frame %d has %d inputs, the model takes %d", frames, len(in), len(inNames))
		}
		inputs := make([]ort.Value, len(in))
		for i, x := range in {
			t, err := ort.NewTensor(ort.NewShape(1, 3, int64(h), int64(w)), x)
			if err != nil {
				return nil, frames, err
			}
			inputs[i] = t
		}
		outputs := make([]ort.Value, len(names))
		err = s.Run(inputs, outputs)
		for _, v := range inputs {
			v.Destroy()
		}
		if err != nil {
			return nil, frames, fmt.Errorf("calibration frame %d: %w", frames, err)
		}
		for i, v := range outputs {
			if t, ok := v.(*ort.Tensor[float32]); ok {
				r := ranges[names[i]]
				for _, x := range t.GetData() {
					r.Min, r.Max = min(r.Min, x), max(r.Max, x)
				}
				ranges[names[i]] = r
			}
			v.Destroy()
		}
		frames++
	}
	if frames == 0 {
		return nil, 0, fmt.Errorf("calibration: no frames")
	}
	return ranges, frames, nil
}
