package main

import (
	"fmt"
	"io"
)

func init() {
	register("bench", "benchmarks: `cen bench train` (Go training step) and `cen bench infer` (ONNX Runtime), `cen bench onnx` (any ONNX file)", runBench)
}

func runBench(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: cen bench train|infer|onnx [flags]")
	}
	switch args[0] {
	case "train":
		return benchTrain(args[1:], stdout, stderr)
	case "infer":
		return benchInfer(args[1:], stdout, stderr)
	case "onnx":
		return benchONNX(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, "usage: cen bench train|infer|onnx [flags]\n  train  one training step of the Go engine (cen bench train -h)\n  infer  inference on the Go engine and ONNX Runtime (cen bench infer -h)\n  onnx   any fixed-size ONNX model (e.g. a torch.onnx.export) on ONNX Runtime's CPU provider (cen bench onnx -h)")
		return nil
	}
	return fmt.Errorf("unknown benchmark %q: use train, infer or onnx", args[0])
}
