package synth

import (
	"fmt"
	"math"

	"github.com/cen-ros/cen/calibration"
	"github.com/cen-ros/cen/preprocess"
)

// Frame is one rendered RGB-D frame with its ground truth.
type Frame struct {
	// RGB is the colour image.
	RGB preprocess.RGBImage
	// Depth is the simulated sensor's depth in metres along the optical
	// axis, registered to RGB, 0 where the sensor has no reading. Values lie
	// on the depth PNG's grid (multiples of 1/DepthScale), so the written
	// file holds exactly this image.
	Depth preprocess.DepthImage
	// Labels holds a class id (index into ClassNames) per pixel, row-major,
	// or Void.
	Labels []uint8
	// Camera is the pinhole camera of both images: the 640×480 reference
	// (f = 577.3 px, 58° × 45°) scaled to the image size, no distortion.
	Camera calibration.Pinhole
	// Up is the unit vector opposite to gravity in the camera's optical
	// frame (x right, y down, z forward), as preprocess.EncodeHHA takes it.
	Up [3]float64
	// Pose is the camera's pose in the room.
	Pose Pose
}

// Pose places a camera in the room frame: metres, z up, the floor at z = 0.
type Pose struct {
	// Position is the optical centre; Position[2] is the camera's height
	// above the floor.
	Position [3]float64
	// Rotation maps optical-frame directions to the room frame, row-major:
	// its columns are the camera's x (right), y (down) and z (forward) axes.
	Rotation [9]float64
}

// Image sizes Render accepts.
const (
	MinSize = 32
	MaxSize = 4096
)

// Render renders frame index of the data set with the given seed at
// height × width pixels. The scene depends on seed and index only, so one
// frame rendered at two sizes shows the same view.
func Render(seed uint64, index int, height, width int) (*Frame, error) {
	if err := checkSize(height, width); err != nil {
		return nil, err
	}
	if index < 0 {
		return nil, fmt.Errorf("synth: frame index %d is negative", index)
	}
	return render(frameScene(seed, index), height, width, nil), nil
}

func checkSize(height, width int) error {
	if height < MinSize || width < MinSize || height > MaxSize || width > MaxSize {
		return fmt.Errorf("synth: image size %dx%d (height x width) is outside %dx%d..%dx%d", height, width, MinSize, MinSize, MaxSize, MaxSize)
	}
	return nil
}

// frameScene builds the scene of one frame from its own random stream.
func frameScene(seed uint64, index int) *scene {
	return newScene(newRNG(mix64(seed) ^ mix64(uint64(index)+goldenGamma)))
}

// referenceCamera is the camera at 640×480.
func referenceCamera() calibration.Pinhole {
	k := [9]float64{refFocal, 0, (refWidth - 1) / 2.0, 0, refFocal, (refHeight - 1) / 2.0, 0, 0, 1}
	// plumb_bob with zero coefficients, as ROS drivers publish an
	// undistorted camera.
	return calibration.Pinhole{Name: "synth_rgbd", Width: refWidth, Height: refHeight, K: k,
		Model: calibration.PlumbBob, D: make([]float64, 5),
		R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1},
		P: [12]float64{k[0], 0, k[2], 0, 0, k[4], k[5], 0, 0, 0, 1, 0}}
}

// Camera returns the camera of frames rendered at height × width.
func Camera(height, width int) calibration.Pinhole { return referenceCamera().Scaled(width, height) }

// truth is the noise-free result of ray casting, before the sensor models.
type truth struct {
	w, h   int
	z      []float64 // depth along the optical axis
	cosi   []float32 // |cos| of the angle between the ray and the surface normal
	ir     []float32 // infrared reflectance of the surface
	glass  []bool
	rad    []float32 // linear radiance, 3 per pixel
	labels []uint8
}

// bounds is an object's bounding rectangle in the image, inclusive.
type bounds struct{ u0, u1, v0, v1 int }

// render ray casts a scene and applies the sensor models. If keep is not nil
// it receives the ground truth (for tests).
func render(s *scene, height, width int, keep **truth) *Frame {
	cam := Camera(height, width)
	tr := castRays(s, cam)
	f := &Frame{
		RGB:    preprocess.NewRGBImage(width, height),
		Depth:  preprocess.DepthImage{Width: width, Height: height, Pix: make([]float32, width*height)},
		Labels: tr.labels,
		Camera: cam,
		Up:     [3]float64{s.cam.right.z, s.cam.down.z, s.cam.fwd.z},
	}
	c := &s.cam
	f.Pose.Position = [3]float64{c.pos.x, c.pos.y, c.pos.z}
	f.Pose.Rotation = [9]float64{c.right.x, c.down.x, c.fwd.x, c.right.y, c.down.y, c.fwd.y, c.right.z, c.down.z, c.fwd.z}
	senseDepth(s, cam, tr, f.Depth.Pix)
	exposeColour(s, cam, tr, f.RGB.Pix)
	voidBorder(f)
	if keep != nil {
		*keep = tr
	}
	return f
}

// voidBorder marks a thin frame around the image as without class and
// depth, like the border a registered depth image leaves.
func voidBorder(f *Frame) {
	w, h := f.Depth.Width, f.Depth.Height
	bw := max(1, w/160)
	for v := 0; v < h; v++ {
		for u := 0; u < w; u++ {
			if u < bw || v < bw || u >= w-bw || v >= h-bw {
				f.Labels[v*w+u] = Void
				f.Depth.Pix[v*w+u] = 0
			}
		}
	}
}

// objectBounds projects an axis-aligned box into the image. Boxes reaching
// behind the camera cover the whole image.
func objectBounds(c *camera, cam calibration.Pinhole, lo, hi vec) bounds {
	full := bounds{0, cam.Width - 1, 0, cam.Height - 1}
	u0, u1, v0, v1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i := 0; i < 8; i++ {
		p := lo
		if i&1 != 0 {
			p.x = hi.x
		}
		if i&2 != 0 {
			p.y = hi.y
		}
		if i&4 != 0 {
			p.z = hi.z
		}
		q := c.toCamera(p)
		if q.z < 0.05 {
			return full
		}
		u, v := cam.Fx()*q.x/q.z+cam.Cx(), cam.Fy()*q.y/q.z+cam.Cy()
		u0, u1, v0, v1 = math.Min(u0, u), math.Max(u1, u), math.Min(v0, v), math.Max(v1, v)
	}
	b := bounds{int(math.Floor(u0)) - 1, int(math.Ceil(u1)) + 1, int(math.Floor(v0)) - 1, int(math.Ceil(v1)) + 1}
	b.u0, b.v0 = max(b.u0, 0), max(b.v0, 0)
	b.u1, b.v1 = min(b.u1, cam.Width-1), min(b.v1, cam.Height-1)
	return b
}

// hit is the nearest surface along a ray.
type hit struct {
	t    float64
	kind int8 // 0 room, 1 box, 2 vase
	idx  int  // room face, box or vase index
	axis int  // box: face axis
}

func safeInv(v float64) float64 {
	if math.Abs(v) < 1e-12 {
		return math.Copysign(1e12, v)
	}
	return 1 / v
}

// castRays intersects each pixel's ray with the scene and shades the hit.
func castRays(s *scene, cam calibration.Pinhole) *truth {
	w, h := cam.Width, cam.Height
	n := w * h
	tr := &truth{w: w, h: h, z: make([]float64, n), cosi: make([]float32, n), ir: make([]float32, n),
		glass: make([]bool, n), rad: make([]float32, 3*n), labels: make([]uint8, n)}
	boxB := make([]bounds, len(s.boxes))
	for i := range s.boxes {
		boxB[i] = objectBounds(&s.cam, cam, s.boxes[i].lo, s.boxes[i].hi)
	}
	vaseB := make([]bounds, len(s.vases))
	for i, c := range s.vases {
		vaseB[i] = objectBounds(&s.cam, cam, vec{c.cx - c.r, c.cy - c.r, c.z0}, vec{c.cx + c.r, c.cy + c.r, c.z1})
	}
	xn := make([]float64, w)
	for u := range xn {
		xn[u] = (float64(u) - cam.Cx()) / cam.Fx()
	}
	o := s.cam.pos
	var rowBoxes, rowVases []int
	for v := 0; v < h; v++ {
		yn := (float64(v) - cam.Cy()) / cam.Fy()
		rowBoxes, rowVases = rowBoxes[:0], rowVases[:0]
		for i, b := range boxB {
			if v >= b.v0 && v <= b.v1 {
				rowBoxes = append(rowBoxes, i)
			}
		}
		for i, b := range vaseB {
			if v >= b.v0 && v <= b.v1 {
				rowVases = append(rowVases, i)
			}
		}
		for u := 0; u < w; u++ {
			d := s.cam.ray(xn[u], yn)
			var best hit
			best.t, best.idx = s.roomExit(o, d)
			if len(rowBoxes) > 0 {
				inv := vec{safeInv(d.x), safeInv(d.y), safeInv(d.z)}
				for _, i := range rowBoxes {
					if u < boxB[i].u0 || u > boxB[i].u1 {
						continue
					}
					if t, axis, ok := s.boxes[i].intersect(o, inv, best.t); ok {
						best = hit{t, 1, i, axis}
					}
				}
			}
			for _, i := range rowVases {
				if u < vaseB[i].u0 || u > vaseB[i].u1 {
					continue
				}
				if t, ok := s.vases[i].intersect(o, d, best.t); ok {
					best = hit{t: t, kind: 2, idx: i}
				}
			}
			s.shade(tr, v*w+u, o, d, &best)
		}
	}
	return tr
}

// intersect is the slab test for a ray from outside the box; axis is the axis
// of the face entered.
func (b *box) intersect(o, inv vec, tmax float64) (float64, int, bool) {
	t0, t1 := (b.lo.x-o.x)*inv.x, (b.hi.x-o.x)*inv.x
	if t0 > t1 {
		t0, t1 = t1, t0
	}
	near, far, axis := t0, t1, 0
	t0, t1 = (b.lo.y-o.y)*inv.y, (b.hi.y-o.y)*inv.y
	if t0 > t1 {
		t0, t1 = t1, t0
	}
	if t0 > near {
		near, axis = t0, 1
	}
	far = math.Min(far, t1)
	t0, t1 = (b.lo.z-o.z)*inv.z, (b.hi.z-o.z)*inv.z
	if t0 > t1 {
		t0, t1 = t1, t0
	}
	if t0 > near {
		near, axis = t0, 2
	}
	far = math.Min(far, t1)
	if near > far || near <= 0 || near >= tmax {
		return 0, 0, false
	}
	return near, axis, true
}

// intersect hits the side or the top of a vertical cylinder from outside.
func (c *cylinder) intersect(o, d vec, tmax float64) (float64, bool) {
	ox, oy := o.x-c.cx, o.y-c.cy
	a := d.x*d.x + d.y*d.y
	b := ox*d.x + oy*d.y
	cc := ox*ox + oy*oy - c.r*c.r
	disc := b*b - a*cc
	if disc < 0 || a == 0 {
		return 0, false
	}
	t := (-b - math.Sqrt(disc)) / a
	if t > 0 && t < tmax {
		if z := o.z + t*d.z; z >= c.z0 && z <= c.z1 {
			return t, true
		}
	}
	if o.z > c.z1 && d.z < 0 {
		t = (c.z1 - o.z) / d.z
		x, y := ox+t*d.x, oy+t*d.y
		if t < tmax && x*x+y*y <= c.r*c.r {
			return t, true
		}
	}
	return 0, false
}

// shade finds the class, material and normals at a hit and lights it.
func (s *scene) shade(tr *truth, i int, o, d vec, h *hit) {
	p := o.add(d.scale(h.t))
	var (
		n, ns vec // true and shading normal
		mat   *material
		cls   uint8
		tx    texel
	)
	switch h.kind {
	case 0:
		switch f := h.idx; {
		case f < 4:
			n, mat, cls = wallNormal(f), s.wall, clsWall
			sc := wallCoord(f, p)
			tx = texel{s: sc, t: p.z}
			for j := range s.decals[f] {
				dc := &s.decals[f][j]
				if sc >= dc.r.s0 && sc < dc.r.s1 && p.z >= dc.r.z0 && p.z < dc.r.z1 {
					mat, cls = dc.mat, dc.class
					tx = texel{s: sc, t: p.z, a: (sc - dc.r.s0) / (dc.r.s1 - dc.r.s0), b: (p.z - dc.r.z0) / (dc.r.z1 - dc.r.z0),
						w: dc.r.s1 - dc.r.s0, h: dc.r.z1 - dc.r.z0, face: faceFront}
					break
				}
			}
		case f == faceFloor:
			n, mat, cls = vec{0, 0, 1}, s.floor, clsFloor
			tx = texel{s: p.x, t: p.y}
			for j := range s.rugs {
				g := &s.rugs[j]
				if p.x >= g.r.s0 && p.x < g.r.s1 && p.y >= g.r.z0 && p.y < g.r.z1 {
					mat, cls = g.mat, g.class
					tx = topTexel(p, g.r)
					break
				}
			}
		default:
			n, mat, cls = vec{0, 0, -1}, s.ceiling, clsCeiling
			tx = texel{s: p.x, t: p.y}
		}
	case 1:
		b := &s.boxes[h.idx]
		mat, cls = b.mat, b.class
		n, tx = b.faceAt(p, d, h.axis)
		if b.shade != (vec{}) {
			ns = b.shade
		}
		if tx.face == faceSide && b.support >= 0 {
			// The surface behind continues over the sides, mapped as on
			// that surface.
			if b.support == faceFloor {
				mat, tx = s.floor, texel{s: p.x, t: p.y}
			} else {
				mat, tx = s.wall, texel{s: wallCoord(b.support, p), t: p.z}
			}
		}
	default:
		c := &s.vases[h.idx]
		mat, cls = c.mat, clsVase
		if p.z >= c.z1-1e-9 {
			n = vec{0, 0, 1}
		} else {
			n = vec{(p.x - c.cx) / c.r, (p.y - c.cy) / c.r, 0}
		}
		tx = texel{s: math.Atan2(p.y-c.cy, p.x-c.cx) * c.r, t: p.z}
	}
	if ns == (vec{}) {
		ns = n
	}
	alb, glass := mat.albedo(&tx)
	dl := d.norm()
	tr.z[i] = h.t
	tr.cosi[i] = float32(math.Abs(n.dot(d)) / dl)
	tr.ir[i] = float32(mat.ir)
	tr.glass[i] = glass
	tr.labels[i] = cls

	var rad vec
	if glass {
		rad = alb.scale(2.5) // daylight through the window, brighter than the room
	} else {
		l := s.light.sub(p)
		dist2 := l.dot(l)
		l = l.scale(1 / math.Sqrt(dist2))
		fall := s.power / (1 + dist2)
		e := s.ambient + fall*math.Max(0, ns.dot(l))
		rad = alb.scale(e).mul(s.tint)
		if mat.specular {
			hv := l.sub(d.scale(1 / dl)).unit()
			if c := n.dot(hv); c > 0 {
				c2 := c * c
				c4 := c2 * c2
				c8 := c4 * c4
				c32 := c8 * c8 * c8 * c8
				rad = rad.add(s.tint.scale(0.3 * fall * c32))
			}
		}
	}
	tr.rad[3*i], tr.rad[3*i+1], tr.rad[3*i+2] = float32(rad.x), float32(rad.y), float32(rad.z)
}

// topTexel is the texel of a point on a horizontal rectangle (s is x, z is y).
func topTexel(p vec, r rect) texel {
	return texel{s: p.x, t: p.y, a: (p.x - r.s0) / (r.s1 - r.s0), b: (p.y - r.z0) / (r.z1 - r.z0),
		w: r.s1 - r.s0, h: r.z1 - r.z0, face: faceTop}
}

// faceAt is the outward normal and texel of the face a ray entered on axis.
func (b *box) faceAt(p, d vec, axis int) (vec, texel) {
	var n vec
	var face int
	var tx texel
	switch axis {
	case 0:
		n, face = vec{-math.Copysign(1, d.x), 0, 0}, 0
		if d.x < 0 {
			face = 1
		}
		tx = texel{s: p.y, t: p.z, a: (p.y - b.lo.y) / (b.hi.y - b.lo.y), b: (p.z - b.lo.z) / (b.hi.z - b.lo.z),
			w: b.hi.y - b.lo.y, h: b.hi.z - b.lo.z}
	case 1:
		n, face = vec{0, -math.Copysign(1, d.y), 0}, 2
		if d.y < 0 {
			face = 3
		}
		tx = texel{s: p.x, t: p.z, a: (p.x - b.lo.x) / (b.hi.x - b.lo.x), b: (p.z - b.lo.z) / (b.hi.z - b.lo.z),
			w: b.hi.x - b.lo.x, h: b.hi.z - b.lo.z}
	default:
		n, face = vec{0, 0, -math.Copysign(1, d.z)}, 4
		if d.z < 0 {
			face = 5
		}
		tx = topTexel(p, rect{b.lo.x, b.hi.x, b.lo.y, b.hi.y})
	}
	switch {
	case face == b.front:
		tx.face = faceFront
	case face == 5 && b.class != clsPanel:
		tx.face = faceTop
	default:
		tx.face = faceSide
	}
	return n, tx
}
