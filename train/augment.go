// Training-time augmentation: the official recipe (SS/main.py's transform list, SS/utils/transforms.py) made
// deterministic, so that a sample's augmentation depends on (seed, epoch, sample index) only and never on
// which worker draws it or when.

package train

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/cen-ros/cen/preprocess"
)

// Augmentation modes (Augment.Mode).
const (
	// AugmentOfficial is the official recipe: ResizeAndScale, Pad, RandomMirror, RandomCrop.
	AugmentOfficial = "official"
	// AugmentNone leaves samples as they are; the spec's resize fits them to its input size.
	AugmentNone = "none"
)

// Official augmentation parameters (config.py and main.py of the reference code).
const (
	OfficialCrop     = 500 // RandomCrop(500) after Pad(500)
	OfficialMinSide  = 350 // ResizeAndScale(350, ...): the shorter side is at least 350 after scaling
	OfficialMinScale = 0.5
	OfficialMaxScale = 2.0
	OfficialFlipProb = 0.5 // RandomMirror: np.random.randint(2)
)

// OfficialRGBPad is the RGB padding of the official Pad transform, in 8-bit samples.
//
// The official code pads every input with img_val = (123.675, 116.28, 103.53), ImageNet's mean × 255, one
// value per channel, through np.pad(..., constant_values=img_val[c]). np.pad writes into an array of the
// input's dtype, so the values are cast, truncating toward zero:
//
//   - RGB is PIL's uint8 array, so it is padded with (123, 116, 103), a grey a little below the mean; after
//     normalisation that is (−0.012, −0.005, −0.009), not 0. RGBImage is 8-bit too, so the default pads with
//     exactly those bytes.
//   - Depth is PIL's array of the 16-bit PNG (integer counts, metres × 5000, tiled to 3 channels), padded
//     with 123, 116 and 103 counts per channel before Normalise divides by 5000: the network sees 2.46,
//     2.32 and 2.06 cm in its three depth channels where the frame was padded. That is the RGB mean reused
//     for depth (the reference notes call it a known issue), not a measurement: no RGB-D sensor reports
//     2 cm. cen keeps depth in metres with 0 for "no measurement", one channel broadened only by
//     preprocess.Spec.InputTo, so three different pad values cannot be represented, and a fake surface 2 cm
//     in front of the camera would be read as real geometry by HHA and by DepthMin/DepthMax. So the default
//     pads depth with 0, invalid depth, which Spec.InputTo turns into InvalidDepth (0 by default), as
//     letterbox padding is. The difference from the official input is at most 0.025 in network units, on
//     pixels whose labels are void anyway. Augment.DepthPad sets another value (e.g. 123/5000 = 0.0246 m to
//     match the official first depth channel).
//
// Labels are padded with the ignore label, as the official masks are with 255.
var OfficialRGBPad = [3]uint8{123, 116, 103}

// Augment configures the augmentation of training samples. Zero fields take the official values.
type Augment struct {
	// Mode is AugmentOfficial (default when empty) or AugmentNone.
	Mode string
	// CropHeight and CropWidth are the size of the random crop, which is the training input size
	// (default OfficialCrop). Images smaller than the crop are padded to it first.
	CropHeight, CropWidth int
	// MinSide is the least length of the shorter side after scaling (default OfficialMinSide).
	MinSide int
	// MinScale and MaxScale bound the uniform scale factor (defaults OfficialMinScale, OfficialMaxScale).
	MinScale, MaxScale float64
	// FlipProb is the probability of a horizontal flip (default OfficialFlipProb); NoFlip never flips.
	FlipProb float64
	NoFlip   bool
	// RGBInterp resizes RGB (default preprocess.Bicubic, the official cv2.INTER_CUBIC). Depth and labels
	// are always resized with nearest neighbour.
	RGBInterp preprocess.Interp
	// RGBPad pads RGB (zero means OfficialRGBPad).
	RGBPad [3]uint8
	// DepthPad pads depth, in metres (default 0: invalid; see OfficialRGBPad for why).
	DepthPad float32
}

// withDefaults fills in the official values and checks the result.
func (a Augment) withDefaults() (Augment, error) {
	if a.Mode == "" {
		a.Mode = AugmentOfficial
	}
	if a.Mode != AugmentOfficial && a.Mode != AugmentNone {
		return a, fmt.Errorf("train: augmentation mode %q is not %s or %s", a.Mode, AugmentOfficial, AugmentNone)
	}
	if a.CropHeight == 0 {
		a.CropHeight = OfficialCrop
	}
	if a.CropWidth == 0 {
		a.CropWidth = OfficialCrop
	}
	if a.MinSide == 0 {
		a.MinSide = OfficialMinSide
	}
	if a.MinScale == 0 {
		a.MinScale = OfficialMinScale
	}
	if a.MaxScale == 0 {
		a.MaxScale = OfficialMaxScale
	}
	if a.FlipProb == 0 {
		a.FlipProb = OfficialFlipProb
	}
	if a.RGBPad == ([3]uint8{}) {
		a.RGBPad = OfficialRGBPad
	}
	switch {
	case a.CropHeight < 1 || a.CropWidth < 1 || a.CropHeight > 8192 || a.CropWidth > 8192:
		return a, fmt.Errorf("train: crop size %dx%d is outside 1..8192", a.CropWidth, a.CropHeight)
	case a.MinSide < 1 || a.MinSide > 8192:
		return a, fmt.Errorf("train: shorter side %d is outside 1..8192", a.MinSide)
	case !(a.MinScale > 0) || !(a.MaxScale >= a.MinScale) || a.MaxScale > 16:
		return a, fmt.Errorf("train: scale range [%g, %g] must be positive, in order and at most 16", a.MinScale, a.MaxScale)
	case !(a.FlipProb > 0 && a.FlipProb <= 1):
		return a, fmt.Errorf("train: flip probability %g is outside (0, 1]; use NoFlip for none", a.FlipProb)
	case a.RGBInterp != preprocess.Bicubic && a.RGBInterp != preprocess.Bilinear:
		return a, fmt.Errorf("train: RGB interpolation %d is not bicubic or bilinear", int(a.RGBInterp))
	case math.IsNaN(float64(a.DepthPad)) || math.IsInf(float64(a.DepthPad), 0) || a.DepthPad < 0:
		return a, fmt.Errorf("train: depth padding %g m is not a depth", a.DepthPad)
	}
	return a, nil
}

// InputSize returns the training input size: the crop for the official mode, the spec's size for none.
func (a Augment) InputSize(spec preprocess.Spec) (height, width int, err error) {
	a, err = a.withDefaults()
	if err != nil {
		return 0, 0, err
	}
	if a.Mode == AugmentNone {
		return spec.Height, spec.Width, nil
	}
	return a.CropHeight, a.CropWidth, nil
}

// Transform is one drawn augmentation: resize to Width×Height, pad by PadX columns left and right and PadY
// rows top and bottom, mirror if Flip, and crop CropWidth×CropHeight at (X, Y) of the padded, mirrored
// image.
type Transform struct {
	// SrcWidth and SrcHeight are the sample's size.
	SrcWidth, SrcHeight int
	// Scale is the drawn scale after the shorter-side rule.
	Scale float64
	// Width and Height are the resized size: the source size × Scale rounded to nearest, as cv2.resize
	// with fx = fy = Scale computes it. The images are resized to exactly this size, so the sampling grid
	// is Width/SrcWidth rather than cv2's Scale: the two grids part by at most half a resized pixel, at the
	// far edge. (Depth and labels then follow LabelsToNet's nearest rule exactly.)
	Width, Height int
	// PadX and PadY are the padding on each side: ⌈(crop − size)/2⌉ when positive, as the official Pad.
	PadX, PadY int
	// Flip mirrors the padded image left to right.
	Flip bool
	// X and Y are the top-left corner of the crop in the padded, mirrored image.
	X, Y int
	// CropWidth and CropHeight are the output size.
	CropWidth, CropHeight int

	// RGBInterp, RGBPad and DepthPad are the Augment's.
	RGBInterp preprocess.Interp
	RGBPad    [3]uint8
	DepthPad  float32
}

// Draw returns the augmentation of a width×height sample for (seed, epoch, index): the same arguments give
// the same Transform on every run and machine. The draws come in the official order: scale, mirror, crop
// top, crop left. Mode none returns the identity at the sample's size.
func (a Augment) Draw(width, height int, seed uint64, epoch, index int) (Transform, error) {
	a, err := a.withDefaults()
	if err != nil {
		return Transform{}, err
	}
	if width < 1 || height < 1 {
		return Transform{}, fmt.Errorf("train: cannot augment a %dx%d image", width, height)
	}
	t := Transform{SrcWidth: width, SrcHeight: height, Scale: 1, Width: width, Height: height,
		CropWidth: width, CropHeight: height, RGBInterp: a.RGBInterp, RGBPad: a.RGBPad, DepthPad: a.DepthPad}
	if a.Mode == AugmentNone {
		return t, nil
	}
	r := newRNG(domainAugment, seed, uint64(epoch), uint64(index))
	t.Scale = a.MinScale + (a.MaxScale-a.MinScale)*r.float()
	if short := float64(min(width, height)); short*t.Scale < float64(a.MinSide) {
		t.Scale = float64(a.MinSide) / short
	}
	// cv2.resize rounds the size with cvRound (to nearest, ties to even).
	t.Width = max(1, int(math.RoundToEven(float64(width)*t.Scale)))
	t.Height = max(1, int(math.RoundToEven(float64(height)*t.Scale)))
	if t.Width > 32768 || t.Height > 32768 {
		return Transform{}, fmt.Errorf("train: scaling a %dx%d image by %g makes it larger than 32768 pixels a side", width, height, t.Scale)
	}
	t.CropWidth, t.CropHeight = a.CropWidth, a.CropHeight
	t.PadX = max(0, (t.CropWidth-t.Width+1)/2)
	t.PadY = max(0, (t.CropHeight-t.Height+1)/2)
	t.Flip = !a.NoFlip && r.float() < a.FlipProb
	t.Y = r.intn(t.Height + 2*t.PadY - t.CropHeight + 1)
	t.X = r.intn(t.Width + 2*t.PadX - t.CropWidth + 1)
	return t, nil
}

// Apply augments s for (seed, epoch, index); ignore pads the labels. Mode none returns s itself.
func (a Augment) Apply(s Sample, ignore uint16, seed uint64, epoch, index int) (Sample, error) {
	t, err := a.Draw(s.RGB.Width, s.RGB.Height, seed, epoch, index)
	if err != nil {
		return Sample{}, err
	}
	if a.Mode == AugmentNone {
		return s, nil
	}
	return t.Apply(s, ignore)
}

// Apply transforms s: RGB resized with t.RGBInterp, depth and labels with nearest neighbour
// (preprocess.ResizeRGB, ResizeDepth, ResizeLabels), then padded with t.RGBPad, t.DepthPad and ignore,
// mirrored and cropped. The camera, if any, follows the image: scaled, shifted by the padding and the crop,
// and mirrored (the principal point reflected, skew negated; a mirrored view of a scene is the view of its
// mirror image, so HHA stays meaningful; the up vector's x flips with it).
func (t Transform) Apply(s Sample, ignore uint16) (Sample, error) {
	if s.RGB.Width != t.SrcWidth || s.RGB.Height != t.SrcHeight {
		return Sample{}, fmt.Errorf("train: sample %s is %dx%d, the transform is for %dx%d", s.Name, s.RGB.Width, s.RGB.Height, t.SrcWidth, t.SrcHeight)
	}
	if s.Depth.Width != s.RGB.Width || s.Depth.Height != s.RGB.Height || len(s.Labels) != s.RGB.Width*s.RGB.Height {
		return Sample{}, fmt.Errorf("train: sample %s has depth %dx%d and %d labels for a %dx%d RGB image", s.Name, s.Depth.Width, s.Depth.Height, len(s.Labels), s.RGB.Width, s.RGB.Height)
	}
	rgb, err := preprocess.ResizeRGB(s.RGB, t.Width, t.Height, t.RGBInterp)
	if err != nil {
		return Sample{}, fmt.Errorf("train: sample %s: %w", s.Name, err)
	}
	depth, err := preprocess.ResizeDepth(s.Depth, t.Width, t.Height)
	if err != nil {
		return Sample{}, fmt.Errorf("train: sample %s: %w", s.Name, err)
	}
	labels, err := preprocess.ResizeLabels(s.Labels, s.RGB.Width, s.RGB.Height, t.Width, t.Height)
	if err != nil {
		return Sample{}, fmt.Errorf("train: sample %s: %w", s.Name, err)
	}
	cw, ch := t.CropWidth, t.CropHeight
	out := Sample{Name: s.Name,
		RGB:    preprocess.NewRGBImage(cw, ch),
		Depth:  preprocess.DepthImage{Width: cw, Height: ch, Pix: make([]float32, cw*ch)},
		Labels: make([]uint16, cw*ch)}
	// The source column of each output column, −1 for padding; rows alike.
	xs := make([]int, cw)
	for x := range xs {
		px := t.X + x
		if t.Flip {
			px = t.Width + 2*t.PadX - 1 - px
		}
		if xs[x] = px - t.PadX; xs[x] >= t.Width {
			xs[x] = -1
		}
	}
	for y := 0; y < ch; y++ {
		ry := t.Y + y - t.PadY
		o := y * cw
		orgb := out.RGB.Pix[3*o : 3*(o+cw)]
		odepth, olabels := out.Depth.Pix[o:o+cw], out.Labels[o:o+cw]
		if ry < 0 || ry >= t.Height {
			for x := range cw {
				orgb[3*x], orgb[3*x+1], orgb[3*x+2] = t.RGBPad[0], t.RGBPad[1], t.RGBPad[2]
				odepth[x], olabels[x] = t.DepthPad, ignore
			}
			continue
		}
		r := ry * t.Width
		for x, rx := range xs {
			if rx < 0 {
				orgb[3*x], orgb[3*x+1], orgb[3*x+2] = t.RGBPad[0], t.RGBPad[1], t.RGBPad[2]
				odepth[x], olabels[x] = t.DepthPad, ignore
				continue
			}
			copy(orgb[3*x:3*x+3], rgb.Pix[3*(r+rx):3*(r+rx)+3])
			odepth[x], olabels[x] = depth.Pix[r+rx], labels[r+rx]
		}
	}
	if s.View != nil {
		v := t.view(*s.View)
		out.View = &v
	}
	return out, nil
}

// view returns the camera of the transformed image.
func (t Transform) view(v preprocess.View) preprocess.View {
	c := v.Camera.Scaled(t.Width, t.Height)
	c.Width, c.Height = t.CropWidth, t.CropHeight
	dx, dy := float64(t.PadX), float64(t.PadY-t.Y)
	c.K[5] += dy
	c.P[6] += dy
	if t.Flip {
		last := float64(t.Width + 2*t.PadX - 1)
		c.K[2] = last - (c.K[2] + dx)
		c.P[2] = last - (c.P[2] + dx)
		c.K[1], c.P[1], c.P[3] = -c.K[1], -c.P[1], -c.P[3]
		v.Up[0] = -v.Up[0]
	} else {
		c.K[2] += dx
		c.P[2] += dx
	}
	c.K[2] -= float64(t.X)
	c.P[2] -= float64(t.X)
	v.Camera = c
	return v
}

// Random streams. Each is a counter hashed with the splitmix64 finaliser, keyed by a domain and the values
// it depends on, so draws never depend on goroutines or on the order samples are processed in.
const (
	domainAugment = 0x6175676d656e7421 // "augment!"
	domainShuffle = 0x73687566666c6521 // "shuffle!"
)

type rng struct{ s uint64 }

func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func newRNG(keys ...uint64) *rng {
	s := uint64(0x636f6e7374616e74)
	for _, k := range keys {
		s = mix64(s ^ k)
	}
	return &rng{s: s}
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) * (1.0 / (1 << 53)) }

// intn returns a uniform integer in [0, n), n ≥ 1 (bias below n/2⁶⁴).
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}
