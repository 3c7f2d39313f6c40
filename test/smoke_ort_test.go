package test

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ortgo "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/cen-ros/cen/cen/ort"
)

func floatTensor(name string, dims []int64, vals []float32) *onnx.TensorProto {
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_FLOAT), RawData: raw}
}

func valueInfo(name string, dims ...int64) *onnx.ValueInfoProto {
	shape := &onnx.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
		TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_FLOAT), Shape: shape}}}}
}

// TestONNXRuntimeRunsModelWrittenFromGo writes y = Relu(x·W + b) as ONNX protobuf from Go, runs it in the real
// ONNX Runtime library and compares with the values computed by hand.
func TestONNXRuntimeRunsModelWrittenFromGo(t *testing.T) {
	model := &onnx.ModelProto{
		IrVersion:    8,
		OpsetImport:  []*onnx.OperatorSetIdProto{{Version: 17}},
		ProducerName: "cen-smoke-test",
		Graph: &onnx.GraphProto{
			Name: "smoke",
			Node: []*onnx.NodeProto{
				{OpType: "MatMul", Input: []string{"x", "W"}, Output: []string{"xw"}},
				{OpType: "Add", Input: []string{"xw", "b"}, Output: []string{"z"}},
				{OpType: "Relu", Input: []string{"z"}, Output: []string{"y"}},
			},
			Initializer: []*onnx.TensorProto{
				floatTensor("W", []int64{3, 2}, []float32{1, -1, 2, 0.5, -3, 1}),
				floatTensor("b", []int64{2}, []float32{0.5, 1}),
			},
			Input:  []*onnx.ValueInfoProto{valueInfo("x", 2, 3)},
			Output: []*onnx.ValueInfoProto{valueInfo("y", 2, 2)},
		},
	}
	data, err := proto.Marshal(model)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "smoke.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ort.Load(""); err != nil {
		t.Fatalf("ONNX Runtime must be installed by `make setup`: %v", err)
	}
	if v := ort.Version(); v == "" {
		t.Fatal("ONNX Runtime reports no version")
	}

	x, err := ortgo.NewTensor(ortgo.NewShape(2, 3), []float32{1, 2, 3, 2, 1, 0})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Destroy()
	y, err := ortgo.NewEmptyTensor[float32](ortgo.NewShape(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer y.Destroy()
	s, err := ortgo.NewAdvancedSession(path, []string{"x"}, []string{"y"}, []ortgo.Value{x}, []ortgo.Value{y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	// Row 1: [1,2,3]·W = [1+4-9, -1+1+3] = [-4, 3]; + b = [-3.5, 4]; relu -> [0, 4].
	// Row 2: [2,1,0]·W = [2+2, -2+0.5] = [4, -1.5]; + b = [4.5, -0.5]; relu -> [4.5, 0].
	want := []float32{0, 4, 4.5, 0}
	got := y.GetData()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("y = %v, want %v", got, want)
		}
	}
}
