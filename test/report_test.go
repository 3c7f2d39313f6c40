package test

import (
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// chromium runs Debian's headless chromium on a local page with a profile of its own and no network, with
// extra flags (--dump-dom, --screenshot=...).
func chromium(t *testing.T, page string, flags ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium (installed by make setup): %v", err)
	}
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-quic", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}, flags...)
	cmd := exec.Command(bin, append(args, "file://"+page)...)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v", flags, err)
	}
	return stdout.String()
}

// TestEvalReportRendersInChromium opens the HTML report of cen eval in a headless browser: every image of the
// page loads, the rendered page carries the colours of the plots and label images (not only text), and a page
// whose image file is gone says so on the page.
func TestEvalReportRendersInChromium(t *testing.T) {
	dir := t.TempDir()
	const h, w = 64, 80
	model := synthModel(t, h, w)
	bag := filepath.Join(dir, "s.bag")
	if out, code := runCen(t, os.Environ(), "synth", "--bag", bag, "--n", "4", "--size", fmt.Sprintf("%dx%d", h, w), "--seed", "5"); code != 0 {
		t.Fatalf("synth --bag: %s", out)
	}
	report := filepath.Join(dir, "report")
	if out, code := runCen(t, os.Environ(), "eval", "--model", model, "--bag", bag, "--report", report); code != 0 {
		t.Fatalf("eval: %s", out)
	}
	page := filepath.Join(report, "index.html")
	body := regexp.MustCompile(`<body data-images="(\d+)" data-images-loaded="(\d+)">`)
	m := body.FindStringSubmatch(chromium(t, page, "--dump-dom"))
	if m == nil || m[1] != "3" || m[2] != "3" {
		t.Fatalf("rendered report: images (on the page, loaded) = %v, want 3 of 3 (samples, confusion, latency)", m)
	}

	shot := filepath.Join(dir, "shot.png")
	chromium(t, page, "--screenshot="+shot, "--window-size=1100,2400")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	coloured := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			hi, lo := max(r, g, bl)>>8, min(r, g, bl)>>8
			if hi-lo > 80 {
				coloured++
			}
		}
	}
	// The page without its images (text, table rules, the IoU bars, the red notes of missing images) colours
	// 0.6 % of a 1100×2400 screenshot; with the label images and the confusion matrix of this small bag it is
	// 2.5 % (5 % at 120×160).
	if frac := float64(coloured) / float64(b.Dx()*b.Dy()); frac < 0.015 {
		t.Fatalf("screenshot has %.2f %% strongly coloured pixels: the images did not render", 100*frac)
	}

	if err := os.Remove(filepath.Join(report, "samples.png")); err != nil {
		t.Fatal(err)
	}
	dom := chromium(t, page, "--dump-dom")
	if m := body.FindStringSubmatch(dom); m == nil || m[2] != "2" || !strings.Contains(dom, "missing image: samples.png") {
		t.Fatalf("report without samples.png: %v; the page should say the image is missing", m)
	}
}
