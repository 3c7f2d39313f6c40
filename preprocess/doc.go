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
// # HHA
//
// HHA (EncodeHHA, Spec.DepthEncoding HHA) follows the reference encoding of
// Gupta et al. (ECCV 2014) as its Python port (Depth2HHA-python, the converter
// CMX-style RGB-D models are trained with) computes it; on the same depth the
// two agree to the rounding (test/fixtures/hha):
//
//   - Surface normals are least-squares planes through the valid pixels of a
//     square window around each pixel (HHAConf.Window, default 7×7), fitted
//     on inverse depth with box-filtered moments, so the cost per pixel does
//     not depend on the window.
//   - Gravity, unless View.Up gives it (an IMU, a known mount: a given up is
//     always used), is estimated from 21×21-window normals: starting from a
//     level camera, five refinements towards the direction that normals
//     within 45° of it or of its horizontal plane are parallel or
//     perpendicular to, then five within 15°. Normals of small windows on
//     sensor depth follow its disparity staircase (many point along the
//     optical axis) and pull such an estimate towards a level camera.
//   - Height is measured along up from the lowest point, angle is between
//     the normal and up, disparity is 31000 / max(cm, 100).
//
// HHAConf holds the conventions in which encodings differ; they are part of
// the recipe (Spec.HHA, the preprocess.hha_* metadata keys), so a node feeds
// a model the HHA it was trained on. The zero HHAConf is this package's
// encoding; ReferenceHHA gives the reference's: the floor fallback (130 cm
// below the camera when the lowest point is less than 90 cm below it),
// holes encoded as the reference encodes them instead of InvalidDepth, the
// channels in the order OpenCV-based loaders of HHA PNGs give (angle,
// height, disparity), and HHA computed at the sensor's resolution, then
// resized like an image. Two differences remain by design: the reference
// counts pixels from 1, so pass it K with cx + 1 and cy + 1 to compare (or
// take K of a 1-based calibration, such as the NYU toolbox's, minus 1 for
// this package); and where a hole's window holds only collinear valid pixels
// (beside a shadow band) no plane is fixed, which the reference fills with
// rounding noise and this package with the no-normal angle (180°).
//
// GoCV (OpenCV) does the resizing and the image codecs; every Mat is closed
// before a function returns (tests run with -tags matprofile to check it).
package preprocess
