package cen

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// ErrBadModel is wrapped by every error ReadModelInfo and ParseModelInfo return for a file that is not a
// deployable cen model (not ONNX, truncated, or with unexpected inputs, outputs or metadata).
var ErrBadModel = errors.New("not a usable cen ONNX model")

// ModelInfo describes a deployable model file: what ExportONNX wrote into its metadata, and its inputs and
// outputs. Everything that runs a model (predict, eval, the node) takes its network facts from here and its
// preprocessing from the "preprocess." keys of Metadata (preprocess.SpecFromMetadata).
type ModelInfo struct {
	// Arch, Width, Classes, Modalities and Threshold are the network's configuration.
	Arch       string
	Width      float64
	Classes    int
	Modalities []string
	Threshold  float32
	// Recipe holds the class names, palette, training data set and preprocessing keys, and (as Version) the
	// cen version that exported the file.
	Recipe Recipe
	// InputHeight and InputWidth are the fixed input size; both 0 for a dynamic model.
	InputHeight, InputWidth int
	// GFLOPs is the convolution work per frame (all modalities) at GFLOPsHeight × GFLOPsWidth.
	GFLOPs                    float64
	GFLOPsHeight, GFLOPsWidth int
	// LabelType is the element type of the labels output, "uint8" or "uint16".
	LabelType string
	// PerModality says whether the per-modality logits are outputs.
	PerModality bool
	// Metadata holds every metadata_props entry, the preprocessing keys included.
	Metadata map[string]string
	// Inputs and Outputs describe the graph's inputs and outputs.
	Inputs, Outputs []TensorInfo
	// IRVersion and Opset are the ONNX versions of the file.
	IRVersion, Opset int64
}

// TensorInfo is one graph input or output: name, element type ("float32", "uint8", ...) and dimensions, with
// -1 for a symbolic (free) dimension.
type TensorInfo struct {
	Name string
	Type string
	Dims []int64
}

// Dynamic reports whether the model takes any input size.
func (mi *ModelInfo) Dynamic() bool { return mi.InputHeight == 0 && mi.InputWidth == 0 }

// GFLOPsAt estimates the convolution GFLOP per frame at h×w, scaling GFLOPs by the pixel count (exact at
// GFLOPsHeight × GFLOPsWidth, within rounding of the strided sizes elsewhere).
func (mi *ModelInfo) GFLOPsAt(h, w int) float64 {
	if mi.GFLOPsHeight <= 0 || mi.GFLOPsWidth <= 0 {
		return 0
	}
	return mi.GFLOPs * float64(h*w) / float64(mi.GFLOPsHeight*mi.GFLOPsWidth)
}

// ReadModelInfo reads and checks the model file at path (see ParseModelInfo). Errors name the file.
func ReadModelInfo(path string) (*ModelInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading model: %w", err)
	}
	mi, err := ParseModelInfo(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return mi, nil
}

// ParseModelInfo checks that data is a complete ONNX model written by ExportONNX and describes it. It reads
// only the model's header fields, metadata and graph inputs and outputs (the weights are skipped over), so it
// is cheap even for large models. The error wraps ErrBadModel and says what is wrong.
func ParseModelInfo(data []byte) (*ModelInfo, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadModel}, a...)...)
	}
	if len(data) == 0 {
		return nil, bad("the file is empty")
	}
	mi := &ModelInfo{Metadata: map[string]string{}}
	var graph []byte
	err := scanFields(data, func(num protowire.Number, typ protowire.Type, v []byte, u uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			mi.IRVersion = int64(u)
		case num == 7 && typ == protowire.BytesType:
			graph = v
		case num == 8 && typ == protowire.BytesType:
			var op onnx.OperatorSetIdProto
			if err := proto.Unmarshal(v, &op); err != nil {
				return err
			}
			if op.Domain == "" || op.Domain == "ai.onnx" {
				mi.Opset = op.Version
			}
		case num == 14 && typ == protowire.BytesType:
			var e onnx.StringStringEntryProto
			if err := proto.Unmarshal(v, &e); err != nil {
				return err
			}
			mi.Metadata[e.Key] = e.Value
		}
		return nil
	})
	if err != nil {
		return nil, bad("not an ONNX model, or truncated (%v)", err)
	}
	if graph == nil || mi.IRVersion == 0 || mi.Opset == 0 {
		return nil, bad("not an ONNX model, or truncated (no graph, IR version or opset)")
	}
	err = scanFields(graph, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType || (num != 11 && num != 12) {
			return nil
		}
		var vi onnx.ValueInfoProto
		if err := proto.Unmarshal(v, &vi); err != nil {
			return err
		}
		ti := TensorInfo{Name: vi.Name}
		if tt := vi.GetType().GetTensorType(); tt != nil {
			ti.Type = elemTypeName(tt.ElemType)
			for _, d := range tt.GetShape().GetDim() {
				if dv, ok := d.Value.(*onnx.TensorShapeProto_Dimension_DimValue); ok {
					ti.Dims = append(ti.Dims, dv.DimValue)
				} else {
					ti.Dims = append(ti.Dims, -1)
				}
			}
		}
		if num == 11 {
			mi.Inputs = append(mi.Inputs, ti)
		} else {
			mi.Outputs = append(mi.Outputs, ti)
		}
		return nil
	})
	if err != nil {
		return nil, bad("the graph is damaged (%v)", err)
	}
	if err := mi.parseMetadata(); err != nil {
		return nil, bad("%v", err)
	}
	if err := mi.checkIO(); err != nil {
		return nil, bad("%v", err)
	}
	return mi, nil
}

// scanFields walks the top-level fields of one protobuf message, checking every length against the data.
func scanFields(data []byte, f func(num protowire.Number, typ protowire.Type, v []byte, u uint64) error) error {
	for off := 0; off < len(data); {
		num, typ, n := protowire.ConsumeTag(data[off:])
		if n < 0 {
			return fmt.Errorf("bad field tag at byte %d: %w", off, protowire.ParseError(n))
		}
		off += n
		var v []byte
		var u uint64
		switch typ {
		case protowire.VarintType:
			u, n = protowire.ConsumeVarint(data[off:])
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(data[off:])
		default:
			n = protowire.ConsumeFieldValue(num, typ, data[off:])
		}
		if n < 0 {
			return fmt.Errorf("field %d at byte %d: %w", num, off, protowire.ParseError(n))
		}
		off += n
		if err := f(num, typ, v, u); err != nil {
			return fmt.Errorf("field %d: %w", num, err)
		}
	}
	return nil
}

func elemTypeName(t int32) string {
	switch onnx.TensorProto_DataType(t) {
	case onnx.TensorProto_FLOAT:
		return "float32"
	case onnx.TensorProto_UINT8:
		return "uint8"
	case onnx.TensorProto_UINT16:
		return "uint16"
	case onnx.TensorProto_INT64:
		return "int64"
	case onnx.TensorProto_INT32:
		return "int32"
	}
	return onnx.TensorProto_DataType(t).String()
}

// parseMetadata fills the typed fields from the cen.* metadata.
func (mi *ModelInfo) parseMetadata() error {
	md := mi.Metadata
	if f, ok := md[MetaFormat]; !ok {
		return fmt.Errorf("no %s metadata: the file was not written by `cen export`", MetaFormat)
	} else if f != metaFormatVersion {
		return fmt.Errorf("metadata format %s=%q is not the %q this version of cen reads", MetaFormat, f, metaFormatVersion)
	}
	get := func(k string) (string, error) {
		v, ok := md[k]
		if !ok {
			return "", fmt.Errorf("metadata key %s is missing", k)
		}
		return v, nil
	}
	atoi := func(k string) (int, error) {
		v, err := get(k)
		if err != nil {
			return 0, err
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			return 0, fmt.Errorf("metadata %s=%q is not a count", k, v)
		}
		return i, nil
	}
	jsonOf := func(k string, dst any) error {
		v, err := get(k)
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(v), dst); err != nil {
			return fmt.Errorf("metadata %s=%q is not valid JSON of the expected form: %v", k, v, err)
		}
		return nil
	}
	var err error
	if mi.Arch, err = get(MetaArch); err != nil {
		return err
	}
	if _, ok := archs[mi.Arch]; !ok {
		return fmt.Errorf("metadata %s=%q is not an architecture this version of cen knows (%s)", MetaArch, mi.Arch, strings.Join(Archs(), ", "))
	}
	if v, err := get(MetaWidth); err != nil {
		return err
	} else if mi.Width, err = strconv.ParseFloat(v, 64); err != nil || mi.Width <= 0 {
		return fmt.Errorf("metadata %s=%q is not a positive number", MetaWidth, v)
	}
	if mi.Classes, err = atoi(MetaClasses); err != nil {
		return err
	}
	if mi.Classes < 1 {
		return fmt.Errorf("metadata %s=0: a network has at least one class", MetaClasses)
	}
	if mi.Recipe, err = recipeFromMetadata(md, mi.Classes); err != nil {
		return err
	}
	if err := jsonOf(MetaModalities, &mi.Modalities); err != nil {
		return err
	}
	if len(mi.Modalities) < 1 {
		return fmt.Errorf("metadata %s lists no modality", MetaModalities)
	}
	if mi.InputHeight, err = atoi(MetaInputHeight); err != nil {
		return err
	}
	if mi.InputWidth, err = atoi(MetaInputWidth); err != nil {
		return err
	}
	if (mi.InputHeight == 0) != (mi.InputWidth == 0) {
		return fmt.Errorf("metadata input size %dx%d: both or neither must be 0 (dynamic)", mi.InputWidth, mi.InputHeight)
	}
	if v, err := get(MetaThreshold); err != nil {
		return err
	} else if t, err := strconv.ParseFloat(v, 32); err != nil || t < 0 {
		return fmt.Errorf("metadata %s=%q is not a threshold", MetaThreshold, v)
	} else {
		mi.Threshold = float32(t)
	}
	if mi.Recipe.Version, err = get(MetaExporterVersion); err != nil {
		return err
	}
	if v, ok := md[MetaGFLOPs]; ok {
		mi.GFLOPs, _ = strconv.ParseFloat(v, 64)
		mi.GFLOPsHeight, _ = strconv.Atoi(md[MetaGFLOPsHeight])
		mi.GFLOPsWidth, _ = strconv.Atoi(md[MetaGFLOPsWidth])
	}
	if mi.LabelType, err = get(MetaLabelType); err != nil {
		return err
	}
	if mi.LabelType == "" {
		return fmt.Errorf("it has no labels output: a logits-only export (cen export --logits-only), for benchmarks such as cen bench onnx; export it again without --logits-only")
	}
	if mi.LabelType != "uint8" && mi.LabelType != "uint16" {
		return fmt.Errorf("metadata %s=%q is not uint8 or uint16", MetaLabelType, mi.LabelType)
	}
	if v, err := get(MetaPerModality); err != nil {
		return err
	} else if mi.PerModality, err = strconv.ParseBool(v); err != nil {
		return fmt.Errorf("metadata %s=%q is not true or false", MetaPerModality, v)
	}
	return nil
}

// checkIO compares the graph's inputs and outputs with the metadata.
func (mi *ModelInfo) checkIO() error {
	if len(mi.Inputs) != len(mi.Modalities) {
		return fmt.Errorf("the graph has %d inputs, the metadata lists %d modalities %v", len(mi.Inputs), len(mi.Modalities), mi.Modalities)
	}
	size := func(d int64, want int) bool { return want == 0 && d == -1 || d == int64(want) }
	for i, in := range mi.Inputs {
		if in.Name != mi.Modalities[i] {
			return fmt.Errorf("input %d is %q, want modality %q", i, in.Name, mi.Modalities[i])
		}
		if in.Type != "float32" || len(in.Dims) != 4 || in.Dims[1] != 3 || !size(in.Dims[2], mi.InputHeight) || !size(in.Dims[3], mi.InputWidth) {
			return fmt.Errorf("input %q is %s %v, want float32 [N 3 %s %s]", in.Name, in.Type, in.Dims, dimName(mi.InputHeight, "H"), dimName(mi.InputWidth, "W"))
		}
	}
	want := []struct {
		name, typ string
		rank      int
		ch        int64
	}{{OutputLogits, "float32", 4, int64(mi.Classes)}, {OutputLabels, mi.LabelType, 3, 0}, {OutputConfidence, "float32", 3, 0}}
	if mi.PerModality {
		for _, m := range mi.Modalities {
			want = append(want, struct {
				name, typ string
				rank      int
				ch        int64
			}{OutputModalityPrefix + m, "float32", 4, int64(mi.Classes)})
		}
	}
	if len(mi.Outputs) != len(want) {
		return fmt.Errorf("the graph has %d outputs, want %d (%s, %s, %s%s)", len(mi.Outputs), len(want), OutputLogits, OutputLabels, OutputConfidence,
			map[bool]string{true: " and per-modality logits", false: ""}[mi.PerModality])
	}
	for i, w := range want {
		o := mi.Outputs[i]
		if o.Name != w.name || o.Type != w.typ || len(o.Dims) != w.rank || w.rank == 4 && o.Dims[1] != w.ch {
			return fmt.Errorf("output %d is %q %s %v, want %q %s of rank %d", i, o.Name, o.Type, o.Dims, w.name, w.typ, w.rank)
		}
	}
	return nil
}

func dimName(v int, sym string) string {
	if v == 0 {
		return sym
	}
	return strconv.Itoa(v)
}
