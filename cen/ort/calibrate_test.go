package ort

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/cen-ros/cen/cen"
)

// TestInt8ExportStaysCloseToFloat calibrates a network on a few frames, writes its int8 QDQ export, and
// checks that ONNX Runtime fuses it into integer convolutions whose labels stay close to the fp32 model's on
// frames it was not calibrated on.
func TestInt8ExportStaysCloseToFloat(t *testing.T) {
	needLibrary(t)
	for _, arch := range []string{"lite-r18", "refinenet-r50"} {
		t.Run(arch, func(t *testing.T) {
			const h, w = 64, 80
			model := testNetwork(t, arch, 2, 1)
			mp, err := model.ONNXModel(cen.ExportOptions{Height: h, Width: w})
			if err != nil {
				t.Fatal(err)
			}
			targets := cen.QuantTargets(mp)
			convs := 0
			for _, n := range mp.Graph.Node {
				if n.OpType == "Conv" {
					convs++
				}
			}
			if len(targets) < convs/2 {
				t.Fatalf("%d tensors to quantize for %d convolutions", len(targets), convs)
			}
			frame := 0
			ranges, frames, err := TensorRanges(mp, targets, h, w, 2, "", func() ([][]float32, bool, error) {
				if frame == 4 {
					return nil, false, nil
				}
				frame++
				_, raw := randomInputs(2, 1, h, w, uint64(100+frame))
				return raw, true, nil
			})
			if err != nil || frames != 4 {
				t.Fatalf("calibration: %d frames, %v", frames, err)
			}
			fp32 := filepath.Join(t.TempDir(), "fp32.onnx")
			writeProto(t, fp32, mp)
			if err := cen.QuantizeQDQ(mp, ranges, frames); err != nil {
				t.Fatal(err)
			}
			ops := map[string]int{}
			for _, n := range mp.Graph.Node {
				ops[n.OpType]++
			}
			if ops["Conv"] != convs || ops["DequantizeLinear"] < 2*convs || ops["QuantizeLinear"] < convs {
				t.Fatalf("QDQ graph: %v (fp32 had %d convolutions)", ops, convs)
			}
			// Max pools keep their input's parameters, so that ONNX Runtime pools the uint8 data; sums of
			// quantized tensors are quantized, so that it adds in uint8, and a sum that only a ReLU reads is
			// quantized after the ReLU, so that the ReLU folds into the addition (a quantized sum would leave
			// dequantize → ReLU → quantize in float between them).
			scaleOf := map[string][]byte{}
			for _, in := range mp.Graph.Initializer {
				scaleOf[in.Name] = in.RawData
			}
			qscale := map[string]string{} // tensor → the scale its QuantizeLinear or DequantizeLinear uses
			for _, n := range mp.Graph.Node {
				if n.OpType == "QuantizeLinear" {
					qscale[n.Input[0]] = n.Input[1]
				}
				if n.OpType == "DequantizeLinear" {
					qscale[n.Output[0]] = n.Input[1]
				}
			}
			consumers := map[string][]*onnx.NodeProto{}
			for _, n := range mp.Graph.Node {
				for _, in := range n.Input {
					consumers[in] = append(consumers[in], n)
				}
			}
			pools, sums, reluSums := 0, 0, 0
			for _, n := range mp.Graph.Node {
				switch n.OpType {
				case "MaxPool":
					in, out := qscale[n.Input[0]], qscale[n.Output[0]]
					if in == "" || out == "" || string(scaleOf[in]) != string(scaleOf[out]) {
						t.Errorf("max pool %s: input scale %q, output scale %q: want both, equal", n.Name, in, out)
					}
					pools++
				case "Add":
					if qscale[n.Input[0]] != "" && qscale[n.Input[1]] != "" {
						if c := consumers[n.Output[0]]; len(c) == 1 && c[0].OpType == "Relu" {
							if qscale[n.Output[0]] != "" || qscale[c[0].Output[0]] == "" {
								t.Errorf("sum %s read only by ReLU %s: quantized before the ReLU (%v) or not after it", n.Name, c[0].Name, qscale[n.Output[0]] != "")
							}
							reluSums++
						} else if qscale[n.Output[0]] == "" {
							t.Errorf("sum %s of two quantized tensors is not quantized", n.Name)
						}
						sums++
					}
				}
			}
			if pools == 0 || sums == 0 || reluSums == 0 {
				t.Errorf("%d max pools, %d quantized sums, %d of them read by a ReLU: the network has all three", pools, sums, reluSums)
			}
			int8 := filepath.Join(t.TempDir(), "int8.onnx")
			writeProto(t, int8, mp)
			a, err := Open(fp32, Options{Device: "cpu", IntraOpThreads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := Open(int8, Options{Device: "cpu", IntraOpThreads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if q := b.Metadata()[cen.MetaQuantization]; q != "int8-qdq" {
				t.Errorf("metadata %s = %q", cen.MetaQuantization, q)
			}
			_, raw := randomInputs(2, 1, h, w, 7)
			var ra, rb Result
			if err := a.Run(raw, 1, h, w, &ra); err != nil {
				t.Fatal(err)
			}
			if err := b.Run(raw, 1, h, w, &rb); err != nil {
				t.Fatal(err)
			}
			same := 0
			for i := range ra.Labels {
				if ra.Labels[i] == rb.Labels[i] {
					same++
				}
			}
			agree := float64(same) / float64(len(ra.Labels))
			e := relErr(rb.Logits, ra.Logits)
			t.Logf("%s: int8 logits within %.3g relative of fp32, labels agree on %.1f %%", arch, e, 100*agree)
			if e > 0.1 || agree < 0.9 {
				t.Errorf("int8 strays from fp32: logits %.3g relative, labels agree on %.1f %%", e, 100*agree)
			}
		})
	}
}

func writeProto(t *testing.T, path string, m proto.Message) {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(fmt.Errorf("writing %s: %w", path, err))
	}
}
