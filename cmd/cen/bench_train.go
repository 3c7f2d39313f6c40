package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sort"
	"syscall"
	"time"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/cen/engine"
	"github.com/cen-ros/cen/train"
)

func benchTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench train", "--arch A [--height H --width W --batch B --threads N --iters K]", stderr)
	arch := fs.String("arch", "refinenet-r50", "architecture")
	h := fs.Int("height", 240, "input height")
	w := fs.Int("width", 320, "input width")
	batch := fs.Int("batch", 2, "images per modality per step")
	threads := fs.Int("threads", 2, "threads (OpenBLAS and the engine's own)")
	iters := fs.Int("iters", 5, "timed steps")
	warmup := fs.Int("warmup", 1, "untimed steps first")
	mods := fs.Int("modalities", 2, "modalities")
	classes := fs.Int("classes", 40, "classes")
	mult := fs.Float64("width-mult", 1, "channel width multiplier of the network")
	bnTrain := fs.Bool("bn-train", false, "batch norm in training mode (the lite recipe) instead of frozen (the official one)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the timed steps (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *batch < 1 || *iters < 1 || *warmup < 0 || *threads < 1:
		return fmt.Errorf("--batch %d, --iters %d, --warmup %d, --threads %d: batch, timed steps and threads must be at least 1", *batch, *iters, *warmup, *threads)
	case *mods < 1 || *mods > 8:
		return fmt.Errorf("--modalities %d: want 1 to 8", *mods)
	case *classes < 1 || *classes > 255:
		return fmt.Errorf("--classes %d: want 1 to 255", *classes)
	case *h < 32 || *w < 32:
		return fmt.Errorf("--height %d --width %d: the network needs at least 32×32", *h, *w)
	}
	engine.SetThreads(*threads)
	cfg := cen.DefaultConfig(*arch)
	cfg.Modalities, cfg.Classes, cfg.Width = defaultModalities(*mods), *classes, *mult
	m, err := cen.New(cfg, 1)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := make([]*engine.Tensor, *mods)
	for i := range inputs {
		inputs[i] = engine.NewTensor(*batch, 3, *h, *w)
		for j := range inputs[i].Data {
			inputs[i].Data[j] = float32(rng.NormFloat64())
		}
	}
	labels := make([]uint16, *batch**h**w)
	for i := range labels {
		labels[i] = uint16(rng.IntN(*classes))
	}
	opt := train.OfficialSGD(m)
	// The official recipe: frozen batch norm, dropout on, SGD on both parameter groups.
	step := func(seed uint64) error {
		m.ZeroGrad()
		if _, _, err := m.Backward(inputs, labels, *h, *w, cen.TrainOptions{Seed: seed, BNTrain: *bnTrain}); err != nil {
			return err
		}
		opt.Step()
		return nil
	}
	for i := 0; i < *warmup; i++ {
		if err := step(uint64(i)); err != nil {
			return err
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	times := make([]float64, *iters)
	for i := range times {
		t0 := time.Now()
		if err := step(uint64(100 + i)); err != nil {
			return err
		}
		times[i] = float64(time.Since(t0).Microseconds()) / 1000
	}
	sorted := append([]float64(nil), times...)
	sort.Float64s(sorted)
	var mean float64
	for _, t := range times {
		mean += t
	}
	mean /= float64(len(times))
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	// Forward, input gradient and weight gradient: three times the forward convolutions.
	gflop := 3 * m.ConvFLOPs(*batch, *h, *w) / 1e9
	median := sorted[len(sorted)/2]
	return json.NewEncoder(stdout).Encode(map[string]any{
		"impl": "cen-go", "arch": *arch, "height": *h, "width": *w, "batch": *batch, "threads": *threads,
		"modalities": *mods, "classes": *classes, "iters": *iters,
		"ms_per_step_median": round2(median), "ms_per_step_mean": round2(mean),
		"gflop_per_step": round2(gflop), "gflops_rate": round2(gflop / (median / 1000)),
		"peak_rss_mb": round2(float64(ru.Maxrss) / 1024),
	})
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
