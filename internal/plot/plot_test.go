package plot

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func decode(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func TestChartsAreWrittenAsPNG(t *testing.T) {
	dir := t.TempDir()
	lines := filepath.Join(dir, "lines.png")
	if err := Lines(lines, "loss", "step", "loss", []Series{{"rgb", []float64{1, 2, 3}, []float64{3, 2, math.NaN()}}, {"ens", []float64{1, 2, 3}, []float64{2, 1, 0.5}}}); err != nil {
		t.Fatal(err)
	}
	if b := decode(t, lines).Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Errorf("line chart %v", b)
	}
	hist := filepath.Join(dir, "hist.png")
	if err := Histogram(hist, "latency", "ms", []float64{10, 11, 12, 30}, 10); err != nil {
		t.Fatal(err)
	}
	decode(t, hist)
	if err := Histogram(hist, "latency", "ms", nil, 10); err == nil {
		t.Error("an empty histogram was drawn")
	}
}

// TestConfusionShadesRowsByRecall draws a 2-class matrix whose first row is all correct and second all wrong:
// the diagonal cell of row 0 and the off-diagonal cell of row 1 are the darkest.
func TestConfusionShadesRowsByRecall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.png")
	if err := Confusion(path, "confusion", []string{"wall", "floor"}, []uint64{10, 0, 5, 0}); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	dark := func(c color.Color) bool { r, _, _, _ := c.RGBA(); return r < 0x6000 }
	// Cell (row i, column j) starts at (labelW + j*36, 28 + labelW + i*36); labelW = 7*5 + 8.
	at := func(i, j int) color.Color { return img.At(43+j*36+30, 28+43+i*36+3) }
	if !dark(at(0, 0)) || dark(at(0, 1)) || !dark(at(1, 0)) || dark(at(1, 1)) {
		t.Errorf("shading does not follow the rows' recall")
	}
	if err := Confusion(path, "x", []string{"a"}, []uint64{1, 2}); err == nil {
		t.Error("a matrix of the wrong size was drawn")
	}
}

func TestPanelPlacesImagesInRows(t *testing.T) {
	red := image.NewRGBA(image.Rect(0, 0, 20, 10))
	for i := range red.Pix {
		if i%4 == 0 || i%4 == 3 {
			red.Pix[i] = 255
		}
	}
	path := filepath.Join(t.TempDir(), "p.png")
	if err := Panel(path, []string{"rgb", "labels"}, [][]image.Image{{red, red}, {red, red}}); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	if b := img.Bounds(); b.Dx() != 2*24+4 || b.Dy() != 18+2*14 {
		t.Errorf("panel %v", b)
	}
	if r, g, _, _ := img.At(4+24+5, 18+14+5).RGBA(); r>>8 != 255 || g != 0 {
		t.Errorf("second row, second image is not where it belongs")
	}
}
