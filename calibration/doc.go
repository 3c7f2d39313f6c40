// Package calibration holds pinhole camera models and the geometry between
// cameras: intrinsics from sensor_msgs/CameraInfo fields or from ROS
// calibration YAML files (the camera_calibration_parsers format), point
// undistortion for the plumb_bob and rational_polynomial distortion models,
// and registration of a depth image into a colour camera, as
// depth_image_proc/register does.
//
// A CameraInfo describes the full-resolution camera; Pinhole.Reduced gives the
// camera of images published with binning or a region of interest, as
// image_geometry reads them, and Pinhole.Offset the camera's centre in its
// frame from P's Tx, Ty (the second camera of a stereo pair). Registration
// uses both, and fills upsampling holes from each depth pixel's projected
// corners; points at or behind the colour camera are dropped.
//
// Conventions follow ROS (REP 103 optical frames): x right, y down, z forward,
// pixel (0, 0) is the centre of the top-left pixel, depth is metres along z and
// 0 marks an invalid depth. The package does no ROS I/O; callers pass plain
// fields.
package calibration
