package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/cen-ros/cen/cen/ort"
)

// benchInfer times ONNX Runtime on an exported model: one warm-up run at load and --warmup more, then --iters
// timed runs of one frame (batch 1 per modality), printed as one JSON line with the FLOP rate.
func benchInfer(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench infer", "--model M [--height H --width W] [--threads N] [--device D] [--iters K]", stderr)
	model := fs.String("model", "", "exported ONNX model (required)")
	h := fs.Int("height", 0, "input height (default: the model's, or its preprocessing size when dynamic)")
	w := fs.Int("width", 0, "input width")
	threads := fs.Int("threads", 0, "intra-op threads (0: ONNX Runtime's default, one per core)")
	device := fs.String("device", "auto", "auto, cpu, cuda or tensorrt")
	iters := fs.Int("iters", 10, "timed runs")
	warmup := fs.Int("warmup", 1, "untimed runs after the load-time warm-up")
	lib := fs.String("ort-lib", "", "ONNX Runtime library (default: "+ort.EnvVar+", then .deps/onnxruntime/current, then the system)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" {
		return errors.New("missing --model")
	}
	if *iters < 1 {
		return fmt.Errorf("--iters %d: need at least one timed run", *iters)
	}
	info, err := ort.Inspect(*model)
	if err != nil {
		return err
	}
	height, width := info.InputHeight, info.InputWidth
	if *h > 0 || *w > 0 {
		height, width = *h, *w
	} else if info.Dynamic() {
		height, _ = strconv.Atoi(info.Metadata["preprocess.height"])
		width, _ = strconv.Atoi(info.Metadata["preprocess.width"])
	}
	s, err := ort.Open(*model, ort.Options{Library: *lib, Device: *device, IntraOpThreads: *threads, InterOpThreads: 1,
		WarmupHeight: height, WarmupWidth: width, Logger: func(l string) { fmt.Fprintln(stderr, l) }})
	if err != nil {
		return err
	}
	defer s.Close()
	in, err := s.Inputs(1, height, width)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, x := range in {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
	}
	for i := 0; i < *warmup; i++ {
		if _, err := s.Run(in, 1, height, width); err != nil {
			return err
		}
	}
	ms := make([]float64, *iters)
	for i := range ms {
		t0 := time.Now()
		if _, err := s.Run(in, 1, height, width); err != nil {
			return err
		}
		ms[i] = float64(time.Since(t0).Microseconds()) / 1e3
	}
	var sum float64
	for _, v := range ms {
		sum += v
	}
	sort.Float64s(ms)
	pct := func(q float64) float64 { return ms[int(math.Round(q/100*float64(len(ms)-1)))] }
	gf := info.GFLOPsAt(height, width)
	p50 := pct(50)
	round := func(v float64) float64 { return math.Round(v*1000) / 1000 }
	return json.NewEncoder(stdout).Encode(map[string]any{
		"model": *model, "arch": info.Arch, "device": s.Device(), "threads": *threads, "height": height, "width": width,
		"iters": *iters, "p50_ms": round(p50), "p95_ms": round(pct(95)), "mean_ms": round(sum / float64(len(ms))),
		"gflop_per_frame": round(gf), "gflops_rate": round(gf / (p50 / 1e3)), "onnxruntime": ort.Version(),
	})
}
