package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/infer"
)

func init() {
	register("export-torch", "write a cen checkpoint in the paper's PyTorch format (.pth.tar), to continue a run in the official code", runExportTorch)
}

func runExportTorch(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export-torch", "CKPT -o OUT.pth.tar [--epoch N] [--best-val V]", stderr)
	out := fs.String("o", "", "output PyTorch checkpoint (required)")
	epoch := fs.Int("epoch", 0, `epoch_start to record (default: the checkpoint's training state "epoch", else 0)`)
	bestVal := fs.Float64("best-val", 0, `best_val to record, the official code's best validation mIoU (default: the training state's "best_miou", else 0)`)
	ckpt, err := parseWithFile(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w (usage: cen export-torch CKPT -o OUT.pth.tar)", err)
	}
	if *out == "" {
		return errors.New("missing -o OUT.pth.tar")
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if *epoch < 0 {
		return fmt.Errorf("--epoch %d: want 0 or more", *epoch)
	}
	// A PyTorch file or an ONNX model gets a sentence saying what it is rather than a failed header parse.
	kind, err := infer.Kind(ckpt)
	if err != nil {
		return err
	}
	if kind != "checkpoint" {
		return fmt.Errorf("%s is an ONNX model, not a cen checkpoint: export-torch starts from the checkpoint it was exported from", ckpt)
	}
	m, info, err := cen.LoadCheckpoint(ckpt)
	if err != nil {
		return err
	}
	stEpoch, stBest, err := stateEpochAndBest(info.State)
	if err != nil {
		return fmt.Errorf("%s: %w", ckpt, err)
	}
	if !given["epoch"] && stEpoch != nil {
		if *stEpoch < 0 {
			return fmt.Errorf("%s: its training state has epoch %d: give --epoch", ckpt, *stEpoch)
		}
		*epoch = *stEpoch
	}
	if !given["best-val"] && stBest != nil {
		*bestVal = *stBest
	}
	if err := m.SaveTorch(*out, *epoch, *bestVal); err != nil {
		return err
	}
	cfg := m.Config()
	fmt.Fprintf(stdout, "wrote %s: official CEN checkpoint of %s (width %g), %d modalities [%s], %d classes, %d state_dict entries; epoch_start %d, best_val %g\n",
		*out, cfg.Arch, cfg.Width, cfg.M(), strings.Join(cfg.Modalities, " "), cfg.Classes, len(m.Params())+len(m.Counters()), *epoch, *bestVal)
	if note := officialCodeNote(cfg); note != "" {
		fmt.Fprintf(stderr, "cen export-torch: note: %s\n", note)
	}
	return nil
}

// stateEpochAndBest reads "epoch" and "best_miou" from a checkpoint's training state, nil where absent. A state
// that is not a JSON object has neither.
func stateEpochAndBest(state json.RawMessage) (epoch *int, best *float64, err error) {
	var fields map[string]json.RawMessage
	if len(state) == 0 || json.Unmarshal(state, &fields) != nil {
		return nil, nil, nil
	}
	if raw, ok := fields["epoch"]; ok {
		e, err := strconv.Atoi(string(raw))
		if err != nil {
			return nil, nil, fmt.Errorf("its training state has epoch %s, not a whole number: give --epoch", raw)
		}
		epoch = &e
	}
	if raw, ok := fields["best_miou"]; ok {
		var v float64
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, nil, fmt.Errorf("its training state has best_miou %s, not a number: give --best-val", raw)
		}
		best = &v
	}
	return epoch, best, nil
}

// officialCodeNote says what keeps the official code from continuing a run from this network as it is: it
// builds only the paper's RefineNets at full width for two modalities, and takes θ from its command line.
func officialCodeNote(cfg cen.Config) string {
	var notes []string
	if !strings.HasPrefix(cfg.Arch, "refinenet-") || cfg.Width != 1 || cfg.M() != 2 {
		notes = append(notes, fmt.Sprintf("the official code builds only refinenet-r50/101/152 at width 1 with 2 modalities; this network (%s, width %g, %d modalities) loads only into a re-statement such as scripts/cen_torch.py",
			cfg.Arch, cfg.Width, cfg.M()))
	}
	if cfg.Threshold != 2e-2 {
		notes = append(notes, fmt.Sprintf("the file does not record the exchange threshold: run the official code with -t %g", cfg.Threshold))
	}
	return strings.Join(notes, "; ")
}
