package preprocess

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Resize says how an image is fitted to the network's input size.
type Resize int

const (
	// Stretch scales width and height independently to the input size.
	Stretch Resize = iota
	// Letterbox keeps the aspect ratio, centres the image and pads the rest
	// (RGB with the normalised mean, i.e. 0; depth with InvalidDepth).
	Letterbox
)

// Interp is the interpolation used to resize the RGB image.
type Interp int

const (
	// Bicubic is OpenCV's INTER_CUBIC, as the official CEN code uses.
	Bicubic Interp = iota
	// Bilinear is OpenCV's INTER_LINEAR.
	Bilinear
)

// DepthEncoding says how depth is broadened to the network's channels.
type DepthEncoding int

const (
	// Replicate copies depth (metres × DepthScale) into every channel: the
	// official CEN recipe.
	Replicate DepthEncoding = iota
	// HHA encodes horizontal disparity, height above the lowest point and the
	// angle between surface normal and gravity (Gupta et al., ECCV 2014),
	// each scaled to 0..255 as in the reference implementation, then /255.
	HHA
)

// HHAFloor says where HHA's height is measured from.
type HHAFloor int

const (
	// LowestFloor measures height from the lowest point in view.
	LowestFloor HHAFloor = iota
	// ReferenceFloor is the reference's rule: from the lowest point, unless
	// it is less than 90 cm below the camera, when the floor is taken to be
	// 130 cm below the camera (a view that shows no floor).
	ReferenceFloor
	// RobustFloor measures height from the lowest surface rather than the
	// lowest reading: the densest height within 20 cm above the 0.5 %
	// lowest points, averaged over ±2 cm. On sensor depth the lowest
	// reading lies a few centimetres below the floor (the noise's tail), so
	// LowestFloor and ReferenceFloor read the floor 2–3 cm high; this one
	// reads it at 0. Not the reference's encoding: a model trained on the
	// reference's HHA expects LowestFloor or ReferenceFloor.
	RobustFloor
)

// HHAHoles says how HHA encodes pixels without depth.
type HHAHoles int

const (
	// InvalidHoles leaves them without a value: the network sees
	// InvalidDepth in all three channels, as for Replicate.
	InvalidHoles HHAHoles = iota
	// ReferenceHoles encodes them as the reference does when given depth
	// with holes: a point at the camera, so disparity 255 and the camera's
	// height, and the angle of the plane fitted to the valid pixels around
	// them (180°, i.e. 218, where there are too few, which also applies to
	// valid pixels without a normal). The network sees these values.
	ReferenceHoles
)

// HHAOrder is the order of the HHA channels in the network's depth tensor.
type HHAOrder int

const (
	// OrderDHA is disparity, height, angle: the encoding's own order, and
	// what a loader that reads HHA images as RGB (torchvision, PIL) sees.
	OrderDHA HHAOrder = iota
	// OrderAHD is angle, height, disparity: what a loader that reads the
	// reference's HHA PNGs with OpenCV (BGR) sees, as CMX-style code does.
	OrderAHD
)

// HHAResolution says at which resolution HHA is computed.
type HHAResolution int

const (
	// NetworkResolution resizes depth to the network's input (nearest
	// neighbour) and computes HHA there.
	NetworkResolution HHAResolution = iota
	// SensorResolution computes HHA on the registered depth at the camera's
	// resolution, then resizes the three 8-bit planes to the network's
	// input with RGBInterp, as a data set of HHA images resized by its
	// loader gives. The validity of each network pixel is still that of the
	// nearest depth pixel.
	SensorResolution
)

// HHAConf holds the conventions of the HHA encoding: each is part of a
// model's recipe, so a node feeds a model the HHA it was trained on. The
// zero value is this package's encoding; ReferenceHHA returns the
// reference's (Gupta et al.'s code, and the way CMX-style training code
// loads its output).
type HHAConf struct {
	// Window is the side, in pixels, of the square window each surface
	// normal is fitted over (odd, 3 to 63); 0 means DefaultHHAWindow, the
	// reference's 7.
	Window int
	// Floor says where height is measured from (LowestFloor).
	Floor HHAFloor
	// Holes says how pixels without depth are encoded (InvalidHoles).
	Holes HHAHoles
	// Order is the channel order the network sees (OrderDHA).
	Order HHAOrder
	// Resolution says where HHA is computed (NetworkResolution).
	Resolution HHAResolution
}

// ReferenceHHA returns the reference's conventions as CMX-style models are
// trained on them: 7×7 normals, the floor fallback, holes encoded as the
// reference does, channels in OpenCV's order (angle, height, disparity),
// computed at the sensor's resolution. (Such models also normalise HHA with
// the ImageNet mean and std, Spec.DepthMean and DepthStd, and their loaders
// resize images bilinearly, Spec.RGBInterp Bilinear.)
func ReferenceHHA() HHAConf {
	return HHAConf{Window: DefaultHHAWindow, Floor: ReferenceFloor, Holes: ReferenceHoles, Order: OrderAHD, Resolution: SensorResolution}
}

// window is the normal window's side, with 0 meaning the default.
func (c HHAConf) window() int {
	if c.Window == 0 {
		return DefaultHHAWindow
	}
	return c.Window
}

// Validate reports the first convention of c that is not one.
func (c HHAConf) Validate() error {
	switch {
	case c.Window != 0 && (c.Window < 3 || c.Window > maxHHAWindow || c.Window%2 == 0):
		return fmt.Errorf("preprocess: HHA normal window %d is not an odd size from 3 to %d", c.Window, maxHHAWindow)
	case c.Floor < LowestFloor || c.Floor > RobustFloor:
		return fmt.Errorf("preprocess: HHA floor %d is not one of %s", int(c.Floor), strings.Join(floorNames, ", "))
	case c.Holes != InvalidHoles && c.Holes != ReferenceHoles:
		return fmt.Errorf("preprocess: HHA holes %d is not invalid or reference", int(c.Holes))
	case c.Order != OrderDHA && c.Order != OrderAHD:
		return fmt.Errorf("preprocess: HHA order %d is not dha or ahd", int(c.Order))
	case c.Resolution != NetworkResolution && c.Resolution != SensorResolution:
		return fmt.Errorf("preprocess: HHA resolution %d is not network or sensor", int(c.Resolution))
	}
	return nil
}

// maxHHAWindow bounds the normal window; larger ones blur surfaces together.
const maxHHAWindow = 63

var (
	resizeNames   = []string{"stretch", "letterbox"}
	interpNames   = []string{"bicubic", "bilinear"}
	depthNames    = []string{"replicate", "hha"}
	floorNames    = []string{"lowest", "reference", "robust"}
	holesNames    = []string{"invalid", "reference"}
	orderNames    = []string{"dha", "ahd"}
	hhaResolNames = []string{"network", "sensor"}
)

// String returns the metadata name: "stretch" or "letterbox".
func (r Resize) String() string { return enumName(resizeNames, int(r)) }

// String returns the metadata name: "bicubic" or "bilinear".
func (i Interp) String() string { return enumName(interpNames, int(i)) }

// String returns the metadata name: "replicate" or "hha".
func (d DepthEncoding) String() string { return enumName(depthNames, int(d)) }

// String returns the metadata name: "lowest", "reference" or "robust".
func (f HHAFloor) String() string { return enumName(floorNames, int(f)) }

// String returns the metadata name: "invalid" or "reference".
func (h HHAHoles) String() string { return enumName(holesNames, int(h)) }

// String returns the metadata name: "dha" or "ahd".
func (o HHAOrder) String() string { return enumName(orderNames, int(o)) }

// String returns the metadata name: "network" or "sensor".
func (r HHAResolution) String() string { return enumName(hhaResolNames, int(r)) }

func enumName(names []string, i int) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return "invalid(" + strconv.Itoa(i) + ")"
}

// Spec is everything the network's inputs depend on. It travels in the model
// file (Metadata, SpecFromMetadata), so the node, evaluation and training
// cannot normalise differently.
//
// The RGB channels of the network are (x·RGBScale − Mean[c]) / Std[c] for an
// 8-bit sample x. Each depth channel c is (v − DepthMean[c]) / DepthStd[c]
// where v is metres × DepthScale for Replicate and the HHA byte / 255 for HHA;
// pixels whose depth is invalid (0, or outside [DepthMin, DepthMax]) are
// InvalidDepth in every depth channel.
type Spec struct {
	// Height and Width are the network's input size.
	Height, Width int
	// Resize fits images to the input size.
	Resize Resize
	// RGBInterp resizes the RGB image; depth is always resized with nearest
	// neighbour so that no depth is invented between surfaces.
	RGBInterp Interp
	// RGBScale maps 8-bit samples to the unit range (1/255).
	RGBScale float32
	// Mean and Std normalise the R, G and B channels after RGBScale.
	Mean, Std [3]float32
	// DepthEncoding broadens depth to DepthChannels channels.
	DepthEncoding DepthEncoding
	// DepthChannels is the number of depth channels (3; HHA needs 3).
	DepthChannels int
	// DepthScale multiplies metres for Replicate (1: the network sees metres,
	// as the official models do: their data set PNGs are metres × 5000 and
	// are divided by 5000).
	DepthScale float32
	// DepthMean and DepthStd normalise each depth channel (0 and 1: none).
	DepthMean, DepthStd [3]float32
	// DepthMin and DepthMax bound valid depth in metres; DepthMax 0 means no
	// upper bound.
	DepthMin, DepthMax float32
	// InvalidDepth is the network value of pixels without valid depth (0).
	InvalidDepth float32
	// HHA holds the conventions of the HHA encoding (used with HHA only).
	// DepthMean and DepthStd apply to the channels in HHA.Order.
	HHA HHAConf
}

// DefaultSpec returns the official CEN preprocessing at NYUDv2's full
// resolution: 480×640, stretch (a no-op at that size), bicubic RGB, RGB/255
// with ImageNet mean and std, depth in metres replicated to 3 channels
// without mean/std, invalid depth 0.
func DefaultSpec() Spec {
	return Spec{
		Height: 480, Width: 640,
		Resize:        Stretch,
		RGBInterp:     Bicubic,
		RGBScale:      1.0 / 255,
		Mean:          [3]float32{0.485, 0.456, 0.406},
		Std:           [3]float32{0.229, 0.224, 0.225},
		DepthEncoding: Replicate,
		DepthChannels: 3,
		DepthScale:    1,
		DepthStd:      [3]float32{1, 1, 1},
		HHA:           HHAConf{Window: DefaultHHAWindow},
	}
}

// Validate reports the first field of s that cannot work.
func (s Spec) Validate() error {
	switch {
	case s.Height <= 0 || s.Width <= 0 || s.Height > maxPixels/s.Width:
		return fmt.Errorf("preprocess: input size %dx%d is not usable", s.Width, s.Height)
	case s.Resize != Stretch && s.Resize != Letterbox:
		return fmt.Errorf("preprocess: resize mode %d is not stretch or letterbox", int(s.Resize))
	case s.RGBInterp != Bicubic && s.RGBInterp != Bilinear:
		return fmt.Errorf("preprocess: RGB interpolation %d is not bicubic or bilinear", int(s.RGBInterp))
	case s.DepthEncoding != Replicate && s.DepthEncoding != HHA:
		return fmt.Errorf("preprocess: depth encoding %d is not replicate or hha", int(s.DepthEncoding))
	case s.DepthChannels < 1 || s.DepthChannels > 3:
		return fmt.Errorf("preprocess: %d depth channels, want 1 to 3", s.DepthChannels)
	case s.DepthEncoding == HHA && s.DepthChannels != 3:
		return fmt.Errorf("preprocess: HHA has 3 channels, the spec asks for %d", s.DepthChannels)
	case !finite(s.RGBScale) || !finite(s.DepthScale) || !finite(s.InvalidDepth):
		return fmt.Errorf("preprocess: scales must be finite (rgb %g, depth %g, invalid %g)", s.RGBScale, s.DepthScale, s.InvalidDepth)
	case !finite(s.DepthMin) || !finite(s.DepthMax) || s.DepthMin < 0 || s.DepthMax < 0 || (s.DepthMax != 0 && s.DepthMax <= s.DepthMin):
		return fmt.Errorf("preprocess: depth range [%g, %g] m is not usable", s.DepthMin, s.DepthMax)
	}
	if err := s.HHA.Validate(); err != nil {
		return err
	}
	for c := 0; c < 3; c++ {
		if !finite(s.Mean[c]) || !finite(s.DepthMean[c]) {
			return fmt.Errorf("preprocess: mean of channel %d is not finite", c)
		}
		if !(s.Std[c] > 0) || !finite(s.Std[c]) || c < s.DepthChannels && (!(s.DepthStd[c] > 0) || !finite(s.DepthStd[c])) {
			return fmt.Errorf("preprocess: std of channel %d must be positive (rgb %g, depth %g)", c, s.Std[c], s.DepthStd[c])
		}
	}
	return nil
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// Metadata keys written by Spec.Metadata.
const (
	KeyHeight        = "preprocess.height"
	KeyWidth         = "preprocess.width"
	KeyResize        = "preprocess.resize"
	KeyRGBInterp     = "preprocess.rgb_interp"
	KeyRGBScale      = "preprocess.rgb_scale"
	KeyMean          = "preprocess.rgb_mean"
	KeyStd           = "preprocess.rgb_std"
	KeyDepthEncoding = "preprocess.depth_encoding"
	KeyDepthChannels = "preprocess.depth_channels"
	KeyDepthScale    = "preprocess.depth_scale"
	KeyDepthMean     = "preprocess.depth_mean"
	KeyDepthStd      = "preprocess.depth_std"
	KeyDepthMin      = "preprocess.depth_min"
	KeyDepthMax      = "preprocess.depth_max"
	KeyInvalidDepth  = "preprocess.invalid_depth"
	// The HHA conventions. They are written for HHA specs (and for any spec
	// whose HHA differs from DefaultSpec's) and may be missing: a model file
	// without them was written before they existed and is fed as it was
	// then, except that its normals are fitted over the default window
	// (they were central differences, an approximation of the same plane,
	// which the reference's fit replaces).
	KeyHHAWindow     = "preprocess.hha_window"
	KeyHHAFloor      = "preprocess.hha_floor"
	KeyHHAHoles      = "preprocess.hha_holes"
	KeyHHAOrder      = "preprocess.hha_order"
	KeyHHAResolution = "preprocess.hha_resolution"
)

// Metadata returns s as key=value strings for a model file's metadata.
// Numbers are written in the shortest form that reads back to the same
// float32; triples are comma-separated.
func (s Spec) Metadata() map[string]string {
	f := func(v float32) string { return strconv.FormatFloat(float64(v), 'g', -1, 32) }
	f3 := func(v [3]float32) string { return f(v[0]) + "," + f(v[1]) + "," + f(v[2]) }
	md := map[string]string{
		KeyHeight: strconv.Itoa(s.Height), KeyWidth: strconv.Itoa(s.Width),
		KeyResize: s.Resize.String(), KeyRGBInterp: s.RGBInterp.String(),
		KeyRGBScale: f(s.RGBScale), KeyMean: f3(s.Mean), KeyStd: f3(s.Std),
		KeyDepthEncoding: s.DepthEncoding.String(), KeyDepthChannels: strconv.Itoa(s.DepthChannels),
		KeyDepthScale: f(s.DepthScale), KeyDepthMean: f3(s.DepthMean), KeyDepthStd: f3(s.DepthStd),
		KeyDepthMin: f(s.DepthMin), KeyDepthMax: f(s.DepthMax), KeyInvalidDepth: f(s.InvalidDepth),
	}
	hha := s.HHA
	hha.Window = hha.window()
	if s.DepthEncoding == HHA || hha != DefaultSpec().HHA {
		md[KeyHHAWindow] = strconv.Itoa(hha.Window)
		md[KeyHHAFloor] = hha.Floor.String()
		md[KeyHHAHoles] = hha.Holes.String()
		md[KeyHHAOrder] = hha.Order.String()
		md[KeyHHAResolution] = hha.Resolution.String()
	}
	return md
}

// MetadataKeys lists every key SpecFromMetadata reads, those that may be
// missing included (for tools that edit a recipe by key).
func MetadataKeys() []string {
	return append(append([]string(nil), specKeys...), KeyHHAWindow, KeyHHAFloor, KeyHHAHoles, KeyHHAOrder, KeyHHAResolution)
}

// specKeys lists every key Spec.Metadata writes; SpecFromMetadata needs all.
var specKeys = []string{KeyHeight, KeyWidth, KeyResize, KeyRGBInterp, KeyRGBScale, KeyMean, KeyStd, KeyDepthEncoding,
	KeyDepthChannels, KeyDepthScale, KeyDepthMean, KeyDepthStd, KeyDepthMin, KeyDepthMax, KeyInvalidDepth}

// SpecFromMetadata reads a Spec from model metadata. Keys without the
// "preprocess." prefix are ignored. Every key Spec.Metadata writes is
// required, except the HHA conventions (see KeyHHAWindow): a model file that
// does not say how it was fed is refused, never fed a default. A malformed
// value or an unknown preprocess key is an error.
func SpecFromMetadata(md map[string]string) (Spec, error) {
	for _, k := range specKeys {
		if _, ok := md[k]; !ok {
			return Spec{}, fmt.Errorf("preprocess: model metadata has no %s", k)
		}
	}
	s := Spec{HHA: DefaultSpec().HHA}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report errors deterministically
	for _, k := range keys {
		if !strings.HasPrefix(k, "preprocess.") {
			continue
		}
		v := strings.TrimSpace(md[k])
		var err error
		switch k {
		case KeyHeight:
			s.Height, err = strconv.Atoi(v)
		case KeyWidth:
			s.Width, err = strconv.Atoi(v)
		case KeyDepthChannels:
			s.DepthChannels, err = strconv.Atoi(v)
		case KeyResize:
			err = parseEnum(resizeNames, v, &s.Resize)
		case KeyRGBInterp:
			err = parseEnum(interpNames, v, &s.RGBInterp)
		case KeyDepthEncoding:
			err = parseEnum(depthNames, v, &s.DepthEncoding)
		case KeyRGBScale:
			s.RGBScale, err = parseFloat(v)
		case KeyDepthScale:
			s.DepthScale, err = parseFloat(v)
		case KeyDepthMin:
			s.DepthMin, err = parseFloat(v)
		case KeyDepthMax:
			s.DepthMax, err = parseFloat(v)
		case KeyInvalidDepth:
			s.InvalidDepth, err = parseFloat(v)
		case KeyMean:
			s.Mean, err = parseTriple(v)
		case KeyStd:
			s.Std, err = parseTriple(v)
		case KeyDepthMean:
			s.DepthMean, err = parseTriple(v)
		case KeyDepthStd:
			s.DepthStd, err = parseTriple(v)
		case KeyHHAWindow:
			s.HHA.Window, err = strconv.Atoi(v)
		case KeyHHAFloor:
			err = parseEnum(floorNames, v, &s.HHA.Floor)
		case KeyHHAHoles:
			err = parseEnum(holesNames, v, &s.HHA.Holes)
		case KeyHHAOrder:
			err = parseEnum(orderNames, v, &s.HHA.Order)
		case KeyHHAResolution:
			err = parseEnum(hhaResolNames, v, &s.HHA.Resolution)
		default:
			err = fmt.Errorf("unknown key")
		}
		if err != nil {
			return Spec{}, fmt.Errorf("preprocess: model metadata %s=%q: %w", k, md[k], err)
		}
	}
	if err := s.Validate(); err != nil {
		return Spec{}, fmt.Errorf("model metadata: %w", err)
	}
	return s, nil
}

// parseEnum sets *dst to the index of v in names (case-insensitively).
func parseEnum[T ~int](names []string, v string, dst *T) error {
	for i, n := range names {
		if strings.EqualFold(n, v) {
			*dst = T(i)
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(names, ", "))
}

func parseFloat(v string) (float32, error) {
	f, err := strconv.ParseFloat(v, 32)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	return float32(f), nil
}

func parseTriple(v string) ([3]float32, error) {
	parts := strings.Split(v, ",")
	var t [3]float32
	if len(parts) != 3 {
		return t, fmt.Errorf("want three comma-separated numbers")
	}
	for i, p := range parts {
		f, err := parseFloat(strings.TrimSpace(p))
		if err != nil {
			return t, err
		}
		t[i] = f
	}
	return t, nil
}
