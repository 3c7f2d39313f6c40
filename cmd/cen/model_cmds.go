package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/preprocess"
)

func init() {
	register("import-torch", "convert a PyTorch checkpoint (official CEN, state dict or torchvision ResNet) to a cen checkpoint", runImportTorch)
	register("info", "describe a cen checkpoint or ONNX model: architecture, classes, parameters, exchange sparsity", runInfo)
}

func runImportTorch(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("import-torch", "FILE.pth.tar --arch A [--classes K] [--modalities rgb,depth] [--dataset D] [--preprocess k=v,...] -o OUT.ckpt", stderr)
	arch := fs.String("arch", "", "architecture: "+strings.Join(cen.Archs(), ", "))
	classes := fs.Int("classes", 0, "number of classes (default: read from the checkpoint's classifier; 40 for a torchvision ResNet)")
	mods := fs.String("modalities", "", "modality names in batch order (default: rgb,depth, or as many as the checkpoint has)")
	width := fs.Float64("width", 1, "width multiplier of the network the checkpoint was trained with")
	out := fs.String("o", "", "output checkpoint")
	rf := addRecipeFlags(fs, "nyudv2")
	file, err := parseWithFile(fs, args)
	if err != nil {
		return err
	}
	if *arch == "" || *out == "" {
		fs.Usage()
		return fmt.Errorf("--arch and -o are required")
	}
	tf, err := cen.ReadTorch(file)
	if err != nil {
		return err
	}
	cfg := cen.DefaultConfig(*arch)
	cfg.Width = *width
	// Infer what the checkpoint says when the user did not: classes from the classifier, modalities from α.
	if t, ok := lookup(tf, "clf_conv.weight"); ok && *classes == 0 && len(t.Shape) == 4 {
		cfg.Classes = t.Shape[0]
	}
	if *classes > 0 {
		cfg.Classes = *classes
	}
	if t, ok := lookup(tf, "alpha"); ok && *mods == "" && len(t.Shape) == 1 {
		cfg.Modalities = defaultModalities(t.Shape[0])
	}
	if *mods != "" {
		cfg.Modalities = strings.Split(*mods, ",")
	}
	m, err := cen.New(cfg, 1)
	if err != nil {
		return err
	}
	// The official recipe (the paper's preprocessing, NYUDv2's classes) unless the flags say otherwise.
	recipe, err := rf.recipe(cfg.Classes, nil)
	if err != nil {
		return err
	}
	if err := m.SetRecipe(recipe); err != nil {
		return err
	}
	rep, err := cen.ImportTorch(m, tf)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := m.SaveCheckpoint(*out, nil, nil); err != nil {
		return err
	}
	switch rep.Kind {
	case "torchvision":
		fmt.Fprintf(stdout, "%s: ImageNet ResNet encoder (%d tensors; every modality's batch norm from the same ImageNet batch norm); decoder freshly initialised (%d tensors); dropped %s\n",
			file, rep.Loaded, rep.Initialised, strings.Join(rep.Skipped, ", "))
	default:
		fmt.Fprintf(stdout, "%s: CEN %s, %d modalities %v, %d classes, %d tensors\n", file, cfg.Arch, cfg.M(), cfg.Modalities, cfg.Classes, rep.Loaded)
	}
	fmt.Fprintf(stdout, "wrote %s (classes of %s; preprocessing %s)\n", *out, datasetName(recipe.Dataset), describeSpec(recipe.Preprocess))
	return nil
}

func lookup(tf *cen.TorchFile, canonical string) (cen.TorchTensor, bool) {
	for k, t := range tf.Tensors {
		if cen.CanonicalName(k) == canonical {
			return t, true
		}
	}
	return cen.TorchTensor{}, false
}

// printRecipe writes the class names and preprocessing a model file records.
func printRecipe(w io.Writer, r cen.Recipe) {
	n := min(len(r.ClassNames), 6)
	more := ""
	if n < len(r.ClassNames) {
		more = ", ..."
	}
	fmt.Fprintf(w, "classes of    %s: %s%s\n", datasetName(r.Dataset), strings.Join(r.ClassNames[:n], ", "), more)
	for _, k := range sortedKeys(r.Preprocess) {
		fmt.Fprintf(w, "  %-26s %s\n", k, r.Preprocess[k])
	}
}

// describeSpec summarises a recipe's preprocessing in a few words.
func describeSpec(md map[string]string) string {
	return fmt.Sprintf("%sx%s %s, depth %s", md[preprocess.KeyWidth], md[preprocess.KeyHeight], md[preprocess.KeyResize], md[preprocess.KeyDepthEncoding])
}

func defaultModalities(m int) []string {
	names := []string{"rgb", "depth"}
	for i := 2; i < m; i++ {
		names = append(names, fmt.Sprintf("mod%d", i))
	}
	return names[:m]
}

// parseWithFile parses flags given before or after one positional file argument.
func parseWithFile(fs interface {
	Parse([]string) error
	Args() []string
}, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		file := rest[0]
		if err := fs.Parse(rest[1:]); err != nil {
			return "", err
		}
		if len(fs.Args()) > 0 {
			return "", fmt.Errorf("unexpected arguments %v", fs.Args())
		}
		return file, nil
	}
	return "", fmt.Errorf("missing file argument")
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("info", "FILE (cen checkpoint or .onnx model)", stderr)
	file, err := parseWithFile(fs, args)
	if err != nil {
		return err
	}
	kind, err := infer.Kind(file)
	if err != nil {
		return err
	}
	if kind == "onnx" {
		return onnxInfo(file, stdout)
	}
	m, info, err := cen.LoadCheckpoint(file)
	if err != nil {
		return err
	}
	printModelInfo(stdout, file, m, info)
	return nil
}

func printModelInfo(w io.Writer, file string, m *cen.Model, info *cen.CheckpointInfo) {
	cfg := m.Config()
	c := m.CountParams()
	fmt.Fprintf(w, "file          %s (cen checkpoint written by cen %s)\n", file, info.Recipe.Version)
	fmt.Fprintf(w, "architecture  %s (width %g)\n", cfg.Arch, cfg.Width)
	fmt.Fprintf(w, "modalities    %d: %s\n", cfg.M(), strings.Join(cfg.Modalities, ", "))
	fmt.Fprintf(w, "classes       %d\n", cfg.Classes)
	fmt.Fprintf(w, "parameters    %d total: encoder %d, decoder %d\n", c.Total, c.Encoder, c.Decoder)
	fmt.Fprintf(w, "exchange      threshold %g, L1 lambda %g\n", cfg.Threshold, cfg.Lambda)
	printRecipe(w, info.Recipe)
	if len(info.State) > 0 {
		fmt.Fprintf(w, "training      %s\n", info.State)
	}
	if cfg.M() > 1 {
		fmt.Fprintf(w, "penalised γ below θ (paper's diagnostic):\n")
		var pen, below int
		for _, s := range m.Sparsity() {
			pen += s.Penalised
			below += s.Below
			fmt.Fprintf(w, "  layer%d      %6.2f %%  (%d of %d; all channels: %d of %d)\n", s.Stage, 100*s.Fraction(), s.Below, s.Penalised, s.BelowAll, s.Channels)
		}
		if pen > 0 {
			fmt.Fprintf(w, "  all         %6.2f %%  (%d of %d)\n", 100*float64(below)/float64(pen), below, pen)
		}
	}
}
