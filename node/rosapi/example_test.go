package rosapi_test

import (
	"fmt"

	"github.com/cen-ros/cen/node/rosapi"
)

// What roslaunch gives a node started in namespace /robot with a remap and a private parameter.
func ExampleParseArgs() {
	args, rest, err := rosapi.ParseArgs([]string{
		"node", "--model", "m.onnx", "rgb/image:=/camera/color/image_raw", "_queue_size:=2",
		"_mean:=[0.485, 0.456, 0.406]", "__name:=seg", "__log:=/tmp/seg-1.log",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rest)
	fmt.Println(args.Name, args.Remaps)
	for _, p := range args.Params {
		fmt.Printf("%s = %#v\n", p.Name, p.Value)
	}
	// Output:
	// [node --model m.onnx]
	// seg [{rgb/image /camera/color/image_raw}]
	// ~queue_size = 2
	// ~mean = []interface {}{0.485, 0.456, 0.406}
}

func ExampleResolver_Resolve() {
	args, _, _ := rosapi.ParseArgs([]string{"__name:=seg", "rgb/image:=/camera/color/image_raw", "~labels:=segmentation"})
	names, err := args.Resolver("cen", rosapi.Env{Namespace: "/robot"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range []string{"rgb/image", "depth/image", "~labels", "~color", "/diagnostics", "~"} {
		global, _ := names.Resolve(n)
		fmt.Printf("%-12s %s\n", n, global)
	}
	// Output:
	// rgb/image    /camera/color/image_raw
	// depth/image  /robot/depth/image
	// ~labels      /robot/segmentation
	// ~color       /robot/seg/color
	// /diagnostics /diagnostics
	// ~            /robot/seg
}

func ExampleAs() {
	_, err := rosapi.As[int]("~queue_size", "ten")
	fmt.Println(err)
	mean, _ := rosapi.As[[]float64]("~mean", []any{0.5, 1})
	fmt.Println(mean)
	// Output:
	// ~queue_size is the string "ten", want an integer
	// [0.5 1]
}
