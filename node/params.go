package node

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/cen-ros/cen/node/timesync"
)

// Param is one private parameter of the node (~name), as roslaunch's <param> or rosparam sets it, or a
// command-line flag of `cen node` gives its default. Dynamic parameters can also be changed while the node
// runs, through the dynamic_reconfigure protocol.
type Param struct {
	// Name is the parameter's name without the "~".
	Name string
	// Type is "string", "int", "double", "bool" or "list".
	Type string
	// Default is the value when neither the parameter server nor a flag sets it (nil: none, required or
	// optional as the description says).
	Default any
	// Dynamic says whether dynamic_reconfigure can change it at run time.
	Dynamic bool
	// Min and Max bound a dynamic number.
	Min, Max float64
	// Choices lists the values a string parameter takes.
	Choices []string
	// Description is one sentence for docs, --help and rqt_reconfigure.
	Description string
}

// Params is every parameter the node reads, in documentation order. The README's parameter table and the
// launch files are checked against it by the tests.
var Params = []Param{
	{Name: "model", Type: "string", Description: "model file: an ONNX export or a cen checkpoint (required)"},
	{Name: "device", Type: "string", Default: "auto", Choices: []string{"auto", "cpu", "cuda", "tensorrt"}, Description: "where the model runs: auto tries TensorRT, then CUDA, then the CPU"},
	{Name: "threads", Type: "int", Default: 0, Description: "inference threads (0: one per core)"},
	{Name: "sync", Type: "string", Default: "approximate", Choices: []string{"approximate", "exact"}, Description: "pairing of colour and depth frames: message_filters ApproximateTime or ExactTime"},
	{Name: "queue_size", Type: "int", Default: 10, Description: "messages per input the synchroniser keeps while it looks for a pair"},
	{Name: "max_interval", Type: "double", Default: 0.05, Description: "seconds: colour and depth further apart than this are never paired (0: no limit)"},
	{Name: "age_penalty", Type: "double", Default: 0.1, Description: "ApproximateTime's age penalty: higher publishes sooner at some cost in pairing quality"},
	{Name: "inter_message_lower_bound", Type: "double", Default: 0.0, Description: "seconds: the least time between two frames of one camera (e.g. 0.025 at 30 Hz), as message_filters' setInterMessageLowerBound; lets the approximate sync publish a pair once both halves are in instead of on the next frame (0: unknown)"},
	{Name: "image_transport", Type: "string", Default: "raw", Choices: []string{"raw", "compressed"}, Description: "colour input: rgb/image, or rgb/image/compressed (JPEG or PNG)"},
	{Name: "depth_image_transport", Type: "string", Default: "raw", Choices: []string{"raw", "compressedDepth"}, Description: "depth input: depth/image, or depth/image/compressedDepth (PNG or RVL)"},
	{Name: "depth_scale", Type: "double", Default: 0.0, Description: "metres per count of 16-bit depth (0: 0.001, millimetres, as REP 118); 32FC1 depth is metres"},
	{Name: "depth_to_rgb", Type: "list", Description: "depth→RGB transform [x, y, z, qx, qy, qz, qw] when TF (/tf_static) does not give one (optional)"},
	{Name: "fill_holes", Type: "bool", Default: false, Description: "when registering depth into the colour camera, fill the holes of upsampling as depth_image_proc does"},
	{Name: "max_rate", Type: "double", Default: 0.0, Dynamic: true, Min: 0, Max: 1000, Description: "Hz: segment at most this often, dropping the pairs in between (0: as fast as frames come)"},
	{Name: "publish_color", Type: "bool", Default: true, Dynamic: true, Description: "publish ~color, the labels in the palette's colours (only while subscribed)"},
	{Name: "publish_overlay", Type: "bool", Default: true, Dynamic: true, Description: "publish ~overlay, the colours blended over the image (only while subscribed)"},
	{Name: "publish_confidence", Type: "bool", Default: true, Dynamic: true, Description: "publish ~confidence, the winning class's probability as 32FC1 (only while subscribed)"},
	{Name: "overlay_alpha", Type: "double", Default: 0.5, Dynamic: true, Min: 0, Max: 1, Description: "opacity of the label colours in ~overlay"},
	{Name: "confidence_threshold", Type: "double", Default: 0.0, Dynamic: true, Min: 0, Max: 1, Description: "pixels whose confidence is below this get ~unknown_label"},
	{Name: "unknown_label", Type: "int", Default: -1, Description: "label of low-confidence pixels (-1: 255 for mono8 labels, 65535 for 16UC1)"},
	{Name: "expected_rate", Type: "double", Default: 0.0, Description: "Hz the inputs should arrive at, for /diagnostics (0: only report a stall)"},
	{Name: "diagnostic_period", Type: "double", Default: 1.0, Description: "seconds between /diagnostics messages"},
}

// ParamByName returns the parameter called name, or nil.
func ParamByName(name string) *Param {
	for i := range Params {
		if Params[i].Name == name {
			return &Params[i]
		}
	}
	return nil
}

// Settings are the node's parameters, typed. Dynamic ones are copied into a Dynamic value the worker reads.
type Settings struct {
	Model, Device                  string
	Threads                        int
	Sync                           timesync.Policy
	QueueSize                      int
	MaxInterval                    time.Duration
	AgePenalty                     float64
	LowerBound                     time.Duration // inter_message_lower_bound, for both inputs
	ImageTransport, DepthTransport string
	DepthScale                     float64
	DepthToRGB                     []float64 // nil, or x y z qx qy qz qw
	FillHoles                      bool
	UnknownLabel                   int
	ExpectedRate                   float64
	DiagnosticPeriod               time.Duration
	Dynamic                        Dynamic
	values                         map[string]any // as read, for the dynamic_reconfigure server
	sources                        map[string]string
}

// Dynamic are the parameters that change while the node runs.
type Dynamic struct {
	MaxRate                                         float64
	PublishColor, PublishOverlay, PublishConfidence bool
	OverlayAlpha, ConfidenceThreshold               float64
}

// values returns d as parameter values.
func (d Dynamic) values() map[string]any {
	return map[string]any{"max_rate": d.MaxRate, "publish_color": d.PublishColor, "publish_overlay": d.PublishOverlay,
		"publish_confidence": d.PublishConfidence, "overlay_alpha": d.OverlayAlpha, "confidence_threshold": d.ConfidenceThreshold}
}

// set applies one dynamic value (already of the parameter's type and within its bounds).
func (d *Dynamic) set(name string, v any) {
	switch name {
	case "max_rate":
		d.MaxRate = v.(float64)
	case "publish_color":
		d.PublishColor = v.(bool)
	case "publish_overlay":
		d.PublishOverlay = v.(bool)
	case "publish_confidence":
		d.PublishConfidence = v.(bool)
	case "overlay_alpha":
		d.OverlayAlpha = v.(float64)
	case "confidence_threshold":
		d.ConfidenceThreshold = v.(float64)
	}
}

// typed converts a value read from the parameter server, a flag or dynamic_reconfigure to p's type; ints are
// accepted for doubles (rosparam writes 1 for 1.0).
func (p *Param) typed(v any) (any, error) {
	bad := func() (any, error) {
		return nil, fmt.Errorf("~%s is %v (%T), want a %s", p.Name, v, v, p.Type)
	}
	switch p.Type {
	case "string":
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		if len(p.Choices) > 0 && !contains(p.Choices, s) {
			return nil, fmt.Errorf("~%s is %q, want one of %s", p.Name, s, strings.Join(p.Choices, ", "))
		}
		return s, nil
	case "int":
		switch x := v.(type) {
		case int:
			return x, nil
		case int32:
			return int(x), nil
		case int64:
			return int(x), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<31 {
				return int(x), nil
			}
		}
		return bad()
	case "double":
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		case int:
			f = float64(x)
		case int32:
			f = float64(x)
		case int64:
			f = float64(x)
		default:
			return bad()
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return bad()
		}
		if p.Dynamic && (f < p.Min || f > p.Max) {
			return nil, fmt.Errorf("~%s is %g, want %g to %g", p.Name, f, p.Min, p.Max)
		}
		return f, nil
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		return b, nil
	case "list":
		l, ok := v.([]any)
		if !ok {
			return bad()
		}
		return l, nil
	}
	return bad()
}

// ReadSettings reads every parameter: from lookup (the parameter server: the value and whether it is set), else
// from defaults (the command-line flags), else the table's default. Every value is checked; the first
// problem is returned.
func ReadSettings(lookup func(name string) (any, bool, error), defaults map[string]any) (Settings, error) {
	s := Settings{values: map[string]any{}, sources: map[string]string{}}
	for i := range Params {
		p := &Params[i]
		v, ok, err := lookup(p.Name)
		src := "parameter server"
		if err != nil {
			return s, err
		}
		if !ok {
			v, ok = defaults[p.Name]
			src = "command line"
		}
		if !ok {
			v, ok = p.Default, p.Default != nil
			src = "default"
		}
		if !ok {
			continue
		}
		t, err := p.typed(v)
		if err != nil {
			return s, fmt.Errorf("%w (from the %s)", err, src)
		}
		s.values[p.Name], s.sources[p.Name] = t, src
	}
	if s.values["model"] == nil || s.values["model"] == "" {
		return s, fmt.Errorf("~model is not set: give the model file with the model parameter (roslaunch ... model:=/path/model.onnx) or --model")
	}
	str := func(k string) string { return s.values[k].(string) }
	num := func(k string) float64 { return s.values[k].(float64) }
	s.Model, s.Device, s.Threads = str("model"), str("device"), s.values["threads"].(int)
	s.Sync = timesync.Approximate
	if str("sync") == "exact" {
		s.Sync = timesync.Exact
	}
	s.QueueSize = s.values["queue_size"].(int)
	if s.QueueSize < 1 {
		return s, fmt.Errorf("~queue_size is %d, want at least 1", s.QueueSize)
	}
	if num("max_interval") < 0 || num("age_penalty") < 0 || num("inter_message_lower_bound") < 0 || num("depth_scale") < 0 || num("expected_rate") < 0 {
		return s, fmt.Errorf("~max_interval, ~age_penalty, ~inter_message_lower_bound, ~depth_scale and ~expected_rate must not be negative")
	}
	if num("diagnostic_period") <= 0 {
		return s, fmt.Errorf("~diagnostic_period is %g, want a positive number of seconds", num("diagnostic_period"))
	}
	s.MaxInterval = time.Duration(num("max_interval") * float64(time.Second))
	s.AgePenalty = num("age_penalty")
	s.LowerBound = time.Duration(num("inter_message_lower_bound") * float64(time.Second))
	s.ImageTransport, s.DepthTransport = str("image_transport"), str("depth_image_transport")
	s.DepthScale, s.FillHoles = num("depth_scale"), s.values["fill_holes"].(bool)
	s.UnknownLabel, s.ExpectedRate = s.values["unknown_label"].(int), num("expected_rate")
	s.DiagnosticPeriod = time.Duration(num("diagnostic_period") * float64(time.Second))
	if l, ok := s.values["depth_to_rgb"].([]any); ok {
		if len(l) != 7 {
			return s, fmt.Errorf("~depth_to_rgb has %d values, want [x, y, z, qx, qy, qz, qw]", len(l))
		}
		for i, v := range l {
			f, err := (&Param{Name: fmt.Sprintf("depth_to_rgb[%d]", i), Type: "double"}).typed(v)
			if err != nil {
				return s, err
			}
			s.DepthToRGB = append(s.DepthToRGB, f.(float64))
		}
	}
	for _, p := range Params {
		if p.Dynamic {
			s.Dynamic.set(p.Name, s.values[p.Name])
		}
	}
	return s, nil
}

// Source says where a parameter's value came from ("parameter server", "command line" or "default").
func (s Settings) Source(name string) string { return s.sources[name] }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
