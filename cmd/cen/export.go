package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/internal/atomicfile"
	"github.com/cen-ros/cen/preprocess"
)

func init() {
	register("export", "write a deployable ONNX model from a checkpoint", runExport)
}

func runExport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", "CKPT -o model.onnx [--height H --width W | --dynamic] [--per-modality] [--dataset D] [--class-names FILE] [--palette FILE]", stderr)
	out := fs.String("o", "", "output ONNX file (required)")
	h := fs.Int("height", 480, "input height of a fixed-size model")
	w := fs.Int("width", 640, "input width of a fixed-size model")
	dynamic := fs.Bool("dynamic", false, "accept any input size (height and width are symbolic)")
	perMod := fs.Bool("per-modality", false, "also output each modality's logits (logits_<modality>)")
	dataset := fs.String("dataset", "", "training data set recorded in the metadata (nyudv2 and sunrgbd also give class names and palette)")
	namesFile := fs.String("class-names", "", "file with one class name per line, in label order")
	paletteFile := fs.String("palette", "", "palette file (R G B [name] per line, see preprocess.LoadPalette)")
	random := fs.String("random", "", "export an untrained network of this architecture instead of a checkpoint (benchmarks)")
	classes := fs.Int("classes", 40, "classes of the --random network")
	mods := fs.Int("modalities", 2, "modalities of the --random network")
	var model *cen.Model
	if i := indexOf(args, "--random", "-random"); i >= 0 || hasPrefixArg(args, "--random=", "-random=") {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("--random takes no checkpoint, got %v", fs.Args())
		}
		cfg := cen.DefaultConfig(*random)
		cfg.Classes, cfg.Modalities = *classes, defaultModalities(*mods)
		m, err := cen.New(cfg, 1)
		if err != nil {
			return err
		}
		model = m
	} else {
		ckpt, err := parseWithFile(fs, args)
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w (usage: cen export CKPT -o model.onnx)", err)
		}
		m, _, err := cen.LoadCheckpoint(ckpt)
		if err != nil {
			return err
		}
		model = m
	}
	if *out == "" {
		return errors.New("missing -o model.onnx")
	}
	cfg := model.Config()
	opt := cen.ExportOptions{Height: *h, Width: *w, Dynamic: *dynamic, PerModality: *perMod, Dataset: *dataset, Version: version}
	switch strings.ToLower(*dataset) {
	case "nyudv2":
		if cfg.Classes == len(preprocess.ClassesNYUDv2) {
			opt.ClassNames, opt.Palette = preprocess.ClassesNYUDv2, toRGB(preprocess.PaletteNYUDv2)
		}
	case "sunrgbd":
		if cfg.Classes == len(preprocess.ClassesSUNRGBD) {
			opt.ClassNames, opt.Palette = preprocess.ClassesSUNRGBD, toRGB(preprocess.PaletteSUNRGBD)
		}
	}
	if opt.Palette == nil {
		opt.Palette = toRGB(preprocess.VOCPalette(cfg.Classes + 1)[1:])
	}
	if *paletteFile != "" {
		pal, names, err := preprocess.LoadPalette(*paletteFile)
		if err != nil {
			return err
		}
		if len(pal) != cfg.Classes {
			return fmt.Errorf("%s has %d colours for a network of %d classes", *paletteFile, len(pal), cfg.Classes)
		}
		opt.Palette = toRGB(pal)
		if names[0] != "" {
			opt.ClassNames = names
		}
	}
	if *namesFile != "" {
		names, err := readLines(*namesFile)
		if err != nil {
			return err
		}
		if len(names) != cfg.Classes {
			return fmt.Errorf("%s names %d classes, the network has %d", *namesFile, len(names), cfg.Classes)
		}
		opt.ClassNames = names
	}
	// The preprocessing the model expects travels in its metadata. Checkpoints do not record it yet, so it is
	// the official recipe at the export size.
	spec := preprocess.DefaultSpec()
	if !*dynamic {
		spec.Height, spec.Width = *h, *w
	}
	opt.Metadata = spec.Metadata()
	if err := atomicfile.Write(*out, 0o644, func(wr io.Writer) error {
		bw := bufio.NewWriterSize(wr, 1<<20)
		if err := model.ExportONNX(bw, opt); err != nil {
			return err
		}
		return bw.Flush()
	}); err != nil {
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	size := "dynamic size"
	if !*dynamic {
		size = fmt.Sprintf("%dx%d", *w, *h)
	}
	fmt.Fprintf(stdout, "wrote %s: %s, %d classes, modalities %v, %s, %.1f GFLOP per frame at %dx%d\n", *out, cfg.Arch, cfg.Classes,
		cfg.Modalities, size, model.ConvFLOPs(1, spec.Height, spec.Width)/1e9, spec.Width, spec.Height)
	return nil
}

func toRGB(p preprocess.Palette) [][3]uint8 {
	out := make([][3]uint8, len(p))
	copy(out, p)
	return out
}

func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	return out, nil
}

func indexOf(args []string, names ...string) int {
	for i, a := range args {
		for _, n := range names {
			if a == n {
				return i
			}
		}
	}
	return -1
}

func hasPrefixArg(args []string, prefixes ...string) bool {
	for _, a := range args {
		for _, p := range prefixes {
			if strings.HasPrefix(a, p) {
				return true
			}
		}
	}
	return false
}
