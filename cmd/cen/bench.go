package main

import (
	"fmt"
	"io"
)

func init() {
	register("bench", "benchmarks: `cen bench train` (Go training step) and `cen bench infer` (ONNX Runtime)", runBench)
}

func runBench(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: cen bench train|infer [flags]")
	}
	switch args[0] {
	case "train":
		return benchTrain(args[1:], stdout, stderr)
	case "infer":
		return benchInfer(args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown benchmark %q: use train or infer", args[0])
}
