package cen

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/cen-ros/cen/cen/engine"
)

// LayerONNX builds a one-convolution model (3×3, stride 1, padding 1, random weights and bias) with input "x"
// [n, cin, h, w] and output "y", written plain or as Winograd, and returns it with its weights and bias.
func LayerONNX(cin, cout, n, h, w int, wino bool) ([]byte, []float32, []float32) {
	rng := rand.New(rand.NewPCG(uint64(cin), uint64(cout)))
	c := &conv{cout: cout, spec: engine.ConvSpec{KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1}}
	c.w = &Param{Name: "w", Shape: []int{cout, cin, 3, 3}, Data: make([]float32, cout*cin*9)}
	c.b = &Param{Name: "b", Shape: []int{cout}, Data: make([]float32, cout)}
	for i := range c.w.Data {
		c.w.Data[i] = float32(rng.NormFloat64()) / 30
	}
	for i := range c.b.Data {
		c.b.Data[i] = float32(rng.NormFloat64())
	}
	b := &onnxBuilder{winograd: wino, winogradAll: true}
	y := b.conv(c, nil, stream{names: []string{"x"}, c: cin, h: h, w: w}, false).names[0]
	return b.testModel(y, n, cin, h, w), c.w.Data, c.b.Data
}

// testModel wraps b's nodes into a serialized model with input "x" [n, c, h, w] and output "y", a copy of y.
func (b *onnxBuilder) testModel(y string, n, c, h, w int) []byte {
	b.node("Identity", []string{y}, nil, "y")
	g := &onnx.GraphProto{Name: "test", Node: b.nodes, Initializer: b.inits}
	g.Input = append(g.Input, valueInfo("x", onnx.TensorProto_FLOAT, dimOf(false, n, ""), dimOf(false, c, ""), dimOf(false, h, ""), dimOf(false, w, "")))
	g.Output = append(g.Output, &onnx.ValueInfoProto{Name: "y", Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
		TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_FLOAT)}}}})
	mp := &onnx.ModelProto{IrVersion: onnxIRVersion, OpsetImport: []*onnx.OperatorSetIdProto{{Version: onnxOpset}}, Graph: g}
	data, err := proto.Marshal(mp)
	if err != nil {
		panic(err)
	}
	return data
}

// ConvChainONNX builds depth chained 3×3 convolutions of c channels, each followed by a ReLU (random weights
// scaled to keep the activations' range), with input "x" [n, c, h, w] and output "y": inside the chain of an
// int8 export, each layer reads and writes uint8, as in a network.
func ConvChainONNX(c, n, h, w, depth int) []byte {
	rng := rand.New(rand.NewPCG(uint64(c), uint64(depth)))
	b := &onnxBuilder{}
	x := stream{names: []string{"x"}, c: c, h: h, w: w}
	for l := 0; l < depth; l++ {
		cv := &conv{cout: c, spec: engine.ConvSpec{KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1}}
		cv.w = &Param{Name: fmt.Sprintf("w%d", l), Shape: []int{c, c, 3, 3}, Data: make([]float32, c*c*9)}
		cv.b = &Param{Name: fmt.Sprintf("b%d", l), Shape: []int{c}, Data: make([]float32, c)}
		for i := range cv.w.Data {
			cv.w.Data[i] = float32(rng.NormFloat64() / math.Sqrt(float64(c*9)/2))
		}
		x = b.conv(cv, nil, x, true)
	}
	return b.testModel(x.names[0], n, c, h, w)
}
