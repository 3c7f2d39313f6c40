package preprocess

import (
	"slices"
	"strings"
	"testing"
)

func TestSpecMetadataRoundTrips(t *testing.T) {
	custom := DefaultSpec()
	custom.Height, custom.Width = 240, 320
	custom.Resize, custom.RGBInterp, custom.DepthEncoding = Letterbox, Bilinear, HHA
	custom.DepthScale, custom.DepthMin, custom.DepthMax, custom.InvalidDepth = 0.2, 0.1, 10, -1
	custom.DepthMean, custom.DepthStd = [3]float32{0.5, 0.5, 0.5}, [3]float32{0.25, 0.25, 0.25}
	reference := custom
	reference.HHA = ReferenceHHA()
	reference.HHA.Window = 9
	for _, s := range []Spec{DefaultSpec(), custom, reference} {
		md := s.Metadata()
		md["cen.architecture"] = "refinenet-r101" // other keys are ignored
		got, err := SpecFromMetadata(md)
		if err != nil {
			t.Fatal(err)
		}
		if got != s {
			t.Fatalf("round trip gave %+v, want %+v", got, s)
		}
	}
	if md := DefaultSpec().Metadata(); md[KeyDepthEncoding] != "replicate" || md[KeyResize] != "stretch" || md[KeyMean] != "0.485,0.456,0.406" {
		t.Fatalf("metadata strings: %v", md)
	}
}

func TestSpecFromMetadataNamesTheBadOrMissingValue(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{KeyResize, "crop", `preprocess.resize="crop": want one of stretch, letterbox`},
		{KeyDepthEncoding, "jet", "want one of replicate, hha"},
		{KeyHeight, "abc", `preprocess.height="abc"`},
		{KeyMean, "0.1,0.2", "want three comma-separated numbers"},
		{KeyStd, "1,0,1", "std of channel 1 must be positive"},
		{KeyDepthScale, "x", "not a number"},
		{"preprocess.colour", "1", "unknown key"},
		{KeyWidth, "0", "input size 0x480"},
		{KeyDepthMax, "-1", "depth range"},
		{KeyDepthStd, "", "want three comma-separated numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			md := DefaultSpec().Metadata()
			md[tt.key] = tt.value
			_, err := SpecFromMetadata(md)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	for _, k := range specKeys {
		md := DefaultSpec().Metadata()
		delete(md, k)
		if _, err := SpecFromMetadata(md); err == nil || !strings.Contains(err.Error(), "model metadata has no "+k) {
			t.Errorf("without %s: err = %v, want it named as missing", k, err)
		}
	}
	s := DefaultSpec()
	s.DepthEncoding, s.DepthChannels = HHA, 1
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "HHA has 3 channels") {
		t.Fatalf("err = %v", err)
	}
}

func TestSpecHHAConventionsInMetadata(t *testing.T) {
	// A replicate spec writes no HHA keys: its files read as before.
	if md := DefaultSpec().Metadata(); len(md) != len(specKeys) {
		t.Fatalf("replicate metadata has %d keys, want the %d of before", len(md), len(specKeys))
	}
	s := DefaultSpec()
	s.DepthEncoding = HHA
	md := s.Metadata()
	want := map[string]string{KeyHHAWindow: "7", KeyHHAFloor: "lowest", KeyHHAHoles: "invalid", KeyHHAOrder: "dha", KeyHHAResolution: "network"}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("%s = %q, want %q", k, md[k], v)
		}
	}
	// A model file from before the HHA keys reads with this package's
	// conventions.
	for k := range want {
		delete(md, k)
	}
	got, err := SpecFromMetadata(md)
	if err != nil || got != s {
		t.Fatalf("without HHA keys: %+v, %v; want %+v", got, err, s)
	}
	ref := s
	ref.HHA = ReferenceHHA()
	md = ref.Metadata()
	if md[KeyHHAFloor] != "reference" || md[KeyHHAHoles] != "reference" || md[KeyHHAOrder] != "ahd" || md[KeyHHAResolution] != "sensor" {
		t.Fatalf("reference conventions: %v", md)
	}
	// A zero window means the default and is written as such.
	zero := s
	zero.HHA.Window = 0
	if md := zero.Metadata(); md[KeyHHAWindow] != "7" {
		t.Fatalf("window 0 written as %q", md[KeyHHAWindow])
	}
	for _, tt := range []struct{ key, value, want string }{
		{KeyHHAWindow, "8", "HHA normal window 8 is not an odd size from 3 to 63"},
		{KeyHHAWindow, "1", "not an odd size"},
		{KeyHHAFloor, "ground", "want one of lowest, reference"},
		{KeyHHAHoles, "zero", "want one of invalid, reference"},
		{KeyHHAOrder, "hhd", "want one of dha, ahd"},
		{KeyHHAResolution, "full", "want one of network, sensor"},
	} {
		md := s.Metadata()
		md[tt.key] = tt.value
		if _, err := SpecFromMetadata(md); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%s: err = %v, want %q", tt.key, tt.value, err, tt.want)
		}
	}
	keys := MetadataKeys()
	for k := range s.Metadata() {
		if !slices.Contains(keys, k) {
			t.Errorf("MetadataKeys lacks %s", k)
		}
	}
}
