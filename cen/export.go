package cen

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/cen-ros/cen/cen/engine"
)

// ONNX versions of the exported file: IR 8 with opset 17 is the newest pair Debian 12's python3-onnx (1.12) can
// check, and ONNX Runtime ≥ 1.14 runs it.
const (
	onnxIRVersion = 8
	onnxOpset     = 17
)

// Names of the graph's outputs. The inputs are named after the modalities (Config.Modalities).
const (
	// OutputLogits is the ensemble's logits [N, K, H/4, W/4] (output stride 4).
	OutputLogits = "logits"
	// OutputLabels is the arg-max class per pixel at input size [N, H, W], of the ensemble's logits upsampled
	// bicubically as the official evaluation does: uint8 when the network has at most 255 classes, else uint16.
	OutputLabels = "labels"
	// OutputConfidence is the largest softmax probability per pixel at input size [N, H, W], float32.
	OutputConfidence = "confidence"
	// OutputModalityPrefix starts the names of the optional per-modality logits ("logits_rgb", ...).
	OutputModalityPrefix = "logits_"
)

// Metadata keys cen writes into a model's metadata_props. The preprocessing parameters (preprocess.Spec) travel
// under their own "preprocess." keys, passed in through ExportOptions.Metadata.
const (
	MetaFormat          = "cen.format"           // version of this metadata layout ("1")
	MetaArch            = "cen.arch"             // architecture, e.g. "refinenet-r101"
	MetaWidth           = "cen.width"            // channel width multiplier (1 = the paper's network)
	MetaClasses         = "cen.classes"          // number of classes
	MetaClassNames      = "cen.class_names"      // JSON list of the class names, in label order
	MetaPalette         = "cen.palette"          // JSON list of [r, g, b] per class (optional)
	MetaModalities      = "cen.modalities"       // JSON list of the modality names = the input names, in order
	MetaInputHeight     = "cen.input_height"     // input height; 0 = any (dynamic model)
	MetaInputWidth      = "cen.input_width"      // input width; 0 = any (dynamic model)
	MetaThreshold       = "cen.threshold"        // exchange threshold θ
	MetaDataset         = "cen.dataset"          // training data set ("" when unknown)
	MetaExporterVersion = "cen.exporter_version" // version of cen that wrote the file
	MetaGFLOPs          = "cen.gflops"           // convolution GFLOP per frame (all modalities) at gflops_height × gflops_width
	MetaGFLOPsHeight    = "cen.gflops_height"
	MetaGFLOPsWidth     = "cen.gflops_width"
	MetaLabelType       = "cen.label_type"       // element type of the labels output: "uint8" or "uint16"
	MetaPerModality     = "cen.per_modality"     // "true" when the per-modality logits are outputs
	MetaEnsembleWeights = "cen.ensemble_weights" // JSON list softmax(α), informational
	MetaOutputStride    = "cen.output_stride"    // 4
	MetaConv3x3         = "cen.conv3x3"          // "winograd" when some 3×3 stride-1 convolutions are written as Winograd, else "plain"
)

// metaFormatVersion is the value of MetaFormat this version writes and reads.
const metaFormatVersion = "1"

// OutputStride is the ratio of input size to logits size (the logits are at the resolution of layer1).
const OutputStride = 4

// ExportOptions configure ExportONNX. Class names, palette, data set and preprocessing come from the model's
// Recipe: set it (SetRecipe) to the input size the model is exported at.
type ExportOptions struct {
	// Height and Width fix the input size (both > 0), unless Dynamic is set.
	Height, Width int
	// Dynamic leaves height and width free (symbolic dimensions); the batch size is always free.
	Dynamic bool
	// PerModality adds each modality's logits as outputs "logits_<modality>".
	PerModality bool
	// Conv3x3 is how the 3×3 stride-1 convolutions are written: ConvPlain (or "") as ONNX Conv nodes, or
	// ConvWinograd as Winograd F(4×4, 3×3) in plain ONNX operators (see winogradConv) where the layer is wide
	// enough to gain, or ConvWinogradAll on every such convolution whatever its size (tests, measurements).
	// Winograd needs a fixed-size model (Dynamic with it is an error).
	Conv3x3 string
	// LogitsOnly stops the graph at the logits, as torch.onnx.export of the network writes it: no labels or
	// confidence at input size. It is for benchmarks against such a file; cen's inference refuses it.
	LogitsOnly bool
}

// The ways ExportOptions.Conv3x3 writes the 3×3 stride-1 convolutions.
const (
	ConvPlain       = "plain"
	ConvWinograd    = "winograd"
	ConvWinogradAll = "winograd-all"
)

// ExportONNX writes the network as a deployable ONNX model (IR 8, opset 17) to w, with its metadata.
//
// The graph follows the same model definition the Go engine runs, with one branch per modality. The decoder
// has no per-modality parameters: its branches share their convolutions' weights, and with Winograd layers
// the modalities run through it as one batch (exportForward says why). In the encoder, each shared
// convolution is applied with that modality's frozen batch norm folded into its weights, so ONNX Runtime fuses
// convolution, bias and ReLU and can use its blocked (NCHWc) kernels (a batched encoder would need an
// unfusable per-modality scale and shift after every convolution). The channel exchange is a Where on a
// constant per-channel mask (the official swap for M = 2; the mean of the other modalities for M > 2), the
// ensemble a weighted sum with softmax(α) as constants. Outputs: OutputLogits, OutputLabels,
// OutputConfidence and, with PerModality, the per-modality logits.
func (m *Model) ExportONNX(w io.Writer, opt ExportOptions) error {
	mp, err := m.ONNXModel(opt)
	if err != nil {
		return err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return fmt.Errorf("encoding the ONNX model: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing the ONNX model: %w", err)
	}
	return nil
}

// ONNXModel builds the ONNX model that ExportONNX writes.
func (m *Model) ONNXModel(opt ExportOptions) (*onnx.ModelProto, error) {
	cfg := m.cfg
	K, M := cfg.Classes, cfg.M()
	if !opt.Dynamic && (opt.Height < 32 || opt.Width < 32) {
		return nil, fmt.Errorf("export: input size %dx%d: height and width must be at least 32 (or export a dynamic model)", opt.Width, opt.Height)
	}
	switch opt.Conv3x3 {
	case "", ConvPlain, ConvWinograd, ConvWinogradAll:
	default:
		return nil, fmt.Errorf("export: 3x3 convolutions %q: use %s, %s or %s", opt.Conv3x3, ConvPlain, ConvWinograd, ConvWinogradAll)
	}
	winograd := opt.Conv3x3 == ConvWinograd || opt.Conv3x3 == ConvWinogradAll
	if winograd && opt.Dynamic {
		return nil, fmt.Errorf("export: 3x3 convolutions %s need a fixed-size model: the Winograd tiles are cut at export", opt.Conv3x3)
	}
	if K > math.MaxUint16 {
		return nil, fmt.Errorf("export: %d classes do not fit 16-bit labels", K)
	}
	if err := m.recipe.Validate(cfg); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	for _, mod := range cfg.Modalities {
		if mod == OutputLogits || mod == OutputLabels || mod == OutputConfidence || strings.HasPrefix(mod, OutputModalityPrefix) {
			return nil, fmt.Errorf("export: modality name %q clashes with an output name", mod)
		}
	}
	// FLOPs are counted at the export size, or at 480×640 for a dynamic model.
	fh, fw := opt.Height, opt.Width
	if opt.Dynamic {
		fh, fw = 480, 640
	}
	gflops := m.ConvFLOPs(1, fh, fw) / 1e9

	b := &onnxBuilder{winograd: winograd, winogradAll: opt.Conv3x3 == ConvWinogradAll}
	inputs := make([]string, M)
	for i, mod := range cfg.Modalities {
		inputs[i] = mod
	}
	x := stream{names: inputs, c: 3, h: opt.Height, w: opt.Width}
	if opt.Dynamic {
		x.h, x.w = 0, 0
	}
	logits := m.exportForward(b, x)

	// Ensemble: Σ softmax(α)_m · logits_m.
	wts := engine.Softmax(m.alpha.Data)
	ens := logits.names[0]
	if M == 1 {
		ens = b.node("Identity", []string{ens}, nil, OutputLogits)
	} else {
		terms := make([]string, M)
		for i, l := range logits.names {
			terms[i] = b.node("Mul", []string{l, b.floats("alpha_soft_"+cfg.Modalities[i], []int64{1}, []float32{wts[i]})}, nil, "")
		}
		ens = b.node("Sum", terms, nil, OutputLogits)
	}

	if opt.LogitsOnly {
		return m.finishModel(b, opt, gflops, K, logits, "", 0, fh, fw, wts)
	}

	// Labels and confidence at input size: bicubic upsampling of the logits (a = -0.75, half-pixel, border
	// clamped: PyTorch's and OpenCV's INTER_CUBIC rule, as the official evaluation resizes logits).
	var up string
	if opt.Dynamic {
		sizes := b.sizesLike(ens, inputs[0])
		up = b.node("Resize", []string{ens, "", "", sizes}, []*onnx.AttributeProto{
			attrString("mode", "cubic"), attrFloat("cubic_coeff_a", -0.75),
			attrString("coordinate_transformation_mode", "half_pixel"), attrInt("exclude_outside", 0),
		}, "")
	} else {
		// With fixed sizes the resize is A_h · logits · A_wᵀ with constant interpolation matrices: two matrix
		// products run about 20× faster in ONNX Runtime than its cubic Resize (887 ms for 40 classes at
		// 480×640 on one core), and give the same values.
		lh, lw := m.OutputSize(opt.Height, opt.Width)
		awT := transpose(engine.BicubicMatrix(lw, opt.Width), opt.Width, lw)
		rows := b.node("MatMul", []string{ens, b.floats("bicubic_width", []int64{int64(lw), int64(opt.Width)}, awT)}, nil, "")
		up = b.node("MatMul", []string{b.floats("bicubic_height", []int64{int64(opt.Height), int64(lh)}, engine.BicubicMatrix(lh, opt.Height)), rows}, nil, "")
	}
	am := b.node("ArgMax", []string{up}, []*onnx.AttributeProto{attrInt("axis", 1), attrInt("keepdims", 0)}, "")
	labelType, labelElem := "uint8", onnx.TensorProto_UINT8
	if K > 255 {
		labelType, labelElem = "uint16", onnx.TensorProto_UINT16
	}
	b.node("Cast", []string{am}, []*onnx.AttributeProto{attrInt("to", int64(labelElem))}, OutputLabels)
	// max softmax probability = 1 / Σ_k exp(u_k − max_k u_k); this avoids a softmax over a non-last axis.
	mx := b.node("ReduceMax", []string{up}, []*onnx.AttributeProto{attrInts("axes", 1), attrInt("keepdims", 1)}, "")
	ex := b.node("Exp", []string{b.node("Sub", []string{up, mx}, nil, "")}, nil, "")
	sum := b.node("ReduceSum", []string{ex, b.ints("axes_1", []int64{1}, []int64{1})}, []*onnx.AttributeProto{attrInt("keepdims", 0)}, "")
	b.node("Reciprocal", []string{sum}, nil, OutputConfidence)
	return m.finishModel(b, opt, gflops, K, logits, labelType, labelElem, fh, fw, wts)
}

// finishModel declares the graph's inputs and outputs (the labels and confidence unless labelType is "") and
// writes the metadata.
func (m *Model) finishModel(b *onnxBuilder, opt ExportOptions, gflops float64, K int, logits stream, labelType string,
	labelElem onnx.TensorProto_DataType, fh, fw int, wts []float32) (*onnx.ModelProto, error) {
	cfg := m.cfg
	// Graph inputs and outputs.
	dimH, dimW := dimOf(opt.Dynamic, opt.Height, "H"), dimOf(opt.Dynamic, opt.Width, "W")
	lh, lw := m.OutputSize(opt.Height, opt.Width)
	dimLH, dimLW := dimOf(opt.Dynamic, lh, "h_out"), dimOf(opt.Dynamic, lw, "w_out")
	batch := dimOf(true, 0, "N")
	g := &onnx.GraphProto{Name: "cen_" + strings.ReplaceAll(cfg.Arch, "-", "_"), Node: b.nodes, Initializer: b.inits,
		DocString: "CEN (Channel-Exchanging Network) RGB-D semantic segmentation, exported by cen"}
	for _, mod := range cfg.Modalities {
		g.Input = append(g.Input, valueInfo(mod, onnx.TensorProto_FLOAT, batch, dimOf(false, 3, ""), dimH, dimW))
	}
	g.Output = append(g.Output, valueInfo(OutputLogits, onnx.TensorProto_FLOAT, batch, dimOf(false, K, ""), dimLH, dimLW))
	if labelType != "" {
		g.Output = append(g.Output, valueInfo(OutputLabels, labelElem, batch, dimH, dimW),
			valueInfo(OutputConfidence, onnx.TensorProto_FLOAT, batch, dimH, dimW))
	}
	if opt.PerModality {
		for i, mod := range cfg.Modalities {
			out := OutputModalityPrefix + mod
			b.node("Identity", []string{logits.names[i]}, nil, out)
			g.Output = append(g.Output, valueInfo(out, onnx.TensorProto_FLOAT, batch, dimOf(false, K, ""), dimLH, dimLW))
		}
		g.Node = b.nodes
	}

	// Metadata: the recipe (class names, palette, data set, preprocessing) and the network's facts.
	md := m.recipe.metadata()
	js := mustJSON
	ih, iw := opt.Height, opt.Width
	if opt.Dynamic {
		ih, iw = 0, 0
	}
	version := Version
	md[MetaFormat] = metaFormatVersion
	md[MetaArch] = cfg.Arch
	md[MetaWidth] = strconv.FormatFloat(cfg.Width, 'g', -1, 64)
	md[MetaClasses] = strconv.Itoa(K)
	md[MetaModalities] = js(cfg.Modalities)
	md[MetaInputHeight] = strconv.Itoa(ih)
	md[MetaInputWidth] = strconv.Itoa(iw)
	md[MetaThreshold] = strconv.FormatFloat(float64(cfg.Threshold), 'g', -1, 32)
	md[MetaExporterVersion] = version
	md[MetaGFLOPs] = strconv.FormatFloat(gflops, 'f', 3, 64)
	md[MetaGFLOPsHeight] = strconv.Itoa(fh)
	md[MetaGFLOPsWidth] = strconv.Itoa(fw)
	md[MetaLabelType] = labelType
	md[MetaPerModality] = strconv.FormatBool(opt.PerModality)
	md[MetaEnsembleWeights] = js(wts)
	md[MetaOutputStride] = strconv.Itoa(OutputStride)
	md[MetaConv3x3] = ConvPlain
	if b.winogradLayers > 0 {
		md[MetaConv3x3] = ConvWinograd
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mp := &onnx.ModelProto{
		IrVersion:       onnxIRVersion,
		OpsetImport:     []*onnx.OperatorSetIdProto{{Domain: "", Version: onnxOpset}},
		ProducerName:    "cen",
		ProducerVersion: version,
		Domain:          "io.github.cen-ros",
		ModelVersion:    1,
		DocString: fmt.Sprintf("CEN %s, %d modalities %v, %d classes: inputs float32 [N,3,H,W] per modality, normalised as the "+
			"preprocess.* metadata says; outputs logits (stride 4), labels and confidence at input size.", cfg.Arch, cfg.M(), cfg.Modalities, K),
		Graph: g,
	}
	for _, k := range keys {
		mp.MetadataProps = append(mp.MetadataProps, &onnx.StringStringEntryProto{Key: k, Value: md[k]})
	}
	return mp, nil
}

// OutputSize returns the size of the logits for an h×w input: the stem convolution and the max pool each halve
// the size, rounding up.
func (m *Model) OutputSize(h, w int) (int, int) { return OutputSize(h, w) }

// OutputSize returns the logits size of every CEN network for an h×w input (see Model.OutputSize).
func OutputSize(h, w int) (int, int) {
	half := func(v int) int { return (v + 1) / 2 }
	return half(half(h)), half(half(w))
}

// transpose returns the cols×rows transpose of the rows×cols matrix a.
func transpose(a []float32, rows, cols int) []float32 {
	t := make([]float32, len(a))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			t[c*rows+r] = a[r*cols+c]
		}
	}
	return t
}

// stream is a tensor per modality, its channel count and its plane size (0×0 in a dynamic model).
type stream struct {
	names []string
	c     int
	h, w  int
}

// exportForward mirrors Model.forward (inference: no dropout) and returns the per-modality logits.
func (m *Model) exportForward(b *onnxBuilder, x stream) stream {
	x = b.conv(m.conv1, m.bn1, x, true)
	x = b.maxPool(x, 3, 2, 1)
	var l [4]stream
	for s, blocks := range m.layers {
		for bi, blk := range blocks {
			x = m.exportBlock(b, blk, x, fmt.Sprintf("layer%d.%d", s+1, bi))
		}
		l[s] = x
	}
	// The decoder has no per-modality parameters. Where none of its convolutions is written as Winograd, each
	// modality runs through it on its own, with the weights shared, as the official code does: ONNX Runtime's
	// CPU convolutions lose speed on a batch of two at the decoder's large planes (lite-r18 at 480×640: its
	// 1×1 128→128 convolutions at 120×160 took 221–246 ms a frame as 15 nodes of batch 2, against 141–152 ms as
	// 30 nodes of batch 1; the network 624–696 ms against 580–591, torch→ORT of the same network, per modality
	// too, 589–602; profiles and interleaved runs, 2 threads). The Winograd graph runs faster as one batch,
	// as the Go engine runs the decoder (refinenet-r50 at 240×320: medians of five interleaved runs 1415 ms
	// batched against 1606 per modality; the plain r50 graph measured the same either way).
	batched := m.decoderWinograd(b, l)
	if batched {
		for s := range l {
			l[s] = b.batch(l[s])
		}
	}
	d := &m.dec
	var up stream
	for s := 0; s < 4; s++ {
		y := b.conv(d.dimred[s], nil, l[3-s], false)
		y = exportRCU(b, d.adapt[s], y)
		if s == 0 {
			y = b.relu(y)
		} else {
			y = b.conv(d.adaptJoint[s], nil, y, false)
			y = b.relu(b.add(y, up))
		}
		y = exportCRP(b, d.pool[s], y)
		y = exportRCU(b, d.mflow[s], y)
		if s < 3 {
			y = b.conv(d.joint[s], nil, y, false)
			up = b.upsample(y, l[2-s])
		} else {
			up = y
		}
	}
	out := b.conv(d.clf, nil, up, false)
	if batched {
		return b.unbatch(out, len(x.names))
	}
	return out
}

// decoderWinograd reports whether b writes any convolution of the decoder as Winograd, given the encoder's
// outputs l (the decoder's stage s runs at the plane of l[3-s]).
func (m *Model) decoderWinograd(b *onnxBuilder, l [4]stream) bool {
	if !b.winograd {
		return false
	}
	wino := false
	m.dec.eachConv(func(s int, c *conv) {
		wino = wino || useWinogradExport(c, c.w.Shape[1], l[3-s].h, l[3-s].w, b.winogradAll)
	})
	return wino
}

// batch concatenates the modalities of x along the batch axis (modality-major, as the Go engine).
func (b *onnxBuilder) batch(x stream) stream {
	if len(x.names) == 1 {
		return x
	}
	return stream{names: []string{b.node("Concat", x.names, []*onnx.AttributeProto{attrInt("axis", 0)}, "")}, c: x.c, h: x.h, w: x.w}
}

// unbatch splits a modality-major batch into m equal parts.
func (b *onnxBuilder) unbatch(x stream, m int) stream {
	if m == 1 {
		return x
	}
	out := stream{c: x.c, h: x.h, w: x.w}
	for i := 0; i < m; i++ {
		out.names = append(out.names, b.fresh("Split"))
	}
	b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "Split", Name: "n_" + out.names[0], Input: x.names, Output: out.names,
		Attribute: []*onnx.AttributeProto{attrInt("axis", 0)}})
	return out
}

func (m *Model) exportBlock(b *onnxBuilder, blk *block, x stream, name string) stream {
	y := x
	last := len(blk.convs) - 1
	for i, c := range blk.convs {
		bn := blk.bns[i]
		if bn.exchange && bn.m > 1 {
			y = b.conv(c, bn, y, false)
			y = b.exchange(bn, m.cfg.Threshold, y, name)
			if i < last {
				y = b.relu(y)
			}
		} else {
			y = b.conv(c, bn, y, i < last)
		}
	}
	res := x
	if blk.down != nil {
		res = b.conv(blk.down, blk.downBN, x, false)
	}
	return b.relu(b.add(y, res))
}

func exportRCU(b *onnxBuilder, r *rcu, x stream) stream {
	for i := range r.a {
		res := b.relu(x)
		y := b.conv(r.b[i], nil, b.conv(r.a[i], nil, res, true), false)
		x = b.add(y, res)
	}
	return x
}

func exportCRP(b *onnxBuilder, p *crp, x stream) stream {
	out, top := x, x
	for _, c := range p.convs {
		top = b.conv(c, nil, b.maxPool(top, 5, 1, 2), false)
		out = b.add(out, top)
	}
	return out
}

// onnxBuilder accumulates the nodes and initializers of a graph.
type onnxBuilder struct {
	nodes  []*onnx.NodeProto
	inits  []*onnx.TensorProto
	seq    int
	shared map[sharedConv][2]string // initializer names of shared convolution weights and bias
	// winograd writes the eligible 3×3 convolutions as Winograd F(4×4, 3×3) (winogradConv).
	winograd, winogradAll bool
	winogradLayers        int               // convolutions written as Winograd
	consts                map[string]string // constants (int64, float32, transform kernels) by key, shared between nodes
}

// sharedConv keys the initializers of a shared convolution: its weights are written once per form.
type sharedConv struct {
	c    *conv
	wino bool
}

func (b *onnxBuilder) fresh(op string) string {
	b.seq++
	return fmt.Sprintf("%s_%d", op, b.seq)
}

// node appends a node with one output, named out ("" for a fresh name), and returns the output name.
func (b *onnxBuilder) node(op string, in []string, attrs []*onnx.AttributeProto, out string) string {
	if out == "" {
		out = b.fresh(op)
	}
	b.nodes = append(b.nodes, &onnx.NodeProto{OpType: op, Name: "n_" + out, Input: in, Output: []string{out}, Attribute: attrs})
	return out
}

func (b *onnxBuilder) floats(name string, dims []int64, data []float32) string {
	b.inits = append(b.inits, floatTensor(name, dims, data))
	return name
}

func (b *onnxBuilder) ints(name string, dims []int64, data []int64) string {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	b.inits = append(b.inits, &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_INT64), RawData: raw})
	return name
}

func (b *onnxBuilder) bools(name string, dims []int64, data []bool) string {
	raw := make([]byte, len(data))
	for i, v := range data {
		if v {
			raw[i] = 1
		}
	}
	b.inits = append(b.inits, &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_BOOL), RawData: raw})
	return name
}

// conv applies c to every modality. With a batch norm, each modality gets its own copy of the weights with its
// batch norm folded in; without, all modalities share one initializer. relu fuses the following ReLU.
func (b *onnxBuilder) conv(c *conv, bn *bn, x stream, relu bool) stream {
	cout, cin, k := c.cout, c.w.Shape[1], c.spec.KH
	s := c.spec
	attrs := []*onnx.AttributeProto{
		attrInts("kernel_shape", int64(k), int64(k)), attrInts("strides", int64(s.Stride), int64(s.Stride)),
		attrInts("pads", int64(s.Pad), int64(s.Pad), int64(s.Pad), int64(s.Pad)), attrInts("dilations", 1, 1), attrInt("group", 1),
	}
	wdims := []int64{int64(cout), int64(cin), int64(k), int64(k)}
	base := strings.TrimSuffix(c.w.Name, ".weight")
	out := stream{names: make([]string, len(x.names)), c: cout}
	if x.h > 0 {
		out.h, out.w = s.OutSize(x.h, x.w)
	}
	wino := b.winograd && useWinogradExport(c, cin, x.h, x.w, b.winogradAll)
	for i, in := range x.names {
		var wn, bname string
		if bn == nil {
			if b.shared == nil {
				b.shared = map[sharedConv][2]string{}
			}
			key := sharedConv{c, wino}
			names, ok := b.shared[key]
			if !ok {
				if wino {
					names[0] = b.floats(c.w.Name+".winograd", []int64{wgPoints, int64(cout), int64(cin)}, winogradWeights(c.w.Data, cout, cin))
				} else {
					names[0] = b.floats(c.w.Name, wdims, c.w.Data)
				}
				if c.b != nil {
					biasName := c.b.Name
					if wino {
						biasName += ".winograd" // distinct from the plain form's, should a network use both
					}
					names[1] = b.floats(biasName, []int64{int64(cout)}, c.b.Data)
				}
				b.shared[key] = names
			}
			wn, bname = names[0], names[1]
		} else {
			// Fold modality i's frozen batch norm: y = scale·conv(x) + shift.
			wf := make([]float32, len(c.w.Data))
			bf := make([]float32, cout)
			per := len(c.w.Data) / cout
			for o := 0; o < cout; o++ {
				j := i*cout + o
				inv := 1 / math.Sqrt(float64(bn.vari[j])+bnEps)
				scale := float64(bn.gamma[j]) * inv
				shift := float64(bn.beta[j]) - float64(bn.mean[j])*scale
				for q := o * per; q < (o+1)*per; q++ {
					wf[q] = float32(float64(c.w.Data[q]) * scale)
				}
				if c.b != nil {
					shift += float64(c.b.Data[o]) * scale
				}
				bf[o] = float32(shift)
			}
			suffix := ".bn_" + strconv.Itoa(i)
			if wino {
				wn = b.floats(base+suffix+".folded_weight.winograd", []int64{wgPoints, int64(cout), int64(cin)}, winogradWeights(wf, cout, cin))
			} else {
				wn = b.floats(base+suffix+".folded_weight", wdims, wf)
			}
			bname = b.floats(base+suffix+".folded_bias", []int64{int64(cout)}, bf)
		}
		var y string
		if wino {
			b.winogradLayers++
			y = b.winogradConv(in, wn, bname, cin, cout, x.h, x.w)
		} else {
			ins := []string{in, wn}
			if bname != "" {
				ins = append(ins, bname)
			}
			y = b.node("Conv", ins, attrs, "")
		}
		if relu {
			y = b.node("Relu", []string{y}, nil, "")
		}
		out.names[i] = y
	}
	return out
}

// exchange replaces channel c of modality m by the mean of the other modalities' channel c where
// |γ_m,c| < threshold (engine.Exchange), reading the values before the exchange.
func (b *onnxBuilder) exchange(bn *bn, threshold float32, x stream, name string) stream {
	M, C := len(x.names), x.c
	keep := engine.ExchangeMask(bn.gamma, threshold)
	out := x
	out.names = append([]string(nil), x.names...)
	var total string // Σ_m x_m, for M > 2
	for i := 0; i < M; i++ {
		k := keep[i*C : (i+1)*C]
		all, none := true, true
		for _, v := range k {
			all, none = all && v, none && !v
		}
		if all {
			continue
		}
		var other string
		if M == 2 {
			other = x.names[1-i]
		} else {
			if total == "" {
				total = b.node("Sum", x.names, nil, "")
			}
			diff := b.node("Sub", []string{total, x.names[i]}, nil, "")
			other = b.node("Mul", []string{diff, b.floats(b.fresh(name+".exchange_inv"), []int64{1}, []float32{1 / float32(M-1)})}, nil, "")
		}
		if none {
			out.names[i] = other
			continue
		}
		mask := b.bools(fmt.Sprintf("%s.exchange_keep.%d", name, i), []int64{1, int64(C), 1, 1}, k)
		out.names[i] = b.node("Where", []string{mask, x.names[i], other}, nil, "")
	}
	return out
}

func (b *onnxBuilder) relu(x stream) stream {
	return b.each(x, func(n string) string { return b.node("Relu", []string{n}, nil, "") })
}

func (b *onnxBuilder) add(x, y stream) stream {
	out := x
	out.names = make([]string, len(x.names))
	for i := range x.names {
		out.names[i] = b.node("Add", []string{x.names[i], y.names[i]}, nil, "")
	}
	return out
}

func (b *onnxBuilder) maxPool(x stream, k, stride, pad int) stream {
	attrs := []*onnx.AttributeProto{attrInts("kernel_shape", int64(k), int64(k)), attrInts("strides", int64(stride), int64(stride)),
		attrInts("pads", int64(pad), int64(pad), int64(pad), int64(pad)), attrInt("ceil_mode", 0)}
	out := b.each(x, func(n string) string { return b.node("MaxPool", []string{n}, attrs, "") })
	if x.h > 0 {
		out.h, out.w = (x.h+2*pad-k)/stride+1, (x.w+2*pad-k)/stride+1
	}
	return out
}

// upsample resizes x bilinearly (align_corners, as the official decoder) to the size of like.
//
// In a fixed-size model where like's plane is a whole multiple of x's, the Resize takes constant scales
// instead of sizes computed from the shapes (the batch stays free, so those are not constant). ONNX Runtime's
// CPU provider then runs it in its blocked NCHWc layout, as it does the convolutions around it; with sizes
// it reorders to NCHW and back around every Resize, and the sums and ReLUs after it run in NCHW (lite-r18 at
// 480×640: 55 reorder nodes against 13, and 656–895 against 624–696 ms a frame in three interleaved runs).
// The output is the same: with scales, Resize takes the output length as floor(scale · input length), here
// exactly like's, and align_corners maps by the two lengths.
func (b *onnxBuilder) upsample(x, like stream) stream {
	attrs := []*onnx.AttributeProto{attrString("mode", "linear"), attrString("coordinate_transformation_mode", "align_corners")}
	var resize func(n string) string
	if x.h > 0 && x.w > 0 && like.h > 0 && like.w > 0 && like.h%x.h == 0 && like.w%x.w == 0 {
		scales := b.constFloats(1, 1, float32(like.h/x.h), float32(like.w/x.w))
		resize = func(n string) string { return b.node("Resize", []string{n, "", scales}, attrs, "") }
	} else {
		sizes := b.sizesLike(x.names[0], like.names[0])
		resize = func(n string) string { return b.node("Resize", []string{n, "", "", sizes}, attrs, "") }
	}
	out := b.each(x, resize)
	out.h, out.w = like.h, like.w
	return out
}

// sizesLike returns a tensor [N, C, H, W] with N, C of x and H, W of like: the sizes input of a Resize. It is
// computed in the graph so that static and dynamic models share one graph.
func (b *onnxBuilder) sizesLike(x, like string) string {
	nc := b.node("Shape", []string{x}, []*onnx.AttributeProto{attrInt("start", 0), attrInt("end", 2)}, "")
	hw := b.node("Shape", []string{like}, []*onnx.AttributeProto{attrInt("start", 2)}, "")
	return b.node("Concat", []string{nc, hw}, []*onnx.AttributeProto{attrInt("axis", 0)}, "")
}

func (b *onnxBuilder) each(x stream, f func(string) string) stream {
	out := x
	out.names = make([]string, len(x.names))
	for i, n := range x.names {
		out.names[i] = f(n)
	}
	return out
}

func attrInt(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: v}
}

func attrInts(name string, v ...int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INTS, Ints: v}
}

func attrFloat(name string, v float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_FLOAT, F: v}
}

func attrString(name, v string) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_STRING, S: []byte(v)}
}

// dimOf is a fixed dimension v, or the symbolic dimension param when dynamic.
func dimOf(dynamic bool, v int, param string) *onnx.TensorShapeProto_Dimension {
	if dynamic {
		return &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: param}}
	}
	return &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}}
}

func valueInfo(name string, elem onnx.TensorProto_DataType, dims ...*onnx.TensorShapeProto_Dimension) *onnx.ValueInfoProto {
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
		TensorType: &onnx.TypeProto_Tensor{ElemType: int32(elem), Shape: &onnx.TensorShapeProto{Dim: dims}}}}}
}
