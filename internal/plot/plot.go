// Package plot draws the figures cen writes for people: training curves, confusion matrices, latency
// histograms and side-by-side image panels, as PNG files (gonum.org/v1/plot for the charts).
package plot

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/cen-ros/cen/internal/atomicfile"
)

// Series is one line of a chart.
type Series struct {
	Name string
	X, Y []float64
}

// Lines writes a line chart of series to path (PNG, atomically). NaN values leave gaps.
func Lines(path, title, xlabel, ylabel string, series []Series) error {
	p := gplot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xlabel, ylabel
	p.Add(plotter.NewGrid())
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plot: series %q has %d x and %d y values", s.Name, len(s.X), len(s.Y))
		}
		var pts plotter.XYs
		for j := range s.X {
			if !math.IsNaN(s.Y[j]) && !math.IsInf(s.Y[j], 0) {
				pts = append(pts, plotter.XY{X: s.X[j], Y: s.Y[j]})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		if len(pts) < 30 {
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return err
			}
			sc.Color = l.Color
			sc.Shape = vgdraw.CircleGlyph{}
			sc.Radius = vg.Points(2)
			p.Add(sc)
		}
		p.Legend.Add(s.Name, l)
	}
	p.Legend.Top = true
	return save(p, path, 8*vg.Inch, 4.5*vg.Inch)
}

// Histogram writes a histogram of values to path.
func Histogram(path, title, xlabel string, values []float64, bins int) error {
	if len(values) == 0 {
		return fmt.Errorf("plot: no values for the histogram %q", title)
	}
	p := gplot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xlabel, "frames"
	h, err := plotter.NewHist(plotter.Values(values), bins)
	if err != nil {
		return err
	}
	h.FillColor = palette[0]
	p.Add(h)
	return save(p, path, 7*vg.Inch, 4*vg.Inch)
}

// Confusion writes a confusion matrix (rows: ground truth, columns: prediction) normalised per row, as a
// heat map with the class names on both axes.
func Confusion(path, title string, names []string, counts []uint64) error {
	k := len(names)
	if k == 0 || len(counts) != k*k {
		return fmt.Errorf("plot: %d counts for %d classes", len(counts), k)
	}
	cell := 16
	if k <= 15 {
		cell = 36
	}
	labelW := 0
	for _, n := range names {
		labelW = max(labelW, 7*len(n))
	}
	labelW = min(labelW+8, 160)
	top := 28
	w, h := labelW+k*cell+10, top+labelW+k*cell+10
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	text(img, 6, 16, title, color.Black)
	for i := 0; i < k; i++ {
		var row uint64
		for j := 0; j < k; j++ {
			row += counts[i*k+j]
		}
		for j := 0; j < k; j++ {
			f := 0.0
			if row > 0 {
				f = float64(counts[i*k+j]) / float64(row)
			}
			c := heat(f)
			r := image.Rect(labelW+j*cell, top+labelW+i*cell, labelW+(j+1)*cell-1, top+labelW+(i+1)*cell-1)
			draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src)
			if cell >= 30 && row > 0 {
				tc := color.Color(color.Black)
				if f > 0.6 {
					tc = color.White
				}
				text(img, r.Min.X+3, r.Min.Y+cell/2+4, fmt.Sprintf("%.0f", 100*f), tc)
			}
		}
		text(img, 2, top+labelW+i*cell+cell/2+4, clip(names[i], labelW/7-1), color.Black)
		vtext(img, labelW+i*cell+cell/2-3, top+labelW-4, clip(names[i], labelW/7-1))
	}
	return writePNG(path, img)
}

// Panel lays out images in rows (each row the same frame: input, ground truth, prediction, ...) with a
// caption above each column, and writes it to path.
func Panel(path string, captions []string, rows [][]image.Image) error {
	if len(rows) == 0 {
		return fmt.Errorf("plot: an empty panel")
	}
	cols := len(rows[0])
	cw, ch := 0, 0
	for _, r := range rows {
		if len(r) != cols {
			return fmt.Errorf("plot: panel rows of %d and %d images", cols, len(r))
		}
		for _, im := range r {
			cw, ch = max(cw, im.Bounds().Dx()), max(ch, im.Bounds().Dy())
		}
	}
	pad, top := 4, 18
	img := image.NewRGBA(image.Rect(0, 0, cols*(cw+pad)+pad, top+len(rows)*(ch+pad)))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for j := 0; j < cols && j < len(captions); j++ {
		text(img, pad+j*(cw+pad), 13, captions[j], color.Black)
	}
	for i, r := range rows {
		for j, im := range r {
			at := image.Pt(pad+j*(cw+pad), top+i*(ch+pad))
			draw.Draw(img, im.Bounds().Sub(im.Bounds().Min).Add(at), im, im.Bounds().Min, draw.Src)
		}
	}
	return writePNG(path, img)
}

var palette = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255}, color.RGBA{214, 39, 40, 255},
	color.RGBA{148, 103, 189, 255}, color.RGBA{140, 86, 75, 255}, color.RGBA{227, 119, 194, 255}, color.RGBA{127, 127, 127, 255},
}

// heat maps [0, 1] from white through blue.
func heat(f float64) color.Color {
	f = math.Max(0, math.Min(1, f))
	return color.RGBA{uint8(255 * (1 - f*0.9)), uint8(255 * (1 - f*0.6)), uint8(255 - 60*f), 255}
}

func clip(s string, n int) string {
	if n > 1 && len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func text(img draw.Image, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// vtext draws s upwards from (x, y), one letter per line rotated by drawing each glyph in a column.
func vtext(img *image.RGBA, x, y int, s string) {
	tmp := image.NewRGBA(image.Rect(0, 0, 7*len(s)+2, 14))
	draw.Draw(tmp, tmp.Bounds(), image.White, image.Point{}, draw.Src)
	text(tmp, 1, 11, s, color.Black)
	for px := 0; px < tmp.Bounds().Dx(); px++ {
		for py := 0; py < tmp.Bounds().Dy(); py++ {
			if c := tmp.RGBAAt(px, py); c.R < 200 {
				img.Set(x+py-7, y-px, c)
			}
		}
	}
}

func save(p *gplot.Plot, path string, w, h vg.Length) error {
	c := vgimg.New(w, h)
	p.Draw(vgdraw.New(c))
	return atomicfile.Write(path, 0o644, func(wr io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(wr)
		return err
	})
}

func writePNG(path string, img image.Image) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { return png.Encode(w, img) })
}
