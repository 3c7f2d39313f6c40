// Package infer runs a CEN model on RGB-D frames: the one path from "a colour image and its registered depth"
// to "a label per pixel of the colour image", shared by `cen predict`, the ROS node, the bag evaluation and the
// trainer's validation.
//
// Open reads a model file and tells a checkpoint (run by the Go engine) from an ONNX model (run by ONNX
// Runtime on the CPU, CUDA or TensorRT) by its content, not its name. Everything needed to feed the model
// comes from the file's recipe: the preprocessing (preprocess.Spec), the modality names, class names and
// palette; a file that lacks any of it is refused. Segment preprocesses a frame, feeds each modality by its
// name ("rgb", "depth" for replicated depth, "hha"), runs the network and maps labels and confidence back to
// the colour image's size, exactly undoing the resize or letterbox, with the time each stage took.
//
// A Model is used by one goroutine at a time: it owns the scratch buffers that make a stream of frames
// allocation-free. Run one Model per goroutine (an ONNX Runtime session serialises its runs anyway).
package infer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/cen/engine"
	"github.com/cen-ros/cen/cen/ort"
	"github.com/cen-ros/cen/preprocess"
)

// Conf configures Open. The zero value runs a model on the best device the machine has, at the input size its
// recipe gives, with one thread per core.
type Conf struct {
	// Device (optional) is "auto", "cpu", "cuda" or "tensorrt". auto runs ONNX models on TensorRT, then CUDA,
	// then the CPU, whichever loads first; checkpoints always run on the Go engine (CPU), and asking for a
	// GPU for one is an error. It defaults to auto.
	Device string
	// Threads (optional) is ONNX Runtime's intra-op threads, or the Go engine's parallelism. It defaults to one
	// per core.
	Threads int
	// Height and Width (optional) set the network input size of a checkpoint or a dynamic ONNX model; a
	// fixed-size ONNX model refuses another size. They default to the size in the model's recipe.
	Height, Width int
	// Logits (optional) returns the ensemble's logits with each result.
	Logits bool
	// PerModality (optional) also returns each modality's own labels (the official evaluation scores the RGB,
	// depth and ensemble outputs). An ONNX model must have been exported with --per-modality.
	PerModality bool
	// ORT configures ONNX Runtime (library path, graph optimisation, GPU memory, warm-up); Device, Threads and
	// Logger above take precedence over its fields of the same meaning.
	ORT ort.Options
	// Engine configures the Go engine (Winograd policy, GEMM threading, scratch memory) for checkpoints.
	Engine engine.Options
	// Logger (optional) receives one line per event worth knowing (device chosen, providers that failed).
	Logger func(string)
}

// Info describes an open model: what its file says, and where it runs.
type Info struct {
	// Path is the model file; Format is "checkpoint" or "onnx".
	Path, Format string
	// Arch, Width, Classes, Modalities and Threshold are the network's configuration.
	Arch       string
	Width      float64
	Classes    int
	Modalities []string
	Threshold  float32
	// ClassNames and Palette name and colour the classes, in label order.
	ClassNames []string
	Palette    preprocess.Palette
	// Dataset is the training data set ("" when the file does not say).
	Dataset string
	// Spec is the preprocessing, at the input size the model runs at.
	Spec preprocess.Spec
	// Dynamic says whether the network accepts other input sizes (checkpoints and dynamic ONNX models).
	Dynamic bool
	// Version is the cen version that wrote the file.
	Version string
	// Backend is "go-engine" or "onnxruntime"; Device "cpu", "cuda" or "tensorrt"; RuntimeVersion the ONNX
	// Runtime version ("" for the engine).
	Backend, Device, RuntimeVersion string
	// GFLOPs is the convolution work per frame at the input size (all modalities).
	GFLOPs float64
	// Conv3x3 is how an ONNX model computes its 3×3 convolutions (cen.ConvPlain or cen.ConvWinograd; "" for
	// checkpoints, whose engine picks per layer).
	Conv3x3 string
}

// Frame is one RGB-D frame, decoded: the colour image and the depth registered to it (same size, metres, 0
// where invalid). View is needed only by HHA models (the camera intrinsics, optionally the up direction).
type Frame struct {
	RGB   preprocess.RGBImage
	Depth preprocess.DepthImage
	View  *preprocess.View
}

// Timings is the time one Segment call spent in each stage.
type Timings struct {
	// Preprocess covers resizing, normalisation and depth broadening; Inference the network; Postprocess the
	// mapping of labels and confidence (and per-modality labels) back to the image size.
	Preprocess, Inference, Postprocess time.Duration
}

// Total is the time of the whole call.
func (t Timings) Total() time.Duration { return t.Preprocess + t.Inference + t.Postprocess }

// Result is the segmentation of one frame at the RGB image's size. Its slices are the caller's: Segment grows
// them when they are too short and reuses them otherwise.
type Result struct {
	// Width and Height are the RGB image's size.
	Width, Height int
	// Labels is the class of each pixel, row-major.
	Labels []uint16
	// Confidence is the softmax probability of each pixel's class.
	Confidence []float32
	// Logits is the ensemble's logits [Classes, LogitsHeight, LogitsWidth] at the network's output stride,
	// when Conf.Logits is set.
	Logits                    []float32
	LogitsHeight, LogitsWidth int
	// Modalities holds each modality's labels (in Info.Modalities order), when Conf.PerModality is set.
	Modalities [][]uint16
	// Geometry is where the image went in the network input.
	Geometry preprocess.Geometry
	// Up is the up direction HHA used (given or estimated); zero otherwise.
	Up [3]float64
	// Timings is the time each stage took.
	Timings Timings
}

// Model is an open model. It is not safe for concurrent use; see the package documentation.
type Model struct {
	info  Info
	conf  Conf
	run   backend
	feeds []preprocess.Feed // per modality, in the network's input order

	// Scratch reused across frames.
	in        preprocess.Input
	net       netResult
	inputs    [][]float32
	noDepth   preprocess.DepthImage
	modLabels []uint16
}

// netResult is a backend's output at the network's input size.
type netResult struct {
	labels     []uint16
	confidence []float32
	logits     []float32 // ensemble [K, lh, lw]
	lh, lw     int
	perMod     [][]float32 // per-modality logits, when asked for
}

// backend runs the network on one preprocessed frame.
type backend interface {
	// run feeds one [1, 3, h, w] tensor per modality, in the network's order, and fills out.
	run(inputs [][]float32, h, w int, out *netResult) error
	close() error
}

// ErrNotAModel is wrapped by the errors Open returns for a file that is neither a cen checkpoint nor a cen ONNX
// model.
var ErrNotAModel = errors.New("not a cen model")

// Open opens the model at path.
func Open(path string, conf Conf) (*Model, error) {
	kind, err := sniff(path)
	if err != nil {
		return nil, err
	}
	var m *Model
	switch kind {
	case "checkpoint":
		m, err = openCheckpoint(path, conf)
	default:
		m, err = openONNX(path, conf)
	}
	if err != nil {
		return nil, err
	}
	return m.prepare()
}

// prepare decides how each modality is fed; a model whose names cannot be fed is closed and refused.
func (m *Model) prepare() (*Model, error) {
	var err error
	if m.feeds, err = feedsFor(m.info.Path, m.info.Modalities, m.info.Spec); err != nil {
		m.run.close()
		return nil, err
	}
	m.inputs = make([][]float32, len(m.feeds))
	return m, nil
}

// sniff tells the file kinds apart by their first bytes: a checkpoint (safetensors: 8-byte header length, then
// JSON), a PyTorch file (zip or pickle: convert it first), ONNX (protobuf, whose reader then names any defect),
// or none of them.
func sniff(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("opening model: %w", err)
	}
	defer f.Close()
	head := make([]byte, 9)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading model %s: %w", path, err)
	}
	head = head[:n]
	switch {
	case n == 0:
		return "", fmt.Errorf("%s is empty: %w", path, ErrNotAModel)
	case n == 9 && head[8] == '{':
		return "checkpoint", nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || head[0] == 0x80:
		return "", fmt.Errorf("%s is a PyTorch file, not a cen model: convert it with `cen import-torch`: %w", path, ErrNotAModel)
	case head[0] == 0x08:
		// Protobuf writers put ONNX's field 1 (ir_version, a varint) first.
		return "onnx", nil
	}
	return "", fmt.Errorf("%s is neither a cen checkpoint nor an ONNX model: %w", path, ErrNotAModel)
}

// feedsFor maps the network's modality names to the preprocessed tensors (preprocess.Spec.Feeds), naming
// the model in errors.
func feedsFor(path string, mods []string, spec preprocess.Spec) ([]preprocess.Feed, error) {
	feeds, err := spec.Feeds(mods)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return feeds, nil
}

// sizeFor applies Conf.Height/Width to the recipe's spec.
func sizeFor(path string, spec preprocess.Spec, conf Conf, dynamic bool) (preprocess.Spec, error) {
	switch {
	case conf.Height == 0 && conf.Width == 0:
	case conf.Height < 32 || conf.Width < 32:
		return spec, fmt.Errorf("%s: input size %dx%d: give both height and width, at least 32", path, conf.Width, conf.Height)
	case !dynamic && (conf.Height != spec.Height || conf.Width != spec.Width):
		return spec, fmt.Errorf("%s takes %dx%d inputs (width×height), not %dx%d: export it again at that size, or with --dynamic", path, spec.Width, spec.Height, conf.Width, conf.Height)
	default:
		spec.Height, spec.Width = conf.Height, conf.Width
	}
	return spec, spec.Validate()
}

// Info describes the model.
func (m *Model) Info() Info {
	i := m.info
	i.Modalities = append([]string(nil), i.Modalities...)
	i.ClassNames = append([]string(nil), i.ClassNames...)
	i.Palette = append(preprocess.Palette(nil), i.Palette...)
	return i
}

// Close releases the model.
func (m *Model) Close() error { return m.run.close() }

// prepare preprocesses f into in for a network fed feeds: the one preprocessing path of Segment and
// NetworkInputs. An RGB-only network without a depth image gets an empty one (noDepth, reused); a network that
// reads depth refuses a depth image with no valid pixel.
func prepare(spec preprocess.Spec, feeds []preprocess.Feed, f Frame, in *preprocess.Input, noDepth *preprocess.DepthImage) error {
	depth := f.Depth
	usesDepth := false
	for _, fd := range feeds {
		usesDepth = usesDepth || fd == preprocess.FeedDepth
	}
	if !usesDepth && len(depth.Pix) == 0 {
		noDepth.Width, noDepth.Height = f.RGB.Width, f.RGB.Height
		noDepth.Pix = grow(noDepth.Pix, f.RGB.Width*f.RGB.Height)
		depth = *noDepth
	}
	if usesDepth && !anyValid(depth.Pix) {
		return fmt.Errorf("infer: the depth image has no valid pixel (all 0, NaN or infinite)")
	}
	return spec.InputTo(in, f.RGB, depth, f.View)
}

// Segment segments one frame into dst.
func (m *Model) Segment(f Frame, dst *Result) error {
	t0 := time.Now()
	if err := prepare(m.info.Spec, m.feeds, f, &m.in, &m.noDepth); err != nil {
		return err
	}
	for i, fd := range m.feeds {
		if fd == preprocess.FeedRGB {
			m.inputs[i] = m.in.RGB
		} else {
			m.inputs[i] = m.in.Depth
		}
	}
	t1 := time.Now()
	h, w := m.info.Spec.Height, m.info.Spec.Width
	if err := m.run.run(m.inputs, h, w, &m.net); err != nil {
		return err
	}
	t2 := time.Now()
	g := m.in.Geometry
	dst.Width, dst.Height, dst.Geometry, dst.Up = g.SrcWidth, g.SrcHeight, g, m.in.Up
	n := g.SrcWidth * g.SrcHeight
	dst.Labels = grow(dst.Labels, n)
	dst.Confidence = grow(dst.Confidence, n)
	if err := preprocess.ToCameraTo(g, dst.Labels, m.net.labels); err != nil {
		return err
	}
	if err := preprocess.ToCameraTo(g, dst.Confidence, m.net.confidence); err != nil {
		return err
	}
	dst.Logits, dst.LogitsHeight, dst.LogitsWidth = dst.Logits[:0], 0, 0
	if m.conf.Logits {
		dst.Logits = append(dst.Logits, m.net.logits...)
		dst.LogitsHeight, dst.LogitsWidth = m.net.lh, m.net.lw
	}
	dst.Modalities = dst.Modalities[:0]
	if m.conf.PerModality {
		for i, l := range m.net.perMod {
			if err := labelsFromLogits(l, m.info.Classes, m.net.lh, m.net.lw, h, w, &m.modLabels, nil); err != nil {
				return err
			}
			var keep []uint16
			if i < cap(dst.Modalities) {
				keep = dst.Modalities[:i+1][i]
			}
			keep = grow(keep, n)
			if err := preprocess.ToCameraTo(g, keep, m.modLabels); err != nil {
				return err
			}
			dst.Modalities = append(dst.Modalities, keep)
		}
	}
	dst.Timings = Timings{Preprocess: t1.Sub(t0), Inference: t2.Sub(t1), Postprocess: time.Since(t2)}
	return nil
}

// labelsFromLogits is the official evaluation's step from logits to labels on the Go side: bicubic upsampling
// of the logits [K, lh, lw] to the input size h×w (OpenCV's INTER_CUBIC, as the official code resizes them),
// then the arg-max and, when conf is not nil, the winning class's softmax probability.
func labelsFromLogits(logits []float32, k, lh, lw, h, w int, labels *[]uint16, conf *[]float32) error {
	up := engine.ResizeBicubic(engine.TensorFrom(1, k, lh, lw, logits), h, w)
	*labels = grow(*labels, h*w)
	var c []float32
	if conf != nil {
		*conf = grow(*conf, h*w)
		c = *conf
	}
	return preprocess.Argmax(*labels, c, up.Data, k, w, h)
}

func anyValid(d []float32) bool {
	for _, v := range d {
		if v > 0 && v < 1e30 { // NaN fails both tests
			return true
		}
	}
	return false
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// recipeSpec reads the preprocessing of a model file's recipe.
func recipeSpec(path string, r cen.Recipe) (preprocess.Spec, error) {
	spec, err := preprocess.SpecFromMetadata(r.Preprocess)
	if err != nil {
		return spec, fmt.Errorf("%s: %w", path, err)
	}
	return spec, nil
}

func logf(conf Conf, format string, a ...any) {
	if conf.Logger != nil {
		conf.Logger(fmt.Sprintf(format, a...))
	}
}

func normDevice(d string) string {
	d = strings.ToLower(d)
	if d == "" {
		return "auto"
	}
	return d
}

// Kind tells what the file at path holds, by content: "checkpoint" or "onnx" (which Open then checks fully).
// A PyTorch file or an empty one is an error that says so.
func Kind(path string) (string, error) { return sniff(path) }

// NetworkInputs preprocesses f as Segment does, for a network with these modalities (graph input order), and
// returns one [3, h, w] slice per modality: what the network itself is fed (int8 calibration uses it).
func NetworkInputs(spec preprocess.Spec, modalities []string, f Frame) ([][]float32, error) {
	feeds, err := feedsFor("network", modalities, spec)
	if err != nil {
		return nil, err
	}
	var in preprocess.Input
	var noDepth preprocess.DepthImage
	if err := prepare(spec, feeds, f, &in, &noDepth); err != nil {
		return nil, err
	}
	out := make([][]float32, len(feeds))
	for i, fd := range feeds {
		if fd == preprocess.FeedRGB {
			out[i] = in.RGB // in is this call's own
		} else {
			out[i] = in.Depth
		}
	}
	return out, nil
}
