package synth

import "github.com/cen-ros/cen/preprocess"

// Class ids, in label order (see ClassNames).
const (
	clsWall uint8 = iota
	clsFloor
	clsCeiling
	clsDoor
	clsWindow
	clsPoster
	clsPanel
	clsRug
	clsPlatform
	clsCabinet
	clsCrate
	clsVase
	numClasses
)

// Void is the mask value of pixels without a class (the ignore label of the
// NYUDv2 masks and of CEN's loss).
const Void uint8 = 255

// ClassNames names the classes in label order 0..11. The package comment
// explains which pairs each modality cannot separate.
var ClassNames = []string{
	"wall", "floor", "ceiling", "door", "window", "poster",
	"panel", "rug", "platform", "cabinet", "crate", "vase",
}

// Palette colours the classes of ClassNames for visualisation. Classes of one
// ambiguous pair get clearly different colours.
var Palette = preprocess.Palette{
	{168, 192, 224}, // wall: pale blue
	{128, 88, 60},   // floor: brown
	{228, 228, 216}, // ceiling: off-white
	{200, 40, 48},   // door: red
	{40, 196, 210},  // window: cyan
	{250, 140, 20},  // poster: orange
	{140, 90, 200},  // panel: violet
	{190, 190, 40},  // rug: olive
	{40, 150, 60},   // platform: green
	{30, 100, 190},  // cabinet: blue
	{236, 110, 190}, // crate: pink
	{255, 230, 60},  // vase: yellow
}
