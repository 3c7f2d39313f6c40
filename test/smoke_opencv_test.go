package test

import (
	"image"
	"testing"

	"gocv.io/x/gocv"
)

// TestOpenCVResizeGivesKnownPixels checks the OpenCV that gocv links against (Debian's 4.6) on values worked out
// by hand: bilinear with half-pixel centres and a clamped border, nearest-neighbour, and area averaging.
func TestOpenCVResizeGivesKnownPixels(t *testing.T) {
	src, err := gocv.NewMatFromBytes(2, 2, gocv.MatTypeCV8UC1, []byte{0, 100, 100, 200})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cases := []struct {
		name   string
		interp gocv.InterpolationFlags
		want   []byte
	}{
		// Source x for output column j is (j+0.5)/2-0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
		{"bilinear", gocv.InterpolationLinear, []byte{
			0, 25, 75, 100,
			25, 50, 100, 125,
			75, 100, 150, 175,
			100, 125, 175, 200}},
		{"nearest", gocv.InterpolationNearestNeighbor, []byte{
			0, 0, 100, 100,
			0, 0, 100, 100,
			100, 100, 200, 200,
			100, 100, 200, 200}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := gocv.NewMat()
			defer dst.Close()
			gocv.Resize(src, &dst, image.Pt(4, 4), 0, 0, c.interp)
			got := dst.ToBytes()
			if string(got) != string(c.want) {
				t.Fatalf("resize 2x2 -> 4x4:\n got %v\nwant %v", got, c.want)
			}
		})
	}
	t.Run("area", func(t *testing.T) {
		big, _ := gocv.NewMatFromBytes(2, 4, gocv.MatTypeCV8UC1, []byte{10, 20, 30, 50, 10, 20, 30, 50})
		defer big.Close()
		dst := gocv.NewMat()
		defer dst.Close()
		gocv.Resize(big, &dst, image.Pt(2, 1), 0, 0, gocv.InterpolationArea)
		if got := dst.ToBytes(); got[0] != 15 || got[1] != 40 {
			t.Fatalf("area 4x2 -> 2x1: got %v, want [15 40]", got)
		}
	})
}
