package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

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
	fmt.Fprintf(w, "file          %s (ONNX IR %d, opset %d, exported by cen %s)\n", file, info.IRVersion, info.Opset, info.ExporterVersion)
	fmt.Fprintf(w, "architecture  %s (width %g)\n", info.Arch, info.Width)
	fmt.Fprintf(w, "modalities    %d: %s\n", len(info.Modalities), strings.Join(info.Modalities, ", "))
	fmt.Fprintf(w, "classes       %d", info.Classes)
	if len(info.ClassNames) > 0 {
		n := min(len(info.ClassNames), 6)
		fmt.Fprintf(w, ": %s", strings.Join(info.ClassNames[:n], ", "))
		if n < len(info.ClassNames) {
			fmt.Fprint(w, ", ...")
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "input         %s; exchange threshold %g; data set %q\n", size, info.Threshold, info.Dataset)
	if info.GFLOPs > 0 {
		fmt.Fprintf(w, "compute       %.3g GFLOP per frame at %dx%d\n", info.GFLOPs, info.GFLOPsWidth, info.GFLOPsHeight)
	}
	var outs []string
	for _, o := range info.Outputs {
		outs = append(outs, o.Name)
	}
	fmt.Fprintf(w, "outputs       %s\n", strings.Join(outs, ", "))
	for _, k := range sortedKeys(info.Metadata) {
		if strings.HasPrefix(k, "preprocess.") {
			fmt.Fprintf(w, "  %-26s %s\n", k, info.Metadata[k])
		}
	}
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
