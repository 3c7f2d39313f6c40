package cen

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Version is the version of cen that writes model files; `make build` stamps it from `git describe` with
// -ldflags "-X github.com/cen-ros/cen/cen.Version=...". Binaries built otherwise (go test, go run) say "dev".
var Version = "dev"

// Recipe is what a model file records besides the network itself: how to feed it and how to read its output.
// It travels from the import or training run that made a model, through every checkpoint and the ONNX export,
// to the node, so that a node can never feed a model differently from the run that trained it.
type Recipe struct {
	// ClassNames names the classes in label order (one per class).
	ClassNames []string
	// Palette colours the classes (one [r, g, b] per class).
	Palette [][3]uint8
	// Dataset names the data set the model was trained on ("nyudv2", "sunrgbd", "synthetic", a folder's name,
	// ...); "" when unknown.
	Dataset string
	// Preprocess is the input preprocessing as metadata keys ("preprocess.height", ...): the output of
	// preprocess.Spec.Metadata, read back with preprocess.SpecFromMetadata.
	Preprocess map[string]string
	// Version is the cen version that wrote the file the recipe was read from ("" for a recipe not yet saved).
	Version string
}

// preprocessPrefix starts every preprocessing key of a recipe.
const preprocessPrefix = "preprocess."

// MetaVersion is the metadata key of the cen version that wrote a checkpoint (ONNX models use
// MetaExporterVersion).
const MetaVersion = "cen.version"

// Validate checks r against a network of cfg: one name and one colour per class, and a preprocessing spec.
// Whether the spec's values are usable is preprocess.SpecFromMetadata's to say.
func (r Recipe) Validate(cfg Config) error {
	if len(r.ClassNames) != cfg.Classes {
		return fmt.Errorf("recipe names %d classes, the network has %d", len(r.ClassNames), cfg.Classes)
	}
	for i, n := range r.ClassNames {
		if strings.TrimSpace(n) == "" {
			return fmt.Errorf("recipe: class %d has an empty name", i)
		}
	}
	if len(r.Palette) != cfg.Classes {
		return fmt.Errorf("recipe has %d palette colours, the network has %d classes", len(r.Palette), cfg.Classes)
	}
	if len(r.Preprocess) == 0 {
		return fmt.Errorf("recipe has no preprocessing spec")
	}
	for k := range r.Preprocess {
		if !strings.HasPrefix(k, preprocessPrefix) {
			return fmt.Errorf("recipe preprocessing key %q does not start with %q", k, preprocessPrefix)
		}
	}
	return nil
}

// Clone returns a deep copy of r.
func (r Recipe) Clone() Recipe {
	c := r
	c.ClassNames = append([]string(nil), r.ClassNames...)
	c.Palette = append([][3]uint8(nil), r.Palette...)
	c.Preprocess = make(map[string]string, len(r.Preprocess))
	for k, v := range r.Preprocess {
		c.Preprocess[k] = v
	}
	return c
}

// Recipe returns the network's recipe (a copy); its ClassNames is nil when none has been set.
func (m *Model) Recipe() Recipe { return m.recipe.Clone() }

// SetRecipe sets the recipe the network's files will carry, after checking it fits the network.
func (m *Model) SetRecipe(r Recipe) error {
	if err := r.Validate(m.cfg); err != nil {
		return err
	}
	m.recipe = r.Clone()
	return nil
}

// metadata returns r as model-file metadata: the cen.* keys shared with the ONNX metadata and the preprocess.*
// keys as they are.
func (r Recipe) metadata() map[string]string {
	md := map[string]string{}
	for k, v := range r.Preprocess {
		md[k] = v
	}
	md[MetaClassNames] = mustJSON(r.ClassNames)
	md[MetaPalette] = mustJSON(paletteInts(r.Palette))
	md[MetaDataset] = r.Dataset
	return md
}

// recipeFromMetadata reads a recipe from metadata written by Recipe.metadata. Every key is required: a model
// file that does not say how to feed the network is refused rather than fed a default.
func recipeFromMetadata(md map[string]string, classes int) (Recipe, error) {
	var r Recipe
	get := func(k string) (string, error) {
		v, ok := md[k]
		if !ok {
			return "", fmt.Errorf("metadata key %s is missing", k)
		}
		return v, nil
	}
	v, err := get(MetaClassNames)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(v), &r.ClassNames); err != nil {
		return r, fmt.Errorf("metadata %s is not a JSON list of names: %v", MetaClassNames, err)
	}
	if len(r.ClassNames) != classes {
		return r, fmt.Errorf("metadata %s has %d names for %d classes", MetaClassNames, len(r.ClassNames), classes)
	}
	if v, err = get(MetaPalette); err != nil {
		return r, err
	}
	if r.Palette, err = parsePalette(v, classes); err != nil {
		return r, err
	}
	if r.Dataset, err = get(MetaDataset); err != nil {
		return r, err
	}
	r.Preprocess = map[string]string{}
	for k, v := range md {
		if strings.HasPrefix(k, preprocessPrefix) {
			r.Preprocess[k] = v
		}
	}
	if len(r.Preprocess) == 0 {
		return r, fmt.Errorf("metadata has no preprocessing (%s* keys)", preprocessPrefix)
	}
	return r, nil
}

func parsePalette(v string, classes int) ([][3]uint8, error) {
	var pal [][3]int
	if err := json.Unmarshal([]byte(v), &pal); err != nil {
		return nil, fmt.Errorf("metadata %s is not a JSON list of [r, g, b]: %v", MetaPalette, err)
	}
	if len(pal) != classes {
		return nil, fmt.Errorf("metadata %s has %d colours for %d classes", MetaPalette, len(pal), classes)
	}
	out := make([][3]uint8, len(pal))
	for i, c := range pal {
		for j, x := range c {
			if x < 0 || x > 255 {
				return nil, fmt.Errorf("metadata %s: colour %d has component %d outside 0..255", MetaPalette, i, x)
			}
			out[i][j] = uint8(x)
		}
	}
	return out, nil
}

func paletteInts(p [][3]uint8) [][3]int {
	out := make([][3]int, len(p))
	for i, c := range p {
		out[i] = [3]int{int(c[0]), int(c[1]), int(c[2])}
	}
	return out
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("cen: " + err.Error()) // only plain slices of strings and numbers are marshalled
	}
	return string(b)
}
