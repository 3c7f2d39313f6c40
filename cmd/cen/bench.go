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
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, "usage: cen bench train|infer [flags]\n  train  one training step of the Go engine (cen bench train -h)\n  infer  inference on the Go engine and ONNX Runtime (cen bench infer -h)")
		return nil
	}
	return fmt.Errorf("unknown benchmark %q: use train or infer", args[0])
}
