package preprocess

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Palette gives the RGB colour of each class index.
type Palette [][3]uint8

// VOCPalette returns the first n colours of the PASCAL VOC colour map, whose
// colour i spreads the bits of i over the high bits of R, G and B.
func VOCPalette(n int) Palette {
	p := make(Palette, n)
	for i := range p {
		var c [3]uint8
		for id, shift := i, 7; id > 0 && shift >= 0; id, shift = id>>3, shift-1 {
			for ch := 0; ch < 3; ch++ {
				c[ch] |= uint8((id>>ch)&1) << shift
			}
		}
		p[i] = c
	}
	return p
}

// PaletteNYUDv2 colours the 40 NYUDv2 classes (ClassesNYUDv2). Class k takes
// VOC colour k+1, so no class is black: black is left for unknown pixels,
// as in CEN's visualiser.
var PaletteNYUDv2 = VOCPalette(41)[1:]

// PaletteSUNRGBD colours the 37 SUN RGB-D classes (ClassesSUNRGBD), as
// PaletteNYUDv2 does.
var PaletteSUNRGBD = VOCPalette(38)[1:]

// ClassesNYUDv2 names the 40 classes of NYUDv2 (Gupta et al. 2013), in label
// order 0..39.
var ClassesNYUDv2 = []string{
	"wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
	"picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor mat",
	"clothes", "ceiling", "books", "refrigerator", "television", "paper", "towel", "shower curtain", "box", "whiteboard",
	"person", "night stand", "toilet", "sink", "lamp", "bathtub", "bag", "otherstructure", "otherfurniture", "otherprop",
}

// ClassesSUNRGBD names the 37 classes of SUN RGB-D, in label order 0..36.
var ClassesSUNRGBD = []string{
	"wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
	"picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor mat",
	"clothes", "ceiling", "books", "fridge", "tv", "paper", "towel", "shower curtain", "box", "whiteboard",
	"person", "night stand", "toilet", "sink", "lamp", "bathtub", "bag",
}

// ClassSet is the class names and palette of a data set: the one place that says what a data set's labels
// mean. Model files carry the set they were trained with (cen.Recipe), so nothing downstream guesses a set
// from a class count.
type ClassSet struct {
	// Dataset is the data set's name ("nyudv2", ...).
	Dataset string
	// Names and Palette give each class's name and colour, in label order.
	Names   []string
	Palette Palette
}

// KnownClasses returns the class set of a data set cen ships: "nyudv2" (the 40 classes of the paper's NYUDv2
// release) or "sunrgbd" (the common 37-class SUN RGB-D release). The name is matched without regard to case.
func KnownClasses(dataset string) (ClassSet, bool) {
	switch strings.ToLower(dataset) {
	case "nyudv2":
		return ClassSet{Dataset: "nyudv2", Names: ClassesNYUDv2, Palette: PaletteNYUDv2}, true
	case "sunrgbd":
		return ClassSet{Dataset: "sunrgbd", Names: ClassesSUNRGBD, Palette: PaletteSUNRGBD}, true
	}
	return ClassSet{}, false
}

// GenericClasses returns a class set for a data set cen does not know: names "class_0", "class_1", ... and the
// PASCAL VOC colours from 1 on (black stays free for unknown pixels).
func GenericClasses(dataset string, classes int) ClassSet {
	names := make([]string, classes)
	for i := range names {
		names[i] = "class_" + strconv.Itoa(i)
	}
	return ClassSet{Dataset: dataset, Names: names, Palette: VOCPalette(classes + 1)[1:]}
}

// LoadPalette reads a palette file: one class per line, in label order, as
// three decimal numbers 0..255 (R G B, separated by spaces, tabs or commas)
// optionally followed by the class name. Empty lines and lines starting with
// '#' are skipped. It returns the colours and the names ("" where a line has
// none).
func LoadPalette(path string) (Palette, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("preprocess: %w", err)
	}
	defer f.Close()
	var p Palette
	var names []string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.FieldsFunc(text, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
		if len(fields) < 3 {
			return nil, nil, fmt.Errorf("preprocess: %s:%d: want \"R G B [name]\", got %q", path, line, text)
		}
		var c [3]uint8
		for i := 0; i < 3; i++ {
			v, err := strconv.ParseUint(fields[i], 10, 8)
			if err != nil {
				return nil, nil, fmt.Errorf("preprocess: %s:%d: colour component %q is not 0..255", path, line, fields[i])
			}
			c[i] = uint8(v)
		}
		p = append(p, c)
		names = append(names, strings.Join(fields[3:], " "))
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("preprocess: %s: %w", path, err)
	}
	if len(p) == 0 {
		return nil, nil, fmt.Errorf("preprocess: %s has no colours", path)
	}
	return p, names, nil
}
