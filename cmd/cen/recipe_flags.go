package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/preprocess"
)

// recipeFlags are the flags that set what a model file records about its classes and preprocessing.
type recipeFlags struct {
	dataset, names, palette, pre *string
}

func addRecipeFlags(fs *flag.FlagSet, dataset string) recipeFlags {
	return recipeFlags{
		dataset: fs.String("dataset", dataset, "training data set: nyudv2 or sunrgbd give their class names and palette; any other name is recorded as is"),
		names:   fs.String("class-names", "", "file with one class name per line, in label order"),
		palette: fs.String("palette", "", "palette file (R G B [name] per line, in label order)"),
		pre:     fs.String("preprocess", "", "preprocessing changes as key=value,... with the keys cen info prints (e.g. resize=letterbox,depth_encoding=hha,height=240,width=320)"),
	}
}

// classes returns the class set the flags give for a network of k classes; base is the model's current one
// (nil for a new model), kept unless a flag changes it.
func (f recipeFlags) classes(k int, base *preprocess.ClassSet) (preprocess.ClassSet, error) {
	var cs preprocess.ClassSet
	switch {
	case base != nil && *f.dataset == "":
		cs = *base
	default:
		if known, ok := preprocess.KnownClasses(*f.dataset); ok {
			if len(known.Names) != k && *f.names == "" {
				return cs, fmt.Errorf("--dataset %s has %d classes but the network has %d: give --class-names and --palette, or another --dataset", *f.dataset, len(known.Names), k)
			}
			cs = known
		}
		if len(cs.Names) != k {
			cs = preprocess.GenericClasses(*f.dataset, k)
		}
	}
	if *f.palette != "" {
		pal, names, err := preprocess.LoadPalette(*f.palette)
		if err != nil {
			return cs, err
		}
		if len(pal) != k {
			return cs, fmt.Errorf("%s has %d colours for a network of %d classes", *f.palette, len(pal), k)
		}
		cs.Palette = pal
		if names[0] != "" {
			cs.Names = names
		}
	}
	if *f.names != "" {
		names, err := readLines(*f.names)
		if err != nil {
			return cs, err
		}
		if len(names) != k {
			return cs, fmt.Errorf("%s names %d classes, the network has %d", *f.names, len(names), k)
		}
		cs.Names = names
	}
	return cs, nil
}

// spec applies --preprocess to base.
func (f recipeFlags) spec(base preprocess.Spec) (preprocess.Spec, error) {
	if *f.pre == "" {
		return base, nil
	}
	md := base.Metadata()
	for _, kv := range strings.Split(*f.pre, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return base, fmt.Errorf("--preprocess %q: want key=value", kv)
		}
		if !strings.HasPrefix(k, "preprocess.") {
			k = "preprocess." + k
		}
		if !slices.Contains(preprocess.MetadataKeys(), k) {
			var keys []string
			for _, k := range preprocess.MetadataKeys() {
				keys = append(keys, strings.TrimPrefix(k, "preprocess."))
			}
			sort.Strings(keys)
			return base, fmt.Errorf("--preprocess: unknown key %q (keys: %s)", strings.TrimPrefix(k, "preprocess."), strings.Join(keys, ", "))
		}
		md[k] = v
	}
	s, err := preprocess.SpecFromMetadata(md)
	if err != nil {
		return base, fmt.Errorf("--preprocess: %w", err)
	}
	return s, nil
}

// recipe builds the recipe of a network of k classes from the flags over base (a model's current recipe, or
// nil for the official recipe of a new model).
func (f recipeFlags) recipe(k int, base *cen.Recipe) (cen.Recipe, error) {
	spec := preprocess.DefaultSpec()
	var cs *preprocess.ClassSet
	if base != nil {
		s, err := preprocess.SpecFromMetadata(base.Preprocess)
		if err != nil {
			return cen.Recipe{}, err
		}
		spec = s
		cs = &preprocess.ClassSet{Dataset: base.Dataset, Names: base.ClassNames, Palette: base.Palette}
	}
	classes, err := f.classes(k, cs)
	if err != nil {
		return cen.Recipe{}, err
	}
	if spec, err = f.spec(spec); err != nil {
		return cen.Recipe{}, err
	}
	return cen.Recipe{ClassNames: classes.Names, Palette: classes.Palette, Dataset: classes.Dataset, Preprocess: spec.Metadata()}, nil
}

func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	return out, nil
}
