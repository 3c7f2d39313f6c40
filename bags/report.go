package bags

import (
	"encoding/json"
	"fmt"
	"html/template"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cen-ros/cen/internal/atomicfile"
	"github.com/cen-ros/cen/internal/plot"
	"github.com/cen-ros/cen/preprocess"
)

// Files of a report folder.
const (
	ReportJSON      = "report.json"
	ReportHTML      = "index.html"
	ReportConfusion = "confusion.png"
	ReportSamples   = "samples.png"
	ReportLatency   = "latency.png"
	// ReportOverlays holds one side-by-side image per sample frame, named by the frame's stamp.
	ReportOverlays = "overlays"
)

// WriteJSON writes the result as JSON (the machine-readable report).
func WriteJSON(path string, r *Result) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	})
}

// WriteReport writes the report folder for people: report.json, an HTML page with the per-class table, the
// confusion matrix, the samples side by side (colour, ground truth, prediction, overlay) and the latency
// histogram, all as files next to it, and each sample frame side by side in overlays/SECONDS.NANOSECONDS.png.
func WriteReport(dir string, r *Result) error {
	palette := r.palette
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := WriteJSON(filepath.Join(dir, ReportJSON), r); err != nil {
		return err
	}
	page := reportPage{R: r, Generated: time.Now().UTC().Format(time.RFC3339)}
	if len(r.Classes) > 0 && len(r.Confusion) == len(r.Classes)*len(r.Classes) {
		if err := plot.Confusion(filepath.Join(dir, ReportConfusion), "confusion matrix (% of each ground-truth class)", r.Classes, r.Confusion); err != nil {
			return err
		}
		page.Confusion = ReportConfusion
	}
	if len(r.samples) > 0 {
		var rows [][]image.Image
		if err := os.MkdirAll(filepath.Join(dir, ReportOverlays), 0o755); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		captions := []string{"colour", "ground truth", "prediction", "overlay"}
		for _, s := range r.samples {
			var gt, pred, over preprocess.RGBImage
			if err := preprocess.Colorize(&gt, s.GT, s.Width, s.High, palette); err != nil {
				return err
			}
			if err := preprocess.Colorize(&pred, s.Pred, s.Width, s.High, palette); err != nil {
				return err
			}
			if err := preprocess.Overlay(&over, s.RGB, pred, 0.5); err != nil {
				return err
			}
			row := []image.Image{toImage(s.RGB), toImage(gt), toImage(pred), toImage(over)}
			rows = append(rows, row)
			name := fmt.Sprintf("%d.%09d.png", s.Stamp.Unix(), s.Stamp.Nanosecond())
			if err := plot.Panel(filepath.Join(dir, ReportOverlays, name), captions, [][]image.Image{row}); err != nil {
				return err
			}
		}
		if err := plot.Panel(filepath.Join(dir, ReportSamples), captions, rows); err != nil {
			return err
		}
		page.Samples = ReportSamples
	}
	if len(r.latencies) > 1 {
		if err := plot.Histogram(filepath.Join(dir, ReportLatency), "latency per frame", "ms", r.latencies, 30); err != nil {
			return err
		}
		page.Latency = ReportLatency
	}
	for i, name := range r.Classes {
		row := classRow{Name: name, IoU: "–", Acc: "–"}
		if i < len(r.Scores.PerClassIoU) && !math.IsNaN(r.Scores.PerClassIoU[i]) {
			row.IoU, row.iou = fmt.Sprintf("%.1f", r.Scores.PerClassIoU[i]), r.Scores.PerClassIoU[i]
		}
		if i < len(r.Scores.PerClassAcc) && !math.IsNaN(r.Scores.PerClassAcc[i]) {
			row.Acc = fmt.Sprintf("%.1f", r.Scores.PerClassAcc[i])
		}
		k := len(r.Classes)
		for j := 0; j < k && len(r.Confusion) == k*k; j++ {
			row.Pixels += r.Confusion[i*k+j]
		}
		page.Rows = append(page.Rows, row)
	}
	for reason, n := range r.FramesSkipped {
		page.Skipped = append(page.Skipped, skipRow{reason, n})
	}
	sort.Slice(page.Skipped, func(i, j int) bool { return page.Skipped[i].N > page.Skipped[j].N })
	return atomicfile.Write(filepath.Join(dir, ReportHTML), 0o644, func(w io.Writer) error { return reportTemplate.Execute(w, page) })
}

type reportPage struct {
	R                           *Result
	Generated                   string
	Confusion, Samples, Latency string
	Rows                        []classRow
	Skipped                     []skipRow
}

type classRow struct {
	Name, IoU, Acc string
	Pixels         uint64
	iou            float64
}

// Bar is the width in % of the IoU bar in the table.
func (c classRow) Bar() float64 { return math.Max(0, math.Min(100, c.iou)) }

type skipRow struct {
	Reason string
	N      int
}

func pct(p *float64) string {
	if p == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", *p)
}

func toImage(m preprocess.RGBImage) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, m.Width, m.Height))
	for i := 0; i < m.Width*m.Height; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = m.Pix[3*i], m.Pix[3*i+1], m.Pix[3*i+2], 255
	}
	return img
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"pct": pct}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cen evaluation: {{.R.Bag}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 70em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.scores { display: flex; gap: 2em; } .score { background: #eef3fa; padding: 0.8em 1.2em; border-radius: 6px; }
.score b { display: block; font-size: 1.8em; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { background: #4a7fc1; height: 0.8em; display: inline-block; }
img { max-width: 100%; border: 1px solid #ccc; } .missing { color: #b00; font-weight: bold; } .meta td { border: none; padding: 0.1em 0.8em 0.1em 0; }
</style></head><body>
<h1>cen evaluation of {{.R.Bag}}</h1>
<div class="scores">
 <div class="score">mean IoU<b>{{pct .R.MIoU}} %</b></div>
 <div class="score">pixel accuracy<b>{{pct .R.PixelAcc}} %</b></div>
 <div class="score">mean accuracy<b>{{pct .R.MeanAcc}} %</b></div>
 <div class="score">latency p50 / p95<b>{{printf "%.1f" .R.LatencyMS.P50}} / {{printf "%.1f" .R.LatencyMS.P95}} ms</b></div>
</div>
<table class="meta">
<tr><td>frames scored</td><td>{{.R.FramesScored}} ({{.R.Mode}})</td></tr>
<tr><td>model</td><td>{{.R.Model.Path}}: {{.R.Model.Arch}}, {{.R.Model.Classes}} classes of {{.R.Model.Dataset}}, {{range $i, $m := .R.Model.Modalities}}{{if $i}}+{{end}}{{$m}}{{end}} at {{.R.Model.Input}} (cen {{.R.Model.Version}})</td></tr>
<tr><td>ran on</td><td>{{.R.Model.Backend}} / {{.R.Model.Provider}}, {{.R.Machine.CPU}} ({{.R.Machine.Cores}} cores, {{.R.Machine.OS}})</td></tr>
{{if .R.Error}}<tr><td>stopped early</td><td>{{.R.Error}}</td></tr>{{end}}
<tr><td>written</td><td>{{.Generated}}</td></tr>
</table>
{{if .R.Outputs}}<h2>Per output</h2>
<table><tr><th>output</th><th>mIoU %</th><th>pixel accuracy %</th><th>mean accuracy %</th></tr>
{{range .R.Outputs}}<tr><td>{{.Name}}</td><td class="num">{{pct .MIoU}}</td><td class="num">{{pct .PixelAcc}}</td><td class="num">{{pct .MeanAcc}}</td></tr>
{{end}}</table>{{end}}
{{if .Skipped}}<h2>Frames not scored</h2><table>{{range .Skipped}}<tr><td>{{.Reason}}</td><td class="num">{{.N}}</td></tr>{{end}}</table>{{end}}
<h2>Per class</h2>
<table><tr><th>class</th><th>IoU %</th><th></th><th>accuracy %</th><th>ground-truth pixels</th></tr>
{{range .Rows}}<tr><td>{{.Name}}</td><td class="num">{{.IoU}}</td><td><span class="bar" style="width: {{printf "%.0f" .Bar}}px"></span></td><td class="num">{{.Acc}}</td><td class="num">{{.Pixels}}</td></tr>
{{end}}</table>
{{if .Samples}}<h2>Samples</h2><img src="{{.Samples}}" alt="colour, ground truth, prediction and overlay of sample frames">{{end}}
{{if .Confusion}}<h2>Confusion matrix</h2><img src="{{.Confusion}}" alt="confusion matrix">{{end}}
{{if .Latency}}<h2>Latency</h2><img src="{{.Latency}}" alt="latency histogram">{{end}}
<script>
// Say on the page when an image of the report is missing (a folder copied without its PNGs), and record how
// many loaded for tools that read the rendered page.
window.addEventListener("load", function () {
  var ok = 0, imgs = document.images;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; continue; }
    var p = document.createElement("p");
    p.className = "missing";
    p.textContent = "missing image: " + imgs[i].getAttribute("src") + " (keep it next to index.html)";
    imgs[i].parentNode.insertBefore(p, imgs[i]);
  }
  document.body.setAttribute("data-images", imgs.length);
  document.body.setAttribute("data-images-loaded", ok);
});
</script>
</body></html>
`))
