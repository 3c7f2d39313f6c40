package preprocess

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cen-ros/cen/calibration"
)

func TestArgmaxGivesLabelsAndSoftmaxConfidence(t *testing.T) {
	// 3 classes, 2 pixels.
	logits := []float32{0, 5, 1, 6, 2, 5}
	labels := make([]uint8, 2)
	conf := make([]float32, 2)
	if err := Argmax(labels, conf, logits, 3, 2, 1); err != nil {
		t.Fatal(err)
	}
	if labels[0] != 2 || labels[1] != 1 {
		t.Fatalf("labels %v", labels)
	}
	e := math.Exp
	want0 := e(2) / (e(0) + e(1) + e(2))
	want1 := 1 / (1 + 2*e(-1))
	if math.Abs(float64(conf[0])-want0) > 1e-6 || math.Abs(float64(conf[1])-want1) > 1e-6 {
		t.Fatalf("confidence %v, want [%g %g]", conf, want0, want1)
	}
	if err := Argmax(labels, nil, logits[:5], 3, 2, 1); err == nil {
		t.Fatal("short logits accepted")
	}
}

func TestColorizeOverlayAndMask(t *testing.T) {
	labels := []uint16{0, 1, 2, 300}
	var c RGBImage
	if err := Colorize(&c, labels, 2, 2, PaletteNYUDv2); err != nil {
		t.Fatal(err)
	}
	want := []uint8{128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 0}
	if string(c.Pix) != string(want) {
		t.Fatalf("colours %v, want %v", c.Pix, want)
	}
	rgb := RGBImage{2, 2, []uint8{0, 0, 0, 255, 255, 255, 100, 100, 100, 10, 20, 30}}
	var o RGBImage
	if err := Overlay(&o, rgb, c, 0.5); err != nil {
		t.Fatal(err)
	}
	if o.Pix[0] != 64 || o.Pix[3] != 128 || o.Pix[4] != 192 || o.Pix[9] != 5 {
		t.Fatalf("overlay %v", o.Pix)
	}
	if err := Overlay(&o, rgb, c, 1.5); err == nil || !strings.Contains(err.Error(), "alpha 1.5") {
		t.Fatalf("err = %v", err)
	}
	depth := DepthImage{2, 2, []float32{1, 0, 20, 3}}
	if err := MaskInvalidDepth(labels, depth, 0.1, 10, 65535); err != nil {
		t.Fatal(err)
	}
	if labels[0] != 0 || labels[1] != 65535 || labels[2] != 65535 || labels[3] != 300 {
		t.Fatalf("masked labels %v", labels)
	}
}

func TestEncodeLabelsAndConfidence(t *testing.T) {
	data, step, err := EncodeLabels([]int32{1, 2, 254, 255}, 2, 2, LabelsMono8)
	if err != nil || step != 2 || string(data) != "\x01\x02\xfe\xff" {
		t.Fatalf("mono8: %v %d %v", data, step, err)
	}
	if _, _, err := EncodeLabels([]int32{256}, 1, 1, LabelsMono8); err == nil || !strings.Contains(err.Error(), "use 16UC1") {
		t.Fatalf("err = %v", err)
	}
	data, step, err = EncodeLabels([]uint16{1, 40000}, 2, 1, Labels16)
	if err != nil || step != 4 || binary.LittleEndian.Uint16(data[2:]) != 40000 {
		t.Fatalf("16UC1: %v %d %v", data, step, err)
	}
	if _, _, err := EncodeLabels([]uint8{1}, 1, 1, "32SC1"); err == nil {
		t.Fatal("unknown encoding accepted")
	}
	data, step, err = EncodeConfidence([]float32{0.25, 1}, 2, 1)
	if err != nil || step != 8 || math.Float32frombits(binary.LittleEndian.Uint32(data[4:])) != 1 {
		t.Fatalf("32FC1: %v %d %v", data, step, err)
	}
}

func TestPalettes(t *testing.T) {
	voc := VOCPalette(6)
	want := Palette{{0, 0, 0}, {128, 0, 0}, {0, 128, 0}, {128, 128, 0}, {0, 0, 128}, {128, 0, 128}}
	for i := range want {
		if voc[i] != want[i] {
			t.Fatalf("VOC colour %d = %v, want %v", i, voc[i], want[i])
		}
	}
	if len(PaletteNYUDv2) != 40 || len(ClassesNYUDv2) != 40 || len(PaletteSUNRGBD) != 37 || len(ClassesSUNRGBD) != 37 {
		t.Fatalf("palette sizes %d/%d %d/%d", len(PaletteNYUDv2), len(ClassesNYUDv2), len(PaletteSUNRGBD), len(ClassesSUNRGBD))
	}
	for _, name := range []string{"nyudv2", "SUNRGBD"} {
		cs, ok := KnownClasses(name)
		if !ok || len(cs.Names) != len(cs.Palette) || cs.Dataset != strings.ToLower(name) {
			t.Fatalf("KnownClasses(%q) = %+v, %v", name, cs, ok)
		}
	}
	if _, ok := KnownClasses("cityscapes"); ok {
		t.Fatal("an unknown data set has classes")
	}
	if g := GenericClasses("mine", 3); len(g.Names) != 3 || g.Names[2] != "class_2" || g.Palette[0] == [3]uint8{} || g.Dataset != "mine" {
		t.Fatalf("GenericClasses = %+v", g)
	}
	seen := map[[3]uint8]bool{}
	for _, c := range PaletteNYUDv2 {
		if seen[c] || c == [3]uint8{} {
			t.Fatalf("colour %v repeats or is black", c)
		}
		seen[c] = true
	}
	path := filepath.Join(t.TempDir(), "palette.txt")
	os.WriteFile(path, []byte("# r g b name\n255 0 0 wall\n\n0,255,0\tfloor mat\n1 2 3\n"), 0o644)
	p, names, err := LoadPalette(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 3 || p[1] != [3]uint8{0, 255, 0} || names[1] != "floor mat" || names[2] != "" {
		t.Fatalf("palette %v names %q", p, names)
	}
	os.WriteFile(path, []byte("255 0 300 x\n"), 0o644)
	if _, _, err := LoadPalette(path); err == nil || !strings.Contains(err.Error(), `palette.txt:1: colour component "300"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestRegisterDepthChecksTheDepthCameraSize(t *testing.T) {
	cam := calibration.Pinhole{Width: 4, Height: 3, K: [9]float64{4, 0, 1.5, 0, 4, 1, 0, 0, 1}}
	reg, err := calibration.NewRegistration(cam, cam, calibration.Identity())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RegisterDepth(DepthImage{2, 2, make([]float32, 4)}, reg, false); err == nil || !strings.Contains(err.Error(), "does not match its camera calibration 4x3") {
		t.Fatalf("err = %v", err)
	}
	d, err := RegisterDepth(DepthImage{4, 3, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}, reg, false)
	if err != nil || d.Width != 4 || d.Height != 3 || d.Pix[11] != 12 {
		t.Fatalf("registered %+v, %v", d, err)
	}
}

// TestLabelsToNetStaysAlignedWithTheDepthTensor maps a label map whose value is each pixel's index and a depth
// image that encodes the same index through Spec.InputTo and LabelsToNet: every network pixel must read the
// same source pixel in both (the same nearest rule), and letterbox padding must be the ignore label.
func TestLabelsToNetStaysAlignedWithTheDepthTensor(t *testing.T) {
	checkMats(t)
	for _, tc := range []struct {
		w, h, netW, netH int
		resize           Resize
	}{
		{97, 61, 64, 48, Stretch},
		{64, 48, 97, 61, Stretch},
		{80, 60, 48, 48, Letterbox},
		{60, 80, 64, 40, Letterbox},
		{33, 33, 33, 33, Stretch},
	} {
		s := DefaultSpec()
		s.Height, s.Width, s.Resize = tc.netH, tc.netW, tc.resize
		rgb := NewRGBImage(tc.w, tc.h)
		depth := DepthImage{Width: tc.w, Height: tc.h, Pix: make([]float32, tc.w*tc.h)}
		labels := make([]uint16, tc.w*tc.h)
		for i := range labels {
			labels[i] = uint16(i)
			depth.Pix[i] = 1 + float32(i)/1024
		}
		var in Input
		if err := s.InputTo(&in, rgb, depth, nil); err != nil {
			t.Fatal(err)
		}
		got := make([]uint16, tc.netW*tc.netH)
		const ignore = 65535
		if err := LabelsToNet(in.Geometry, got, labels, ignore); err != nil {
			t.Fatal(err)
		}
		padded := 0
		for i, l := range got {
			d := in.Depth[i]
			if d == s.InvalidDepth {
				padded++
				if l != ignore {
					t.Fatalf("%+v: padding pixel %d has label %d, want ignore", tc, i, l)
				}
				continue
			}
			if want := uint16(math.Round(float64(d-1) * 1024)); l != want {
				t.Fatalf("%+v: network pixel %d reads source pixel %d for labels but %d for depth", tc, i, l, want)
			}
		}
		if (tc.resize == Letterbox) != (padded > 0) {
			t.Fatalf("%+v: %d padding pixels", tc, padded)
		}
	}
	g := DefaultSpec().Geometry(64, 48)
	if err := LabelsToNet(g, make([]uint8, 10), make([]uint8, 64*48), 255); err == nil || !strings.Contains(err.Error(), "network-size labels have 10 pixels") {
		t.Fatalf("err = %v", err)
	}
}
