package engine

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/cen-ros/cen/internal/npy"
)

// TestResizeMatchesPyTorch compares bilinear (both align_corners modes) and bicubic resizing, up and down, with
// torch.nn.functional.interpolate outputs written by test/fixtures/gen_fixtures.py.
func TestResizeMatchesPyTorch(t *testing.T) {
	dir := filepath.Join("..", "..", "test", "fixtures", "resize")
	xa, err := npy.ReadFile(filepath.Join(dir, "x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	x := TensorFrom(xa.Shape[0], xa.Shape[1], xa.Shape[2], xa.Shape[3], xa.F32)
	for _, size := range [][2]int{{9, 11}, {3, 4}} {
		h, w := size[0], size[1]
		cases := map[string]*Tensor{
			fmt.Sprintf("bilinear_ac1_%dx%d", h, w): ResizeBilinear(x, h, w, true),
			fmt.Sprintf("bilinear_ac0_%dx%d", h, w): ResizeBilinear(x, h, w, false),
			fmt.Sprintf("bicubic_ac0_%dx%d", h, w):  ResizeBicubic(x, h, w),
		}
		for name, got := range cases {
			want, err := npy.ReadFile(filepath.Join(dir, name+".npy"))
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range want.F32 {
				if math.Abs(float64(got.Data[i]-v)) > 1e-5 {
					t.Errorf("%s: element %d = %g, PyTorch %g", name, i, got.Data[i], v)
					break
				}
			}
		}
	}
}
