// Package preprocess turns camera images into the exact tensors a CEN model
// takes, and the model's output back into images at camera size. It is the one
// implementation shared by the ROS node, evaluation and training.
//
// The chain is:
//
//	sensor_msgs/Image bytes ─ DecodeRGB / DecodeDepth ──────────┐
//	sensor_msgs/CompressedImage ─ DecodeCompressedRGB/Depth ───┼─> RGBImage (8-bit RGB) + DepthImage (metres, 0 invalid)
//	data set files ─ LoadRGB / LoadDepthPNG ─────────────────────┘       │
//	                                     RegisterDepth (calibration) ────┤
//	                                                  Spec.Input ────────┴─> Input: float32 NCHW tensors + Geometry
//	network labels ─ ToCamera (Geometry) ─> labels at RGB size ─ Colorize, Overlay, EncodeLabels, EncodeConfidence
//
// Every source ends in the same two intermediate types before Spec.Input, so
// a frame from a topic and the same frame from a data set give bit-identical
// tensors. The parameters of Spec.Input travel in the model's metadata
// (Spec.Metadata, SpecFromMetadata).
//
// Depth follows REP 118: 16UC1 is millimetres with 0 invalid, 32FC1 is metres
// with NaN and ±Inf invalid. Inside this package depth is float32 metres and
// every invalid pixel is 0.
//
// GoCV (OpenCV) does the resizing and the image codecs; every Mat is closed
// before a function returns (tests run with -tags matprofile to check it).
package preprocess
