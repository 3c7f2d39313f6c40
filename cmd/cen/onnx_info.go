package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/cen/ort"
)

// onnxInfo describes an exported model from its metadata (no ONNX Runtime needed).
func onnxInfo(file string, w io.Writer) error {
	info, err := ort.Inspect(file)
	if err != nil {
		return err
	}
	size := fmt.Sprintf("%dx%d", info.InputWidth, info.InputHeight)
	if info.Dynamic() {
		size = "dynamic"
	}
	fmt.Fprintf(w, "file          %s (ONNX IR %d, opset %d, exported by cen %s)\n", file, info.IRVersion, info.Opset, info.Recipe.Version)
	fmt.Fprintf(w, "architecture  %s (width %g)\n", info.Arch, info.Width)
	fmt.Fprintf(w, "modalities    %d: %s\n", len(info.Modalities), strings.Join(info.Modalities, ", "))
	fmt.Fprintf(w, "classes       %d\n", info.Classes)
	fmt.Fprintf(w, "input         %s; exchange threshold %g\n", size, info.Threshold)
	if info.GFLOPs > 0 {
		fmt.Fprintf(w, "compute       %.3g GFLOP per frame at %dx%d\n", info.GFLOPs, info.GFLOPsWidth, info.GFLOPsHeight)
	}
	var outs []string
	for _, o := range info.Outputs {
		outs = append(outs, o.Name)
	}
	fmt.Fprintf(w, "outputs       %s\n", strings.Join(outs, ", "))
	conv, quant := info.Metadata[cen.MetaConv3x3], info.Metadata[cen.MetaQuantization]
	if conv == "" {
		conv = cen.ConvPlain
	}
	if quant == "" {
		quant = "float32"
	}
	fmt.Fprintf(w, "kernels       3x3 convolutions %s; %s\n", conv, quant)
	printRecipe(w, info.Recipe)
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
