package cen

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// int8 export: the fp32 graph of ONNXModel with QuantizeLinear/DequantizeLinear (QDQ) pairs around every
// convolution, which ONNX Runtime fuses into QLinearConv and runs with its integer kernels (u8 activations,
// s8 weights; AVX2, AVX512-VNNI, ARM dot products).
//
//   - Weights: symmetric int8 with one scale per output channel (the axis-0 DequantizeLinear), in ±63
//     ("reduce range", as ONNX Runtime's own quantizer does for x86 without VNNI: AVX2's u8×s8 multiply-add
//     sums two products into a saturating int16, and 255·63·2 still fits where 255·127·2 does not).
//   - Bias: int32 at the scale input scale × weight scale, so the integer kernel adds it exactly.
//   - Activations: asymmetric uint8 per tensor, from the ranges a calibration measured (QuantTargets lists the
//     tensors, cen/ort.TensorRanges measures them). A convolution's output is quantized after its ReLU, whose
//     zero point is then 0, and ONNX Runtime folds the ReLU into the quantization.
//
//   - Max pools: their inputs and outputs are quantized too, the output with its input's parameters, so that
//     ONNX Runtime drops the pair and pools the uint8 data.
//   - Sums of two quantized tensors are quantized (ONNX Runtime's QLinearAdd). In lite-r18's chained residual
//     pooling at 480×640 this and the pools cut the time outside the convolutions by 36 % (ONNX Runtime's
//     profile: 150 → 96 ms; the whole network 383 → 310 ms, best of four), at no cost in mIoU on the shipped
//     model. Where a ReLU alone reads a sum, the ReLU's output is quantized instead, as for a convolution, and
//     the ReLU folds into QLinearAdd (lite-r18 int8 405 → 373 ms, medians of five interleaved runs).
//
// The rest (the channel exchange, resizing, the labels head) stays float32, between a DequantizeLinear and the
// next QuantizeLinear.

// Metadata key of a quantized model.
const MetaQuantization = "cen.quantization" // "int8-qdq" (absent: float32)

// QuantTargets returns the activation tensors the int8 export quantizes: each convolution's input and its
// output (after its ReLU when the convolution feeds only a ReLU), each max pool's input and output, in graph
// order, then the sums of two of those (after the ReLU, likewise: a quantized sum read by a ReLU left
// dequantize → ReLU → quantize in float around each residual unit of lite-r18's decoder, 5 % of its int8 time).
func QuantTargets(mp *onnx.ModelProto) []string {
	g := mp.Graph
	consumers := map[string][]*onnx.NodeProto{}
	for _, n := range g.Node {
		for _, in := range n.Input {
			consumers[in] = append(consumers[in], n)
		}
	}
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	inits := map[string]bool{}
	for _, t := range g.Initializer {
		inits[t.Name] = true
	}
	// afterReLU is the ReLU's output when a ReLU alone reads y: quantized there, zero point 0, ONNX Runtime
	// folds the ReLU into the producer's integer kernel.
	afterReLU := func(y string) string {
		if c := consumers[y]; len(c) == 1 && c[0].OpType == "Relu" {
			return c[0].Output[0]
		}
		return y
	}
	for _, n := range g.Node {
		switch {
		case n.OpType == "Conv" && len(n.Input) >= 2 && inits[n.Input[1]]:
			add(n.Input[0])
			add(afterReLU(n.Output[0]))
		case n.OpType == "MaxPool" && len(n.Output) == 1:
			// Pooled in uint8 (QuantizeQDQ gives the output its input's scale, so ONNX Runtime drops the pair).
			add(n.Input[0])
			add(n.Output[0])
		}
	}
	// A sum of two quantized tensors is quantized too, in graph order so that chains of sums are (ONNX
	// Runtime then adds in uint8, QLinearAdd).
	for _, n := range g.Node {
		if n.OpType == "Add" && len(n.Input) == 2 && seen[n.Input[0]] && seen[n.Input[1]] {
			add(afterReLU(n.Output[0])) // the ReLU folds into QLinearAdd
		}
	}
	return out
}

// WithOutputs returns a copy of mp that also outputs the named tensors (float32, shape left to the runtime),
// for measuring them.
func WithOutputs(mp *onnx.ModelProto, names []string) *onnx.ModelProto {
	src := mp.Graph
	g := &onnx.GraphProto{Name: src.Name, Node: src.Node, Initializer: src.Initializer, Input: src.Input, ValueInfo: src.ValueInfo,
		Output: append([]*onnx.ValueInfoProto(nil), src.Output...)}
	have := map[string]bool{}
	for _, o := range g.Output {
		have[o.Name] = true
	}
	for _, n := range names {
		if !have[n] {
			g.Output = append(g.Output, &onnx.ValueInfoProto{Name: n, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
				TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_FLOAT)}}}})
			have[n] = true
		}
	}
	return &onnx.ModelProto{IrVersion: mp.IrVersion, OpsetImport: mp.OpsetImport, ProducerName: mp.ProducerName, Graph: g}
}

// Range is the interval a calibration saw a tensor take.
type Range struct{ Min, Max float32 }

// QuantizeQDQ rewrites mp (an fp32 export) into the int8 QDQ model described above, with the activation ranges
// of every tensor QuantTargets lists. frames is the number of calibration frames, recorded in the metadata.
func QuantizeQDQ(mp *onnx.ModelProto, ranges map[string]Range, frames int) error {
	g := mp.Graph
	targets := QuantTargets(mp)
	type qparams struct {
		scale float32
		zp    uint8
	}
	act := map[string]qparams{}
	for _, t := range targets {
		r, ok := ranges[t]
		if !ok {
			return fmt.Errorf("int8: no calibration range for tensor %q", t)
		}
		if math.IsNaN(float64(r.Min)) || math.IsNaN(float64(r.Max)) || math.IsInf(float64(r.Min), 0) || math.IsInf(float64(r.Max), 0) {
			return fmt.Errorf("int8: tensor %q took non-finite values during calibration (%g … %g)", t, r.Min, r.Max)
		}
		lo, hi := min(r.Min, 0), max(r.Max, 0) // zero must be exact: padding and ReLU produce it
		scale := (hi - lo) / 255
		if scale == 0 {
			scale = 1
		}
		zp := math.Round(float64(-lo / scale))
		act[t] = qparams{scale, uint8(min(max(zp, 0), 255))}
	}
	// A max pool's output takes its input's parameters: it holds some of the input's values, and with equal
	// parameters ONNX Runtime runs the pool on the uint8 data.
	for _, n := range g.Node {
		if n.OpType == "MaxPool" && len(n.Output) == 1 {
			if q, ok := act[n.Input[0]]; ok {
				if _, ok := act[n.Output[0]]; ok {
					act[n.Output[0]] = q
				}
			}
		}
	}
	inits := map[string]*onnx.TensorProto{}
	for _, t := range g.Initializer {
		inits[t.Name] = t
	}
	var nodes []*onnx.NodeProto
	var newInits []*onnx.TensorProto
	scalarF := func(name string, v float32) string {
		newInits = append(newInits, floatTensor(name, nil, []float32{v}))
		return name
	}
	// Q→DQ after the producer of each target; consumers read the DequantizeLinear's output.
	rename := map[string]string{}
	insertQDQ := func(t string) {
		q := act[t]
		s := scalarF(t+".q_scale", q.scale)
		zp := t + ".q_zero_point"
		newInits = append(newInits, &onnx.TensorProto{Name: zp, DataType: int32(onnx.TensorProto_UINT8), RawData: []byte{q.zp}})
		nodes = append(nodes,
			&onnx.NodeProto{OpType: "QuantizeLinear", Name: "n_" + t + ".q", Input: []string{t, s, zp}, Output: []string{t + ".q"}},
			&onnx.NodeProto{OpType: "DequantizeLinear", Name: "n_" + t + ".dq", Input: []string{t + ".q", s, zp}, Output: []string{t + ".dq"}})
		rename[t] = t + ".dq"
	}
	for _, in := range g.Input {
		if _, ok := act[in.Name]; ok {
			insertQDQ(in.Name)
		}
	}
	quantW := map[string][]float32{} // per-channel scales of the weights already quantized, by int8 name
	for _, n := range g.Node {
		for i, in := range n.Input {
			if r, ok := rename[in]; ok {
				n.Input[i] = r
			}
		}
		if n.OpType == "Conv" && len(n.Input) >= 2 && inits[n.Input[1]] != nil {
			xs, ok := act[targetOf(n.Input[0])]
			if !ok {
				return fmt.Errorf("int8: convolution %s reads %q, which was not calibrated", n.Name, n.Input[0])
			}
			w := inits[n.Input[1]]
			wname := w.Name + ".int8"
			ws, done := quantW[wname] // the modalities' decoder branches share their weights: quantized once
			if !done {
				var wq []byte
				var err error
				if wq, ws, err = quantWeights(w); err != nil {
					return fmt.Errorf("int8: %s: %w", w.Name, err)
				}
				quantW[wname] = ws
				newInits = append(newInits,
					&onnx.TensorProto{Name: wname, Dims: w.Dims, DataType: int32(onnx.TensorProto_INT8), RawData: wq},
					floatTensor(wname+".scale", []int64{int64(len(ws))}, ws),
					&onnx.TensorProto{Name: wname + ".zero_point", Dims: []int64{int64(len(ws))}, DataType: int32(onnx.TensorProto_INT8), RawData: make([]byte, len(ws))})
			}
			cout := len(ws)
			dqw := n.Name + ".w_dq"
			nodes = append(nodes, &onnx.NodeProto{OpType: "DequantizeLinear", Name: "n_" + dqw, Input: []string{wname, wname + ".scale", wname + ".zero_point"},
				Output: []string{dqw}, Attribute: []*onnx.AttributeProto{attrInt("axis", 0)}})
			n.Input[1] = dqw
			if len(n.Input) > 2 && n.Input[2] != "" {
				b := inits[n.Input[2]]
				if b == nil {
					return fmt.Errorf("int8: convolution %s has a bias %q that is not a constant", n.Name, n.Input[2])
				}
				bv, err := floatsOf(b)
				if err != nil {
					return err
				}
				bs := make([]float32, cout)
				bq := make([]byte, 4*cout)
				for o := 0; o < cout; o++ {
					bs[o] = xs.scale * ws[o]
					v := math.Round(float64(bv[o] / bs[o]))
					binary.LittleEndian.PutUint32(bq[4*o:], uint32(int32(min(max(v, math.MinInt32), math.MaxInt32))))
				}
				bname := n.Name + ".bias_int32"
				newInits = append(newInits,
					&onnx.TensorProto{Name: bname, Dims: []int64{int64(cout)}, DataType: int32(onnx.TensorProto_INT32), RawData: bq},
					floatTensor(bname+".scale", []int64{int64(cout)}, bs),
					&onnx.TensorProto{Name: bname + ".zero_point", Dims: []int64{int64(cout)}, DataType: int32(onnx.TensorProto_INT32), RawData: make([]byte, 4*cout)})
				dqb := bname + ".dq"
				nodes = append(nodes, &onnx.NodeProto{OpType: "DequantizeLinear", Name: "n_" + dqb, Input: []string{bname, bname + ".scale", bname + ".zero_point"},
					Output: []string{dqb}, Attribute: []*onnx.AttributeProto{attrInt("axis", 0)}})
				n.Input[2] = dqb
			}
		}
		nodes = append(nodes, n)
		for _, o := range n.Output {
			if _, ok := act[o]; ok {
				insertQDQ(o)
			}
		}
	}
	// Graph outputs keep their float tensors: a consumer was renamed, the output itself was not.
	// Drop the float weights no node reads any more.
	used := map[string]bool{}
	for _, n := range nodes {
		for _, in := range n.Input {
			used[in] = true
		}
	}
	var keep []*onnx.TensorProto
	for _, t := range g.Initializer {
		if used[t.Name] {
			keep = append(keep, t)
		}
	}
	g.Initializer = append(keep, newInits...)
	g.Node = nodes
	setMeta(mp, MetaQuantization, "int8-qdq")
	setMeta(mp, "cen.quantization_frames", fmt.Sprint(frames))
	return nil
}

// targetOf maps a renamed tensor (t.dq) back to its target name.
func targetOf(name string) string {
	const suffix = ".dq"
	if len(name) > len(suffix) && name[len(name)-len(suffix):] == suffix {
		return name[:len(name)-len(suffix)]
	}
	return name
}

// quantWeights returns the int8 weights (±63) of a float32 [Cout, ...] initializer and the scale per output
// channel.
func quantWeights(w *onnx.TensorProto) ([]byte, []float32, error) {
	v, err := floatsOf(w)
	if err != nil {
		return nil, nil, err
	}
	if len(w.Dims) == 0 || w.Dims[0] <= 0 || len(v)%int(w.Dims[0]) != 0 {
		return nil, nil, fmt.Errorf("weights of shape %v", w.Dims)
	}
	cout := int(w.Dims[0])
	per := len(v) / cout
	q := make([]byte, len(v))
	scales := make([]float32, cout)
	for o := 0; o < cout; o++ {
		var m float32
		for _, x := range v[o*per : (o+1)*per] {
			m = max(m, float32(math.Abs(float64(x))))
		}
		s := m / 63
		if s == 0 {
			s = 1
		}
		scales[o] = s
		for i, x := range v[o*per : (o+1)*per] {
			r := math.Round(float64(x / s))
			q[o*per+i] = byte(int8(min(max(r, -63), 63)))
		}
	}
	return q, scales, nil
}

func floatsOf(t *onnx.TensorProto) ([]float32, error) {
	if t.DataType != int32(onnx.TensorProto_FLOAT) {
		return nil, fmt.Errorf("initializer %s is not float32", t.Name)
	}
	if len(t.RawData) > 0 {
		v := make([]float32, len(t.RawData)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
		}
		return v, nil
	}
	return t.FloatData, nil
}

func floatTensor(name string, dims []int64, v []float32) *onnx.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_FLOAT), RawData: raw}
}

// Metadata returns the value of mp's metadata entry key, or "".
func Metadata(mp *onnx.ModelProto, key string) string {
	for _, e := range mp.MetadataProps {
		if e.Key == key {
			return e.Value
		}
	}
	return ""
}

// setMeta sets one metadata entry, keeping the entries sorted by key.
func setMeta(mp *onnx.ModelProto, key, value string) {
	for _, e := range mp.MetadataProps {
		if e.Key == key {
			e.Value = value
			return
		}
	}
	mp.MetadataProps = append(mp.MetadataProps, &onnx.StringStringEntryProto{Key: key, Value: value})
	sort.Slice(mp.MetadataProps, func(i, j int) bool { return mp.MetadataProps[i].Key < mp.MetadataProps[j].Key })
}
