package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/cen-ros/cen/preprocess"
	"github.com/cen-ros/cen/train"
)

func init() {
	register("train", "train CEN on NYUDv2, SUN RGB-D, a folder or the synthetic scenes; resumable", runTrain)
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", "--dataset D --data DIR --arch A --out RUN [flags] | --resume RUN", stderr)
	df := addDataFlags(fs, true, nil)
	arch := fs.String("arch", "lite-r18", "architecture: refinenet-r50/r101/r152 (the paper's) or lite-r18/r34")
	width := fs.Float64("width", 1, "channel width multiplier (1: the paper's network)")
	mods := fs.String("modalities", "rgb,depth", "modalities: rgb,depth (CEN), rgb or depth (unimodal), rgb,hha")
	initFrom := fs.String("init", "", "cen checkpoint to start from (import-torch of the paper's model, or of a torchvision ResNet)")
	out := fs.String("out", "", "run folder to create")
	resume := fs.String("resume", "", "run folder to continue where it stopped")
	recipe := fs.String("recipe", "", "training recipe: official (refinenet default) or lite (lite default: from scratch)")
	epochs := fs.String("epochs", "", "epochs per stage, e.g. 100,100,100 (default: the recipe's)")
	lrEnc := fs.String("lr-encoder", "", "encoder learning rate per stage (default: the recipe's)")
	lrDec := fs.String("lr-decoder", "", "decoder learning rate per stage (default: the recipe's)")
	batch := fs.Int("batch", 0, "images per step (default: the recipe's, 6)")
	crop := fs.String("crop", "", "training crop as HxW (default: 500x500, the official)")
	augment := fs.String("augment", "", "augmentation: official or none (default: official)")
	dropout := fs.Float64("dropout", -1, "dropout probability (default: the recipe's; official 0.5)")
	lamda := fs.Float64("lamda", -1, "L1 weight on the penalised γ (default: the recipe's; official 2e-4)")
	theta := fs.Float64("theta", -1, "exchange threshold θ (default: the recipe's; official 2e-2)")
	penalty := fs.String("penalty", "", "L1 on the disjoint γ slices (disjoint, the paper's) or on all channels (all)")
	l1Once := fs.Bool("l1-once", false, "count the L1 term once, not once per output (M+1 times) as the official loss")
	bn := fs.String("bn", "", "batch norm: frozen (official) or train (lite)")
	ablation := fs.String("ablation", "cen", "Table 1 rows: cen, shared (shared convs, private BN, no exchange), l1-all; unimodal is --modalities rgb or depth")
	steps := fs.Int("steps", 0, "stop after this many optimiser steps (0: the whole schedule)")
	valEvery := fs.Int("val-every", 0, "epochs between validations (default: the recipe's, 5)")
	valFrames := fs.Int("val-frames", 0, "validate on the first N frames only (0: all)")
	saveEvery := fs.Int("save-every", 0, "also write last.ckpt every N steps")
	seed := fs.Uint64("seed", 42, "seed of the weights, data order, augmentation and dropout")
	threads := fs.Int("threads", 0, "engine threads (0: one per core)")
	workers := fs.Int("workers", 2, "data loading goroutines")
	// Only the preprocessing of the recipe flags: classes come from the data set.
	rf := recipeFlags{pre: fs.String("preprocess", "", "the model's preprocessing as key=value,... over the official one at the data set's frame size (e.g. resize=letterbox,height=240,width=320)")}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(l string) { fmt.Fprintln(stderr, l) }
	if *resume != "" {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name := range set {
			switch name {
			case "resume", "steps", "threads", "workers":
			default:
				return fmt.Errorf("--resume continues a run with its own settings; --%s cannot change them (only --steps, --threads and --workers)", name)
			}
		}
		sum, err := train.Run(ctx, train.Conf{Out: *resume, Resume: true, Steps: *steps, Threads: *threads, Workers: *workers, Progress: stderr, Log: logf})
		return report(sum, err, stdout)
	}
	if *out == "" {
		fs.Usage()
		return fmt.Errorf("give --out RUN (or --resume RUN)")
	}
	c := train.Conf{Out: *out, Arch: *arch, Width: *width, Modalities: strings.Split(*mods, ","), Init: *initFrom, Seed: *seed, Steps: *steps,
		SaveEvery: *saveEvery, ValFrames: *valFrames, Threads: *threads, Workers: *workers, Progress: stderr, Log: logf}
	var err error
	if c.Data, err = df.conf(); err != nil {
		return err
	}
	switch *recipe {
	case "":
		c.Recipe = train.DefaultRecipe(*arch)
	case "official":
		c.Recipe = train.OfficialRecipe(*arch)
	case "lite":
		c.Recipe = train.LiteRecipe(60)
	default:
		return fmt.Errorf("--recipe %q: use official or lite", *recipe)
	}
	r := &c.Recipe
	if *epochs != "" {
		v, err := ints(*epochs, 0)
		if err != nil {
			return fmt.Errorf("--epochs: %w", err)
		}
		stages := make([]train.Stage, len(v))
		for i, e := range v {
			stages[i] = r.Stages[min(i, len(r.Stages)-1)]
			stages[i].Epochs = e
		}
		r.Stages = stages
	}
	for _, lr := range []struct {
		flag string
		val  string
		set  func(*train.Stage, float32)
	}{{"--lr-encoder", *lrEnc, func(s *train.Stage, v float32) { s.EncoderLR = v }}, {"--lr-decoder", *lrDec, func(s *train.Stage, v float32) { s.DecoderLR = v }}} {
		if lr.val == "" {
			continue
		}
		v, err := floats(lr.val)
		if err != nil {
			return fmt.Errorf("%s: %w", lr.flag, err)
		}
		if len(v) != len(r.Stages) && len(v) != 1 {
			return fmt.Errorf("%s gives %d rates for %d stages", lr.flag, len(v), len(r.Stages))
		}
		for i := range r.Stages {
			lr.set(&r.Stages[i], float32(v[min(i, len(v)-1)]))
		}
	}
	if *batch > 0 {
		r.Batch = *batch
	}
	if *crop != "" {
		h, w, err := parseHW(*crop)
		if err != nil {
			return fmt.Errorf("--crop: %w", err)
		}
		r.Augment.CropHeight, r.Augment.CropWidth = h, w
		if r.Augment.MinSide == 0 {
			r.Augment.MinSide = min(h, w) * 350 / 500 // the official ratio of shorter side to crop
		}
	}
	if *augment != "" {
		r.Augment.Mode = *augment
	}
	if *dropout >= 0 {
		r.Dropout = float32(*dropout)
	}
	if *lamda >= 0 {
		r.Lambda = float32(*lamda)
	}
	if *theta >= 0 {
		r.Theta = float32(*theta)
	}
	if *penalty != "" {
		r.Penalty = *penalty
	}
	r.L1Once = r.L1Once || *l1Once
	switch *bn {
	case "":
	case "frozen":
		r.BNTrain = false
	case "train":
		r.BNTrain = true
	default:
		return fmt.Errorf("--bn %q: use frozen or train", *bn)
	}
	switch *ablation {
	case "cen":
	case "shared":
		r.Theta, r.Lambda = 0, 0 // no channel is ever below 0: no exchange; no L1 either
	case "l1-all":
		r.Penalty = "all"
	default:
		return fmt.Errorf("--ablation %q: use cen, shared or l1-all (unimodal: --modalities rgb or depth)", *ablation)
	}
	if *valEvery > 0 {
		r.ValEvery = *valEvery
	}
	spec, err := trainSpec(c.Data, rf)
	if err != nil {
		return err
	}
	c.Spec = spec
	sum, err := train.Run(ctx, c)
	return report(sum, err, stdout)
}

// trainSpec is the model's recipe preprocessing: the official one at the data set's frame size, with the
// --preprocess changes.
func trainSpec(d train.DataConf, rf recipeFlags) (preprocess.Spec, error) {
	s := preprocess.DefaultSpec()
	if h, w, err := train.FrameSize(d); err == nil {
		s.Height, s.Width = h, w
	} else {
		return s, err
	}
	return rf.spec(s)
}

func report(sum *train.Summary, err error, stdout io.Writer) error {
	if sum != nil {
		switch {
		case sum.Stopped:
			fmt.Fprintf(stdout, "stopped after %d steps (%d epochs done); last checkpoint %s\n", sum.Steps, sum.Epochs, sum.Last)
		default:
			fmt.Fprintf(stdout, "trained %d epochs (%d steps): best ensemble mIoU %.2f %% at epoch %d (%s); exported %s\n",
				sum.Epochs, sum.Steps, sum.BestMIoU, sum.BestEpoch, sum.Best, sum.Export)
		}
	}
	if err == context.Canceled {
		return nil
	}
	return err
}

func ints(s string, n int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", f)
		}
		out = append(out, v)
	}
	if n > 0 && len(out) != n {
		return nil, fmt.Errorf("%q: want %d numbers", s, n)
	}
	return out, nil
}

func floats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseHW(s string) (int, int, error) {
	hs, ws, ok := strings.Cut(strings.ToLower(s), "x")
	h, e1 := strconv.Atoi(hs)
	w, e2 := strconv.Atoi(ws)
	if !ok || e1 != nil || e2 != nil || h < 32 || w < 32 {
		return 0, 0, fmt.Errorf("%q is not HEIGHTxWIDTH of at least 32x32", s)
	}
	return h, w, nil
}
