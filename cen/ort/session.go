package ort

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/cen-ros/cen/cen"
)

// Devices are the values Options.Device takes.
var Devices = []string{"auto", "cpu", "cuda", "tensorrt"}

// Options configure a Session. The zero value loads the library from the usual places, runs on the best
// device the machine has (TensorRT, then CUDA, then CPU) with ONNX Runtime's default threads, full graph
// optimisation and the memory arena, and warms up once.
type Options struct {
	// Library is the ONNX Runtime library (the --ort-lib flag); "" looks it up as Find does.
	Library string
	// Device is "auto" (or ""), "cpu", "cuda" or "tensorrt". auto tries TensorRT, then CUDA, then CPU and
	// logs why each GPU provider was not used; an explicit cuda or tensorrt that cannot run is an error.
	Device string
	// DeviceID selects the GPU.
	DeviceID int
	// IntraOpThreads and InterOpThreads size ONNX Runtime's thread pools; 0 keeps its defaults (one intra-op
	// thread per core).
	IntraOpThreads, InterOpThreads int
	// GraphOptLevel is "all" (or ""), "extended", "basic" or "disable".
	GraphOptLevel string
	// DisableMemArena turns off the CPU memory arena (lower peak memory, slower allocations).
	DisableMemArena bool
	// GPUMemLimit bounds the CUDA memory arena in bytes; 0 means no limit.
	GPUMemLimit int64
	// ArenaExtendStrategy is how the CUDA arena grows: "next_power_of_two" (or "") or "same_as_requested".
	ArenaExtendStrategy string
	// WarmupHeight and WarmupWidth size the warm-up run of a dynamic model; 0 takes the preprocessing size from
	// the model's metadata (preprocess.height/width), else 480×640.
	WarmupHeight, WarmupWidth int
	// NoWarmup skips the warm-up run.
	NoWarmup bool
	// Logger receives one line per event worth knowing (device chosen, providers that failed); nil is silent.
	Logger func(string)
}

// Session is a deployable model loaded into ONNX Runtime.
//
// Threading: a Session may be shared by goroutines. Run calls are serialised (one ONNX Runtime run at a time
// per session, which is also what keeps its intra-op thread pool from being oversubscribed); each call writes
// its outputs into the Result its caller passes, so results of concurrent callers never mix. Close waits for
// a running Run and must not be called concurrently with new ones.
type Session struct {
	path   string
	info   *cen.ModelInfo
	device string
	sess   *ort.DynamicAdvancedSession
	outs   []string

	mu   sync.Mutex
	bufs *buffers
}

// buffers are the input and output tensors bound for one batch and input size, reused across runs.
type buffers struct {
	n, h, w, lh, lw int
	in              []*ort.Tensor[float32]
	inData          [][]float32
	vals            []ort.Value // outputs in session order
	logits, conf    *ort.Tensor[float32]
	labels8         *ort.Tensor[uint8]
	labels16        *ort.Tensor[uint16]
	perMod          []*ort.Tensor[float32]
}

func (b *buffers) destroy() {
	for _, t := range b.in {
		t.Destroy()
	}
	for _, v := range b.vals {
		if v != nil {
			v.Destroy()
		}
	}
}

// Result is the output of one Run. Its slices belong to the caller: Run grows them when they are too short
// and reuses them otherwise, so a caller that keeps one Result per stream allocates nothing per frame.
type Result struct {
	// N is the batch size; Height and Width the input size.
	N, Height, Width int
	// Classes is the number of classes K.
	Classes int
	// LogitsHeight and LogitsWidth are the logits size (input size / cen.OutputStride, rounded up).
	LogitsHeight, LogitsWidth int
	// Logits is the ensemble's logits [N, K, LogitsHeight, LogitsWidth].
	Logits []float32
	// Labels is the class per pixel [N, Height, Width] (the graph's uint8 or uint16 labels, widened).
	Labels []uint16
	// Confidence is the largest softmax probability per pixel [N, Height, Width].
	Confidence []float32
	// PerModality holds each modality's logits (same layout as Logits) for models exported with them.
	PerModality [][]float32
}

// Inspect reads and checks a model file without loading ONNX Runtime (cen info uses it).
func Inspect(path string) (*cen.ModelInfo, error) { return cen.ReadModelInfo(path) }

// Open loads the model at path into ONNX Runtime on the device opt asks for, and warms it up. A file that is
// not a model written by `cen export` (not ONNX, truncated, unexpected inputs, outputs or metadata) gives one
// error naming the file and what is wrong; it wraps cen.ErrBadModel.
func Open(path string, opt Options) (*Session, error) {
	device := strings.ToLower(opt.Device)
	if device == "" {
		device = "auto"
	}
	if !contains(Devices, device) {
		return nil, fmt.Errorf("unknown device %q: use one of %s", opt.Device, strings.Join(Devices, ", "))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading model: %w", err)
	}
	info, err := cen.ParseModelInfo(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := Load(opt.Library); err != nil {
		return nil, err
	}
	s := &Session{path: path, info: info}
	for _, o := range info.Outputs {
		s.outs = append(s.outs, o.Name)
	}
	log := func(format string, a ...any) {
		if opt.Logger != nil {
			opt.Logger(fmt.Sprintf(format, a...))
		}
	}
	candidates := []string{device}
	if device == "auto" {
		candidates = []string{"tensorrt", "cuda", "cpu"}
	}
	for _, d := range candidates {
		sess, err := s.newSession(data, d, opt)
		if err == nil {
			s.sess, s.device = sess, d
			break
		}
		if device != "auto" || d == "cpu" {
			return nil, fmt.Errorf("%s: cannot run on %s: %w", path, d, err)
		}
		log("onnxruntime: %s not used: %s", d, reason(err))
	}
	threads := "default threads"
	if opt.IntraOpThreads > 0 {
		threads = strconv.Itoa(opt.IntraOpThreads) + " threads"
	}
	log("onnxruntime %s: %s runs on %s (%s)", Version(), path, s.device, threads)
	if !opt.NoWarmup {
		h, w := info.InputHeight, info.InputWidth
		if info.Dynamic() {
			h, w = opt.WarmupHeight, opt.WarmupWidth
			if h <= 0 || w <= 0 {
				h, _ = strconv.Atoi(info.Metadata["preprocess.height"])
				w, _ = strconv.Atoi(info.Metadata["preprocess.width"])
			}
			if h < 32 || w < 32 {
				h, w = 480, 640
			}
		}
		in := make([][]float32, len(info.Modalities))
		for i := range in {
			in[i] = make([]float32, 3*h*w)
		}
		if err := s.Run(in, 1, h, w, &Result{}); err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: warm-up run on %s: %w", path, s.device, err)
		}
	}
	return s, nil
}

// newSession creates the ONNX Runtime session on one device.
func (s *Session) newSession(data []byte, device string, opt Options) (*ort.DynamicAdvancedSession, error) {
	so, err := sessionOptions(opt)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	switch device {
	case "tensorrt":
		t, err := ort.NewTensorRTProviderOptions()
		if err != nil {
			return nil, err
		}
		defer t.Destroy()
		if err := t.Update(map[string]string{"device_id": strconv.Itoa(opt.DeviceID)}); err != nil {
			return nil, err
		}
		if err := so.AppendExecutionProviderTensorRT(t); err != nil {
			return nil, err
		}
		// Nodes TensorRT does not take run on CUDA rather than the CPU.
		if err := appendCUDA(so, opt); err != nil {
			return nil, err
		}
	case "cuda":
		if err := appendCUDA(so, opt); err != nil {
			return nil, err
		}
	}
	var in []string
	for _, i := range s.info.Inputs {
		in = append(in, i.Name)
	}
	return ort.NewDynamicAdvancedSessionWithONNXData(data, in, s.outs, so)
}

// appendCUDA adds the CUDA provider with the arena options. The options object must never be nil: ONNX Runtime
// dereferences it.
func appendCUDA(so *ort.SessionOptions, opt Options) error {
	c, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return err
	}
	defer c.Destroy()
	m := map[string]string{"device_id": strconv.Itoa(opt.DeviceID)}
	if opt.GPUMemLimit > 0 {
		m["gpu_mem_limit"] = strconv.FormatInt(opt.GPUMemLimit, 10)
	}
	switch opt.ArenaExtendStrategy {
	case "", "next_power_of_two":
		m["arena_extend_strategy"] = "kNextPowerOfTwo"
	case "same_as_requested":
		m["arena_extend_strategy"] = "kSameAsRequested"
	default:
		return fmt.Errorf("arena extend strategy %q: use next_power_of_two or same_as_requested", opt.ArenaExtendStrategy)
	}
	if err := c.Update(m); err != nil {
		return err
	}
	return so.AppendExecutionProviderCUDA(c)
}

// sessionOptions are the session options of every session this package opens: opt's threads, graph
// optimisation level and CPU memory arena; execution providers are the caller's to add. The caller destroys
// them.
func sessionOptions(opt Options) (*ort.SessionOptions, error) {
	level, err := graphOptLevel(opt.GraphOptLevel)
	if err != nil {
		return nil, err
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	if err := configure(so, opt, level); err != nil {
		so.Destroy()
		return nil, err
	}
	return so, nil
}

func configure(so *ort.SessionOptions, opt Options, level ort.GraphOptimizationLevel) error {
	if opt.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(opt.IntraOpThreads); err != nil {
			return err
		}
	}
	if opt.InterOpThreads > 0 {
		if err := so.SetInterOpNumThreads(opt.InterOpThreads); err != nil {
			return err
		}
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		return err
	}
	return so.SetCpuMemArena(!opt.DisableMemArena)
}

func graphOptLevel(s string) (ort.GraphOptimizationLevel, error) {
	switch strings.ToLower(s) {
	case "", "all":
		return ort.GraphOptimizationLevelEnableAll, nil
	case "extended":
		return ort.GraphOptimizationLevelEnableExtended, nil
	case "basic":
		return ort.GraphOptimizationLevelEnableBasic, nil
	case "disable", "none":
		return ort.GraphOptimizationLevelDisableAll, nil
	}
	return 0, fmt.Errorf("graph optimisation level %q: use all, extended, basic or disable", s)
}

// Info describes the loaded model (its metadata, inputs and outputs).
func (s *Session) Info() *cen.ModelInfo { return s.info }

// Metadata returns every metadata entry of the model, the "preprocess." keys included
// (preprocess.SpecFromMetadata reads those).
func (s *Session) Metadata() map[string]string { return s.info.Metadata }

// Device is the execution provider the session runs on: "cpu", "cuda" or "tensorrt".
func (s *Session) Device() string { return s.device }

// Path is the model file.
func (s *Session) Path() string { return s.path }

// Run runs the model on one [n, 3, h, w] slice per modality (already preprocessed; see preprocess/) and writes
// the outputs into dst.
func (s *Session) Run(inputs [][]float32, n, h, w int, dst *Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return errors.New("session is closed")
	}
	mods := s.info.Modalities
	if len(inputs) != len(mods) {
		return fmt.Errorf("%s takes %d inputs %v, got %d", s.path, len(mods), mods, len(inputs))
	}
	b, err := s.buffersFor(n, h, w)
	if err != nil {
		return err
	}
	size := n * 3 * h * w
	for i, x := range inputs {
		if len(x) != size {
			return fmt.Errorf("input %q holds %d values, want %d for [%d 3 %d %d]", mods[i], len(x), size, n, h, w)
		}
		copy(b.inData[i], x)
	}
	in := make([]ort.Value, len(b.in))
	for i, t := range b.in {
		in[i] = t
	}
	if err := s.sess.Run(in, b.vals); err != nil {
		return fmt.Errorf("%s: run on %s: %w", s.path, s.device, err)
	}
	*dst = Result{N: n, Height: h, Width: w, Classes: s.info.Classes, LogitsHeight: b.lh, LogitsWidth: b.lw,
		Logits: append(dst.Logits[:0], b.logits.GetData()...), Confidence: append(dst.Confidence[:0], b.conf.GetData()...),
		Labels: dst.Labels[:0], PerModality: dst.PerModality[:0]}
	if b.labels8 != nil {
		for _, v := range b.labels8.GetData() {
			dst.Labels = append(dst.Labels, uint16(v))
		}
	} else {
		dst.Labels = append(dst.Labels, b.labels16.GetData()...)
	}
	for i, t := range b.perMod {
		var keep []float32
		if i < cap(dst.PerModality) {
			keep = dst.PerModality[:i+1][i]
		}
		dst.PerModality = append(dst.PerModality, append(keep[:0], t.GetData()...))
	}
	return nil
}

// buffersFor returns the tensors for n×h×w, allocating them when the size changed. Callers hold s.mu.
func (s *Session) buffersFor(n, h, w int) (*buffers, error) {
	if b := s.bufs; b != nil && b.n == n && b.h == h && b.w == w {
		return b, nil
	}
	info := s.info
	if n < 1 || h < 32 || w < 32 {
		return nil, fmt.Errorf("%s: input [%d 3 %d %d]: the network needs at least 1 image of 32×32", s.path, n, h, w)
	}
	if !info.Dynamic() && (h != info.InputHeight || w != info.InputWidth) {
		return nil, fmt.Errorf("%s takes %d×%d inputs (height×width), got %d×%d: resize first, or export with --dynamic",
			s.path, info.InputHeight, info.InputWidth, h, w)
	}
	if s.bufs != nil {
		s.bufs.destroy()
		s.bufs = nil
	}
	lh, lw := cen.OutputSize(h, w)
	b := &buffers{n: n, h: h, w: w, lh: lh, lw: lw}
	fail := func(err error) (*buffers, error) {
		b.destroy()
		return nil, fmt.Errorf("allocating tensors for [%d 3 %d %d]: %w", n, h, w, err)
	}
	for range info.Modalities {
		data := make([]float32, n*3*h*w)
		t, err := ort.NewTensor(ort.NewShape(int64(n), 3, int64(h), int64(w)), data)
		if err != nil {
			return fail(err)
		}
		b.in, b.inData = append(b.in, t), append(b.inData, data)
	}
	K := int64(info.Classes)
	for _, name := range s.outs {
		var v ort.Value
		var err error
		switch {
		case name == cen.OutputLogits:
			b.logits, err = ort.NewEmptyTensor[float32](ort.NewShape(int64(n), K, int64(lh), int64(lw)))
			v = b.logits
		case name == cen.OutputConfidence:
			b.conf, err = ort.NewEmptyTensor[float32](ort.NewShape(int64(n), int64(h), int64(w)))
			v = b.conf
		case name == cen.OutputLabels && info.LabelType == "uint8":
			b.labels8, err = ort.NewEmptyTensor[uint8](ort.NewShape(int64(n), int64(h), int64(w)))
			v = b.labels8
		case name == cen.OutputLabels:
			b.labels16, err = ort.NewEmptyTensor[uint16](ort.NewShape(int64(n), int64(h), int64(w)))
			v = b.labels16
		default: // per-modality logits, in modality order (checked by cen.ParseModelInfo)
			var t *ort.Tensor[float32]
			t, err = ort.NewEmptyTensor[float32](ort.NewShape(int64(n), K, int64(lh), int64(lw)))
			b.perMod = append(b.perMod, t)
			v = t
		}
		if err != nil {
			return fail(err)
		}
		b.vals = append(b.vals, v)
	}
	s.bufs = b
	return b, nil
}

// Close releases the session and its tensors. The ONNX Runtime library stays loaded for other sessions.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bufs != nil {
		s.bufs.destroy()
		s.bufs = nil
	}
	if s.sess == nil {
		return nil
	}
	err := s.sess.Destroy()
	s.sess = nil
	return err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
