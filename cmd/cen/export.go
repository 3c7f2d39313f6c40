package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/cen-ros/cen/bags"
	"github.com/cen-ros/cen/cen"
	cenort "github.com/cen-ros/cen/cen/ort"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/internal/atomicfile"
	"github.com/cen-ros/cen/node/frames"
	"github.com/cen-ros/cen/preprocess"
	"github.com/cen-ros/cen/train"
)

func init() {
	register("export", "write a deployable ONNX model from a checkpoint", runExport)
}

func runExport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", "CKPT -o model.onnx [--height H --width W | --dynamic] [--per-modality] [--class-names FILE] [--palette FILE]", stderr)
	out := fs.String("o", "", "output ONNX file (required)")
	h := fs.Int("height", 0, "input height of a fixed-size model (default: the checkpoint's recipe)")
	w := fs.Int("width", 0, "input width of a fixed-size model")
	dynamic := fs.Bool("dynamic", false, "accept any input size (height and width are symbolic)")
	perMod := fs.Bool("per-modality", false, "also output each modality's logits (logits_<modality>)")
	conv3 := fs.String("conv3x3", cen.ConvPlain, fmt.Sprintf("3x3 stride-1 convolutions as plain Conv nodes, or as Winograd F(4x4,3x3) in ONNX operators: plain, winograd (layers of >= %d channels and >= %d 4x4 tiles) or winograd-all; fixed-size models only", cen.WinogradMinChannels, cen.WinogradMinTiles))
	logitsOnly := fs.Bool("logits-only", false, "stop the graph at the logits, as torch.onnx.export writes the network (benchmarks: cen's inference needs the labels and refuses such a file)")
	int8 := fs.Bool("int8", false, "write the int8 QDQ model (per-channel int8 weights, uint8 activations) that ONNX Runtime runs with integer kernels; needs --calibrate")
	calib := fs.Int("calib-frames", 32, "--int8: calibration frames, taken evenly from the training split of --calibrate")
	calibDirFlag := fs.String("calibrate", "", "--int8: data set folder whose training frames calibrate the activation scales, or a bag whose colour/depth pairs do (read as the node reads them)")
	calibLayout := fs.String("calib-dataset", "synthetic", "--int8: layout of the --calibrate folder: nyudv2, sunrgbd, folder or synthetic (as cen train --dataset)")
	calibRGB := fs.String("rgb-topic", bags.SynthRGB, "--int8 --calibrate BAG: colour topic (sensor_msgs/Image, or CompressedImage)")
	calibDepth := fs.String("depth-topic", bags.SynthDepth, "--int8 --calibrate BAG: depth topic (16UC1/32FC1 Image, or compressedDepth)")
	calibDepthScale := fs.Float64("depth-scale", 0, "--int8 --calibrate BAG: metres per count of 16-bit depth (0: millimetres)")
	calibSrc := func() calibSource {
		if st, err := os.Stat(*calibDirFlag); err == nil && st.Mode().IsRegular() {
			return calibSource{bag: bags.FramesConf{Bag: *calibDirFlag, RGBTopic: *calibRGB, DepthTopic: *calibDepth,
				Frames: frames.Conf{DepthScale: *calibDepthScale}}}
		}
		return calibSource{data: train.DataConf{Layout: *calibLayout, Root: *calibDirFlag}}
	}
	rf := addRecipeFlags(fs, "")
	random := fs.String("random", "", "export an untrained network of this architecture instead of a checkpoint (benchmarks), with the official recipe")
	classes := fs.Int("classes", 40, "classes of the --random network")
	mods := fs.Int("modalities", 2, "modalities of the --random network (rgb, depth)")
	var model *cen.Model
	if i := indexOf(args, "--random", "-random"); i >= 0 || hasPrefixArg(args, "--random=", "-random=") {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("--random takes no checkpoint, got %v", fs.Args())
		}
		m, err := randomModel(*random, *classes, *mods)
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
		if kind, err := infer.Kind(ckpt); err == nil && kind == "onnx" {
			// An exported fp32 model: only its int8 version can be made from it.
			if !*int8 || *calibDirFlag == "" || *out == "" {
				return fmt.Errorf("%s is an ONNX model: export from its checkpoint, or make its int8 version with --int8 --calibrate DIR -o OUT.onnx", ckpt)
			}
			return quantizeONNX(ckpt, *out, calibSrc(), *calib, stdout, stderr)
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
	if (*h > 0) != (*w > 0) || *h < 0 || *w < 0 {
		return fmt.Errorf("give both --height and --width (got %d and %d)", *h, *w)
	}
	cfg := model.Config()
	base := model.Recipe()
	recipe, err := rf.recipe(cfg.Classes, &base)
	if err != nil {
		return err
	}
	spec, err := preprocess.SpecFromMetadata(recipe.Preprocess)
	if err != nil {
		return err
	}
	// The input size goes into the recipe too: a node feeds the model at the size it was exported for.
	if *h > 0 {
		spec.Height, spec.Width = *h, *w
	}
	recipe.Preprocess = spec.Metadata()
	if err := model.SetRecipe(recipe); err != nil {
		return err
	}
	calibDir := *calibDirFlag
	if *int8 != (calibDir != "") {
		return errors.New("--int8 and --calibrate DIR go together: the activation scales are measured on frames of a data set folder (see cen synth --out)")
	}
	if *int8 && (*dynamic || *conv3 != cen.ConvPlain) {
		return errors.New("--int8 quantizes a fixed-size plain model: drop --dynamic and --conv3x3")
	}
	if *dynamic && *conv3 != cen.ConvPlain {
		return fmt.Errorf("--conv3x3 %s needs a fixed-size model: the Winograd tiles are cut at export (drop --dynamic)", *conv3)
	}
	opt := cen.ExportOptions{Height: spec.Height, Width: spec.Width, Dynamic: *dynamic, PerModality: *perMod, Conv3x3: *conv3, LogitsOnly: *logitsOnly}
	mp, err := model.ONNXModel(opt)
	if err != nil {
		return err
	}
	if *int8 {
		sp := spec
		sp.Height, sp.Width = opt.Height, opt.Width
		n, err := writeInt8(mp, sp, cfg.Modalities, *out, calibSrc(), *calib, stderr)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "int8 QDQ, activation scales from %d frames of %s\n", n, calibDir)
	} else if err := writeModel(mp, *out); err != nil {
		return err
	}
	size := fmt.Sprintf("%dx%d", spec.Width, spec.Height)
	if *dynamic {
		size = "dynamic size (recipe " + size + ")"
	}
	// How the file computes its 3×3 convolutions, as its metadata says: --conv3x3 winograd leaves layers too
	// narrow or too small to gain plain, possibly all of them.
	conv := cen.Metadata(mp, cen.MetaConv3x3)
	if *conv3 == cen.ConvWinograd && conv != cen.ConvWinograd {
		conv += fmt.Sprintf(" (no layer has the >= %d channels and >= %d 4x4 tiles where winograd gains; --conv3x3 winograd-all forces it)", cen.WinogradMinChannels, cen.WinogradMinTiles)
	}
	fmt.Fprintf(stdout, "wrote %s: %s, %d classes (%s), modalities %v, %s, %.1f GFLOP per frame at %dx%d, 3x3 convolutions %s\n", *out, cfg.Arch, cfg.Classes,
		datasetName(recipe.Dataset), cfg.Modalities, size, model.ConvFLOPs(1, spec.Height, spec.Width)/1e9, spec.Width, spec.Height, conv)
	return nil
}

// writeONNX exports m to path atomically.
func writeONNX(m *cen.Model, path string, opt cen.ExportOptions) error {
	mp, err := m.ONNXModel(opt)
	if err != nil {
		return err
	}
	return writeModel(mp, path)
}

// writeModel writes mp to path atomically.
func writeModel(mp *onnx.ModelProto, path string) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return fmt.Errorf("encoding the ONNX model: %w", err)
	}
	if err := atomicfile.Write(path, 0o644, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// randomModel builds an untrained network with the official recipe (benchmarks).
func randomModel(arch string, classes, mods int) (*cen.Model, error) {
	if mods < 1 || mods > 2 {
		return nil, fmt.Errorf("--modalities %d: a random network has 1 (rgb) or 2 (rgb, depth)", mods)
	}
	if classes < 1 || classes > 65535 {
		return nil, fmt.Errorf("--classes %d: want 1 to 65535", classes)
	}
	cfg := cen.DefaultConfig(arch)
	cfg.Classes, cfg.Modalities = classes, []string{"rgb", "depth"}[:mods]
	m, err := cen.New(cfg, 1)
	if err != nil {
		return nil, err
	}
	cs := preprocess.GenericClasses("random", classes)
	if err := m.SetRecipe(cen.Recipe{ClassNames: cs.Names, Palette: cs.Palette, Dataset: cs.Dataset, Preprocess: preprocess.DefaultSpec().Metadata()}); err != nil {
		return nil, err
	}
	return m, nil
}

func datasetName(d string) string {
	if d == "" {
		return "data set unknown"
	}
	return d
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

// quantizeONNX makes the int8 version of an fp32 model cen exported (fixed size).
func quantizeONNX(src, dst string, conf calibSource, frames int, stdout, stderr io.Writer) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	info, err := cen.ParseModelInfo(data)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if info.Dynamic() {
		return fmt.Errorf("%s is a dynamic model: --int8 needs a fixed-size one (export it with --height and --width)", src)
	}
	if q := info.Metadata[cen.MetaQuantization]; q != "" {
		return fmt.Errorf("%s is already quantized (%s)", src, q)
	}
	if c := info.Metadata[cen.MetaConv3x3]; c != "" && c != cen.ConvPlain {
		return fmt.Errorf("%s writes its 3x3 convolutions as %s: quantize a plain export", src, c)
	}
	spec, err := preprocess.SpecFromMetadata(info.Recipe.Preprocess)
	if err != nil {
		return err
	}
	spec.Height, spec.Width = info.InputHeight, info.InputWidth
	var mp onnx.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	n, err := writeInt8(&mp, spec, info.Modalities, dst, conf, frames, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: int8 QDQ of %s, activation scales from %d frames of %s\n", dst, src, n, conf)
	return nil
}

// calibSource is where --calibrate takes its frames: a data set folder's training split, or (bag.Bag set) a
// bag's colour and depth pairs, synchronised and built as the node builds them.
type calibSource struct {
	data train.DataConf
	bag  bags.FramesConf
}

func (c calibSource) String() string {
	if c.bag.Bag != "" {
		return c.bag.Bag
	}
	return c.data.Root
}

// open returns a function that gives up to n frames spread evenly over the source (false after the last),
// how many it means to give, and a function that releases the source.
func (c calibSource) open(n int) (next func() (infer.Frame, string, bool, error), count int, done func(), err error) {
	if c.bag.Bag != "" {
		conf := c.bag
		conf.Spread = n
		fr, err := bags.OpenFrames(conf)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("--calibrate: %w", err)
		}
		given := 0
		next = func() (infer.Frame, string, bool, error) {
			if given == n {
				return infer.Frame{}, "", false, nil
			}
			f, ok, err := fr.Next()
			if err != nil {
				return infer.Frame{}, "", false, fmt.Errorf("--calibrate: %w", err)
			}
			if !ok {
				if given == 0 {
					return infer.Frame{}, "", false, fmt.Errorf("--calibrate %s: no colour/depth pair of %s and %s could be built: %s", c.bag.Bag, c.bag.RGBTopic, c.bag.DepthTopic, fr.SkippedText())
				}
				return infer.Frame{}, "", false, nil
			}
			given++
			return f, fmt.Sprintf("%s pair %d", c.bag.Bag, given), true, nil
		}
		return next, min(n, max(fr.Pairs, 1)), func() { fr.Close() }, nil
	}
	trainSet, _, err := train.OpenDataset(c.data)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("--calibrate: %w", err)
	}
	if trainSet == nil || trainSet.Len() == 0 {
		return nil, 0, nil, fmt.Errorf("--calibrate %s: the training split has no frames", c.data.Root)
	}
	count = min(n, trainSet.Len())
	i := 0
	next = func() (infer.Frame, string, bool, error) {
		if i == count {
			return infer.Frame{}, "", false, nil
		}
		s, err := trainSet.Load(i * trainSet.Len() / count)
		i++
		if err != nil {
			return infer.Frame{}, "", false, err
		}
		return infer.Frame{RGB: s.RGB, Depth: s.Depth, View: s.View}, s.Name, true, nil
	}
	return next, count, func() {}, nil
}

// writeInt8 measures the range of every tensor the int8 export of mp (an fp32 export at spec's size) quantizes
// on up to frames frames of src (preprocessed as the node preprocesses), and writes the QDQ model atomically to
// path. It returns the frames used.
func writeInt8(mp *onnx.ModelProto, spec preprocess.Spec, modalities []string, path string, src calibSource, frames int, stderr io.Writer) (int, error) {
	if frames < 1 {
		return 0, fmt.Errorf("--calib-frames %d: want at least 1", frames)
	}
	next, n, done, err := src.open(frames)
	if err != nil {
		return 0, err
	}
	defer done()
	bar := newProgressBar(stderr)
	i := 0
	ranges, used, err := cenort.TensorRanges(mp, cen.QuantTargets(mp), spec.Height, spec.Width, 0, "", func() ([][]float32, bool, error) {
		f, name, ok, err := next()
		if err != nil || !ok {
			return nil, false, err
		}
		in, err := infer.NetworkInputs(spec, modalities, f)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", name, err)
		}
		i++
		bar.update(i, n)
		return in, true, nil
	})
	if err != nil {
		bar.abort()
		return 0, err
	}
	if err := cen.QuantizeQDQ(mp, ranges, used); err != nil {
		return 0, err
	}
	return used, writeModel(mp, path)
}
