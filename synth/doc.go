// Package synth renders procedural indoor RGB-D scenes and writes them as a
// data set in the layout of the NYUDv2 release CEN trained on. It is the
// project's built-in default data set: the training reproduction, the demo and
// the bag evaluation all use it, so nothing has to be downloaded.
//
// A frame is a box-shaped room (3–7.5 m by 3–7.5 m, 2.5–3.1 m high: floor,
// four walls, ceiling) with furniture, floor mats, wall fixtures and vases,
// seen by a pinhole camera 1.0–1.6 m above the floor, pitched down 0–25° and
// rolled by up to ±3°, with the field of view of a Kinect-class sensor
// (58° × 45°). The pose is chosen so that two or three walls and the floor are
// in view; the ceiling shows when the camera is nearly level. Each pixel's ray
// is intersected with the analytic geometry, which gives the class, the depth
// along the optical axis and the surface the colour is shaded from. The scene
// depends on the seed and the frame index only; the image size changes the
// sampling, not the scene.
//
// # Sensor models
//
// Depth is simulated as a structured-light sensor (baseline 7.5 cm, disparity
// in 1/8 pixel steps at the sensor's own 577 px focal length): noise is added
// in disparity and then quantised, so both the noise and the depth step grow
// with the square of the depth (2.9 mm at 1 m, 4.6 cm at 4 m). Depth is
// missing (0) outside 0.5–6 m and increasingly often past 5 m, where the
// projector's pattern is shadowed by a nearer surface (a band on the far side
// of every depth edge), at grazing angles, with some probability next to
// depth edges, on very dark surfaces and on window glass. Colour has a ceiling
// lamp and ambient light, auto exposure, vignetting, gamma and pixel noise.
//
// # Classes and the ambiguities they are built around
//
// ClassNames lists the 12 classes. Floor, wall, ceiling, window and vase are
// easy for either modality. The others come in pairs that only one modality
// can separate, so that an RGB-only and a depth-only network each confuse a
// different set of classes and only a fused network gets them all:
//
//   - poster / panel: same artwork generator (colours, blocks, frame), same
//     rectangle sizes and heights on the wall. A poster is flat on the wall; a
//     panel is a box standing out 5–15 cm whose sides are surfaced like the
//     wall around it, so in colour it has a poster's silhouette. Colour cannot
//     tell them apart, depth can.
//   - rug / platform: same carpet generator and footprint sizes. A rug is flat
//     on the floor; a platform is 8–20 cm high, its sides surfaced like the
//     floor. Colour cannot tell them apart, depth can.
//   - cabinet / crate: the same box geometry (sizes, placement against walls
//     or free-standing), told apart only by surface: wood or paint with door
//     lines and handles versus saturated plastic with slats. Depth cannot tell
//     them apart, colour can.
//   - door / wall, poster / wall, rug / floor: doors, posters and rugs lie in
//     the plane of the surface around them, so depth sees only wall or floor;
//     colour sees them.
//
// The pairs are kept honest in both directions. Where geometry alone must
// decide (poster/panel, rug/platform), the surfaces are shaded with the normal
// of the surface they rest on, so a panel's sides or a platform's edge are not
// given away by a change in brightness, and no cast shadows or ambient
// occlusion are rendered. Where appearance alone must decide, the depth
// sensor must not see appearance: depth noise ignores colour, the dark-surface
// dropout depends on a surface's base colour (not on its texture's lines and
// gaps) and applies only below a luminance that walls, doors, posters and
// carpets never reach, and cabinet and crate draw their luminance from one
// distribution, so their dark-surface holes have the same rate.
//
// So a depth-only network sees doors and posters as wall and rugs as floor
// and mixes up cabinets and crates; an RGB-only network mixes up posters with
// panels and rugs with platforms; ambiguity_test.go measures both.
//
// Masks use 255 (Void) for pixels without a class: a thin frame around the
// image, where the depth is also missing, as in a registered depth image.
//
// # Files
//
// WriteDataset writes rgb/NNNNNN.png (8-bit RGB), depth/NNNNNN.png (16-bit,
// metres × DepthScale, 0 invalid), masks/NNNNNN.png (8-bit class ids),
// train.txt and val.txt (tab-separated "rgb/…<TAB>masks/…<TAB>depth/…" lines,
// as in the official lists), PaletteFile (for preprocess.LoadPalette) and
// CameraFile (calibration YAML).
//
// # Determinism
//
// Every frame has its own random stream derived from the seed and its index,
// and per-pixel noise is a hash of the pixel position, so a frame does not
// depend on which goroutine renders it or in which order. The arithmetic is
// float64 throughout and every random draw is integer-based; the bytes are
// the same on any machine of one architecture and Go version. Architectures
// that fuse multiply-adds (arm64, ppc64le, s390x) round differently in the last
// bit, which changes a byte only where a value falls within that bit of a
// quantisation boundary.
package synth
