package main

import (
	"flag"
	"fmt"

	"github.com/cen-ros/cen/train"
)

// dataFlags are the flags that say how to read a data set folder, shared by cen train and cen eval --data so
// that both read a folder the same way.
type dataFlags struct {
	layout, root, trainList, valList, columns, palette, camera *string
	classes, void, labelOffset                                 *int
	depthScale                                                 *float64
	bitShift                                                   *bool
}

// addDataFlags registers the data set flags on fs. withTrain adds --train-list; depthScale is the flag of
// metres per depth count when the command registers its own (cen eval's also applies to bags).
func addDataFlags(fs *flag.FlagSet, withTrain bool, depthScale *float64) *dataFlags {
	d := &dataFlags{
		layout:      fs.String("dataset", "synthetic", "data set layout: nyudv2, sunrgbd, folder or synthetic"),
		root:        fs.String("data", "", "data set folder"),
		valList:     fs.String("val-list", "", "validation list file (default: the layout's)"),
		columns:     fs.String("columns", "", "folder: the list columns of rgb,labels,depth, e.g. 0,1,2 (default: the official 0,1,2 = rgb, masks, depth)"),
		classes:     fs.Int("classes", 0, "folder: number of classes (default: the palette's)"),
		palette:     fs.String("palette", "", "folder: palette file with the classes' colours and names"),
		void:        fs.Int("void", 0, "folder/sunrgbd: label value of pixels without a class (default 255)"),
		labelOffset: fs.Int("label-offset", 0, "folder/sunrgbd: added to every label (-1 for 1-based labels with 0 void)"),
		bitShift:    fs.Bool("depth-bit-shift", false, "folder/sunrgbd: depth PNGs as the SUN RGB-D toolbox writes them (millimetres rotated left by 3 bits)"),
		camera:      fs.String("camera", "", "calibration YAML of the data set's camera, for HHA (default: the NYU Kinect for nyudv2, DIR/camera.yaml for synthetic)"),
		depthScale:  depthScale,
	}
	if withTrain {
		d.trainList = fs.String("train-list", "", "training list file (default: the layout's)")
	}
	if d.depthScale == nil {
		d.depthScale = fs.Float64("depth-scale", 0, "folder: metres per depth PNG count (default 1/5000)")
	}
	return d
}

func (d *dataFlags) conf() (train.DataConf, error) {
	c := train.DataConf{Layout: *d.layout, Root: *d.root, ValList: *d.valList, Classes: *d.classes, Palette: *d.palette,
		DepthScale: *d.depthScale, DepthBitShift: *d.bitShift, Void: *d.void, LabelOffset: *d.labelOffset, Camera: *d.camera}
	if d.trainList != nil {
		c.TrainList = *d.trainList
	}
	if *d.columns != "" {
		v, err := ints(*d.columns, 3)
		if err != nil {
			return c, fmt.Errorf("--columns: %w", err)
		}
		c.Columns = train.Columns{RGB: v[0], Labels: v[1], Depth: v[2]}
	}
	return c, nil
}
