package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cen-ros/cen/cen"
	cenort "github.com/cen-ros/cen/cen/ort"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/preprocess"
)

// benchInfer times the inference path on one frame (batch 1 per modality) at the network's input size: the
// model's own file (a checkpoint on the Go engine or an ONNX model on ONNX Runtime), or, with --random ARCH,
// an untrained network saved both ways and timed on both backends in the same run. One JSON line per backend
// with the network's p50, p95 and mean time and its FLOP rate.
func benchInfer(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench infer", "(--model M | --random ARCH) [--height H --width W] [--threads N] [--device D] [--iters K]", stderr)
	model := fs.String("model", "", "checkpoint or ONNX model")
	random := fs.String("random", "", "an untrained network of this architecture, timed as a checkpoint on the Go engine and as ONNX on ONNX Runtime")
	backends := fs.String("backends", "go-engine,onnxruntime", "with --random: the backends to time, in order (go-engine, onnxruntime, onnxruntime-winograd)")
	h := fs.Int("height", 0, "input height (default: the model's recipe; 480 for --random)")
	w := fs.Int("width", 0, "input width (default: the model's recipe; 640 for --random)")
	threads := fs.Int("threads", 0, "threads (0: one per core)")
	device := fs.String("device", "auto", "ONNX models: auto, cpu, cuda or tensorrt")
	iters := fs.Int("iters", 10, "timed runs")
	warmup := fs.Int("warmup", 1, "untimed runs after the load-time warm-up")
	lib := fs.String("ort-lib", "", "ONNX Runtime library")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*model == "") == (*random == "") {
		return errors.New("give --model or --random")
	}
	if *iters < 1 || *warmup < 0 || *threads < 0 {
		return fmt.Errorf("--iters %d, --warmup %d, --threads %d: need at least one timed run and no negative counts", *iters, *warmup, *threads)
	}
	if (*h > 0) != (*w > 0) || *h < 0 || *w < 0 {
		return fmt.Errorf("give both --height and --width (got %d and %d)", *h, *w)
	}
	conf := infer.Conf{Device: *device, Threads: *threads, Height: *h, Width: *w, ORT: ortOptions(*lib),
		Logger: func(l string) { fmt.Fprintln(stderr, l) }}
	paths := []string{*model}
	if *random != "" {
		dir, err := os.MkdirTemp("", "cen-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if conf.Height == 0 {
			conf.Height, conf.Width = 480, 640
		}
		if paths, err = randomFiles(dir, *random, strings.Split(*backends, ","), conf.Height, conf.Width); err != nil {
			return err
		}
	}
	for _, p := range paths {
		if err := benchOne(p, conf, *warmup, *iters, stdout); err != nil {
			return err
		}
	}
	return nil
}

// randomFiles writes an untrained network of arch as the files the backends load: a checkpoint for the Go
// engine, an ONNX model at h×w for ONNX Runtime.
func randomFiles(dir, arch string, backends []string, h, w int) ([]string, error) {
	m, err := randomModel(arch, 40, 2)
	if err != nil {
		return nil, err
	}
	spec := preprocess.DefaultSpec()
	spec.Height, spec.Width = h, w
	r := m.Recipe()
	r.Preprocess = spec.Metadata()
	if err := m.SetRecipe(r); err != nil {
		return nil, err
	}
	var paths []string
	for _, b := range backends {
		switch strings.TrimSpace(b) {
		case "go-engine":
			p := filepath.Join(dir, arch+".ckpt")
			if err := m.SaveCheckpoint(p, nil, nil); err != nil {
				return nil, err
			}
			paths = append(paths, p)
		case "onnxruntime", "onnxruntime-winograd":
			opt := cen.ExportOptions{Height: h, Width: w}
			p := filepath.Join(dir, arch+".onnx")
			if strings.HasSuffix(b, "-winograd") {
				opt.Conv3x3 = cen.ConvWinograd
				p = filepath.Join(dir, arch+".winograd.onnx")
			}
			if err := writeONNX(m, p, opt); err != nil {
				return nil, err
			}
			paths = append(paths, p)
		default:
			return nil, fmt.Errorf("--backends: %q is not go-engine, onnxruntime or onnxruntime-winograd", b)
		}
	}
	return paths, nil
}

func benchOne(path string, conf infer.Conf, warmup, iters int, stdout io.Writer) error {
	m, err := infer.Open(path, conf)
	if err != nil {
		return err
	}
	defer m.Close()
	info := m.Info()
	// A frame at the network's size, so the resize is the identity and the figures are the network's.
	hgt, wid := info.Spec.Height, info.Spec.Width
	rng := rand.New(rand.NewPCG(1, 1))
	f := infer.Frame{RGB: preprocess.NewRGBImage(wid, hgt), Depth: preprocess.DepthImage{Width: wid, Height: hgt, Pix: make([]float32, wid*hgt)}}
	for i := range f.RGB.Pix {
		f.RGB.Pix[i] = uint8(rng.IntN(256))
	}
	for i := range f.Depth.Pix {
		f.Depth.Pix[i] = 0.5 + 4*rng.Float32()
	}
	var res infer.Result
	for i := 0; i < warmup; i++ {
		if err := m.Segment(f, &res); err != nil {
			return err
		}
	}
	net := make([]float64, iters)
	total := make([]float64, iters)
	for i := range net {
		if err := m.Segment(f, &res); err != nil {
			return err
		}
		net[i], total[i] = ms(res.Timings.Inference), ms(res.Timings.Total())
	}
	p50, p95, mean := stats(net)
	round := func(v float64) float64 { return math.Round(v*1000) / 1000 }
	tp50, _, _ := stats(total)
	return json.NewEncoder(stdout).Encode(map[string]any{
		"model": path, "arch": info.Arch, "backend": info.Backend, "device": info.Device, "threads": conf.Threads,
		"height": hgt, "width": wid, "iters": iters, "p50_ms": round(p50), "p95_ms": round(p95), "mean_ms": round(mean),
		"segment_p50_ms": round(tp50), "gflop_per_frame": round(info.GFLOPs), "gflops_rate": round(info.GFLOPs / (p50 / 1e3)),
		"onnxruntime": info.RuntimeVersion, "conv3x3": info.Conv3x3,
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// stats returns the median, 95th percentile and mean of v.
func stats(v []float64) (p50, p95, mean float64) {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	pct := func(q float64) float64 { return s[int(math.Round(q/100*float64(len(s)-1)))] }
	for _, x := range s {
		mean += x
	}
	return pct(50), pct(95), mean / float64(len(s))
}

// benchONNX times any fixed-size ONNX model with float32 inputs on ONNX Runtime's CPU provider, on random
// inputs: the reference a user could deploy instead of cen's export (the PyTorch network through
// torch.onnx.export, scripts/torch_bench.py export-onnx). One JSON line.
func benchONNX(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench onnx", "--model FILE.onnx [--threads N] [--iters K]", stderr)
	model := fs.String("model", "", "ONNX model with fixed-size float32 inputs")
	threads := fs.Int("threads", 0, "intra-op threads (0: one per core)")
	iters := fs.Int("iters", 10, "timed runs")
	warmup := fs.Int("warmup", 1, "untimed runs first")
	lib := fs.String("ort-lib", "", "ONNX Runtime library")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" {
		return errors.New("give --model FILE.onnx")
	}
	if *iters < 1 || *warmup < 0 || *threads < 0 {
		return fmt.Errorf("--iters %d, --warmup %d, --threads %d: need at least one timed run and no negative counts", *iters, *warmup, *threads)
	}
	times, err := cenort.TimeFile(*model, *lib, *threads, *warmup, *iters)
	if err != nil {
		return err
	}
	v := make([]float64, len(times))
	for i, d := range times {
		v[i] = ms(d)
	}
	p50, p95, mean := stats(v)
	round := func(v float64) float64 { return math.Round(v*1000) / 1000 }
	return json.NewEncoder(stdout).Encode(map[string]any{"model": *model, "backend": "onnxruntime", "device": "cpu",
		"threads": *threads, "iters": *iters, "p50_ms": round(p50), "p95_ms": round(p95), "mean_ms": round(mean), "onnxruntime": cenort.Version()})
}
