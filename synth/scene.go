package synth

import "math"

// The room frame: the floor is z = 0, z points up, the room spans
// [0, lx] × [0, ly] × [0, hc]. Walls are numbered 0: x = 0, 1: x = lx,
// 2: y = 0, 3: y = ly; a point on a wall has the coordinate s along it (y on
// walls 0 and 1, x on walls 2 and 3) and its height z.

// Room faces as roomExit reports them.
const (
	faceFloor   = 4
	faceCeiling = 5
)

// camera is a pose: the optical centre and the optical frame's axes in the
// room frame (x right, y down, z forward).
type camera struct {
	pos              vec
	right, down, fwd vec
}

func newCamera(pos vec, yaw, pitch, roll float64) camera {
	fwd := vec{math.Cos(yaw) * math.Cos(pitch), math.Sin(yaw) * math.Cos(pitch), -math.Sin(pitch)}
	right0 := fwd.cross(vec{0, 0, 1}).unit()
	down0 := fwd.cross(right0)
	c, s := math.Cos(roll), math.Sin(roll)
	return camera{pos: pos, fwd: fwd, right: right0.scale(c).add(down0.scale(s)), down: down0.scale(c).sub(right0.scale(s))}
}

// ray is the direction through normalised image coordinates (x/z, y/z); its
// parameter along the ray is the depth along the optical axis.
func (c *camera) ray(xn, yn float64) vec {
	return vec{c.right.x*xn + c.down.x*yn + c.fwd.x, c.right.y*xn + c.down.y*yn + c.fwd.y, c.right.z*xn + c.down.z*yn + c.fwd.z}
}

// toCamera maps a room point to the optical frame.
func (c *camera) toCamera(p vec) vec {
	q := p.sub(c.pos)
	return vec{q.dot(c.right), q.dot(c.down), q.dot(c.fwd)}
}

// rect is a rectangle on a wall (s0..s1 along it, z0..z1 high) or on the
// floor (s is x, z is y).
type rect struct{ s0, s1, z0, z1 float64 }

func (a rect) overlaps(b rect, gap float64) bool {
	return a.s0 < b.s1+gap && b.s0 < a.s1+gap && a.z0 < b.z1+gap && b.z0 < a.z1+gap
}

// decal is a flat item on a wall or the floor: it changes the surface's
// class and material, not its geometry.
type decal struct {
	class uint8
	r     rect
	mat   *material
}

// box is an axis-aligned solid: furniture, a platform, or a panel on a wall.
type box struct {
	lo, hi vec
	class  uint8
	mat    *material
	front  int // face index (0: -x, 1: +x, 2: -y, 3: +y) with the front decoration
	shade  vec // shading normal for every face; zero means the true normal
	// support is the room face the box stands on or hangs from whose
	// material its side faces take (0..3 a wall, faceFloor), or -1 for
	// sides in the box's own material. A panel's sides look like the wall
	// and a platform's like the floor, so in colour both have the silhouette
	// of a poster or a rug.
	support int
}

// cylinder is a vertical cylinder standing at z0: a vase.
type cylinder struct {
	cx, cy, r, z0, z1 float64
	mat               *material
}

// scene is one frame's room, contents, light and camera.
type scene struct {
	lx, ly, hc           float64
	wall, floor, ceiling *material
	decals               [4][]decal
	rugs                 []decal
	boxes                []box
	vases                []cylinder
	cam                  camera

	light          vec
	power, ambient float64
	tint           vec
	exposure       float64 // mean linear luminance the auto exposure aims for
	vignette       float64
	noise          float64 // colour noise, 8-bit levels
	seed           uint64  // pixel noise
}

// Field of view of the 640×480 reference camera: f = 577.3 px.
const (
	refFocal  = 577.3
	refWidth  = 640
	refHeight = 480
)

var (
	tanHalfH = (refWidth / 2) / refFocal
	tanHalfV = (refHeight / 2) / refFocal
)

// wallNormal is the inward normal of wall w.
func wallNormal(w int) vec {
	return [4]vec{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}}[w]
}

func (s *scene) wallLength(w int) float64 {
	if w < 2 {
		return s.ly
	}
	return s.lx
}

// roomExit intersects a ray from inside the room with its six faces.
func (s *scene) roomExit(o, d vec) (float64, int) {
	t, face := math.Inf(1), -1
	if d.x < 0 {
		t, face = -o.x/d.x, 0
	} else if d.x > 0 {
		t, face = (s.lx-o.x)/d.x, 1
	}
	if d.y < 0 {
		if tt := -o.y / d.y; tt < t {
			t, face = tt, 2
		}
	} else if d.y > 0 {
		if tt := (s.ly - o.y) / d.y; tt < t {
			t, face = tt, 3
		}
	}
	if d.z < 0 {
		if tt := -o.z / d.z; tt < t {
			t, face = tt, faceFloor
		}
	} else if d.z > 0 {
		if tt := (s.hc - o.z) / d.z; tt < t {
			t, face = tt, faceCeiling
		}
	}
	return t, face
}

// wallCoord is the coordinate along wall w of a point.
func wallCoord(w int, p vec) float64 {
	if w < 2 {
		return p.y
	}
	return p.x
}

// survey casts a coarse grid of rays at the empty room, to choose a pose that
// sees two or three walls and the floor, and to place items where the camera
// looks.
type survey struct {
	wallHits []wallHit
	floor    []vec
	walls    int
}

type wallHit struct {
	wall int
	s, z float64
}

func (s *scene) survey() survey {
	var v survey
	var seen [4]bool
	const nx, ny = 12, 9
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			xn := (2*float64(i)/(nx-1) - 1) * tanHalfH * 0.95
			yn := (2*float64(j)/(ny-1) - 1) * tanHalfV * 0.95
			d := s.cam.ray(xn, yn)
			t, face := s.roomExit(s.cam.pos, d)
			p := s.cam.pos.add(d.scale(t))
			switch {
			case face < 4:
				v.wallHits = append(v.wallHits, wallHit{face, wallCoord(face, p), p.z})
				if !seen[face] {
					seen[face] = true
					v.walls++
				}
			case face == faceFloor:
				v.floor = append(v.floor, p)
			}
		}
	}
	return v
}

// newScene builds the scene of one frame from its random stream.
func newScene(r *rng) *scene {
	s := &scene{seed: r.next()}
	s.lx, s.ly = r.uniform(3.0, 7.5), r.uniform(3.0, 7.5)
	s.hc = r.uniform(2.5, 3.1)
	var v survey
	for try := 0; try < 64; try++ {
		pos := vec{r.uniform(0.4, s.lx-0.4), r.uniform(0.4, s.ly-0.4), r.uniform(1.0, 1.6)}
		tx, ty := r.uniform(0.3, s.lx-0.3), r.uniform(0.3, s.ly-0.3)
		if math.Hypot(tx-pos.x, ty-pos.y) < 1.5 {
			continue
		}
		yaw := math.Atan2(ty-pos.y, tx-pos.x)
		pitch := r.uniform(0, 25) * math.Pi / 180
		roll := r.uniform(-3, 3) * math.Pi / 180
		s.cam = newCamera(pos, yaw, pitch, roll)
		v = s.survey()
		if v.walls >= 2 && v.walls <= 3 && len(v.floor) >= 10 {
			break
		}
	}
	if s.cam.fwd == (vec{}) { // every try was too close to its target: look along the room
		s.cam = newCamera(vec{0.5, 0.5, 1.3}, math.Atan2(s.ly, s.lx), 0.2, 0)
		v = s.survey()
	}
	s.wall, s.floor, s.ceiling = wallMaterial(r), floorMaterial(r), ceilingMaterial(r)

	var fl floorPlan
	s.placeWallItems(r, &v, &fl)
	s.placeFloorItems(r, &v, &fl)
	s.placeVases(r, &v, &fl)

	s.light = vec{r.uniform(0.25, 0.75) * s.lx, r.uniform(0.25, 0.75) * s.ly, s.hc - 0.05}
	s.power = r.uniform(3, 6)
	s.ambient = r.uniform(0.25, 0.5)
	if r.chance(0.6) {
		s.tint = vec{1, r.uniform(0.88, 0.98), r.uniform(0.7, 0.9)}
	} else {
		s.tint = vec{r.uniform(0.85, 0.95), r.uniform(0.92, 1), 1}
	}
	s.exposure = r.uniform(0.13, 0.22)
	s.vignette = r.uniform(0.1, 0.35)
	s.noise = r.uniform(1.5, 3.5)
	return s
}

// floorPlan is what is taken on the floor and on the walls.
type floorPlan struct {
	used    []rect    // floor footprints of mats and boxes
	keepOut []rect    // in front of doors
	onWall  [4][]rect // doors, windows, posters, panels
	panels  []int     // indices into boxes
}

// wallSpot picks a point on a wall, usually one the camera sees.
func (s *scene) wallSpot(r *rng, v *survey) (int, float64) {
	if len(v.wallHits) > 0 && r.chance(0.85) {
		h := v.wallHits[r.between(0, len(v.wallHits)-1)]
		return h.wall, h.s + r.uniform(-0.3, 0.3)
	}
	w := r.between(0, 3)
	return w, r.uniform(0, s.wallLength(w))
}

// floorSpot picks a point on the floor, usually one the camera sees.
func (s *scene) floorSpot(r *rng, v *survey) (float64, float64) {
	if len(v.floor) > 0 && r.chance(0.9) {
		p := v.floor[r.between(0, len(v.floor)-1)]
		return p.x + r.uniform(-0.3, 0.3), p.y + r.uniform(-0.3, 0.3)
	}
	return r.uniform(0, s.lx), r.uniform(0, s.ly)
}

// fitOnWall places a w × h rectangle with its bottom at z0 around a wall spot,
// if it fits beside what is already on the wall.
func (s *scene) fitOnWall(r *rng, v *survey, fl *floorPlan, w, h, z0 float64) (int, rect, bool) {
	for try := 0; try < 12; try++ {
		wall, sc := s.wallSpot(r, v)
		l := s.wallLength(wall)
		if w > l-0.2 {
			continue
		}
		s0 := math.Max(0.1, math.Min(sc-w/2, l-0.1-w))
		rc := rect{s0, s0 + w, z0, z0 + h}
		free := true
		for _, o := range fl.onWall[wall] {
			if rc.overlaps(o, 0.08) {
				free = false
				break
			}
		}
		if free {
			return wall, rc, true
		}
	}
	return 0, rect{}, false
}

func (s *scene) placeWallItems(r *rng, v *survey, fl *floorPlan) {
	if r.chance(0.65) {
		w, h := r.uniform(0.8, 1.0), math.Min(r.uniform(1.95, 2.1), s.hc-0.2)
		if wall, rc, ok := s.fitOnWall(r, v, fl, w, h, 0); ok {
			s.decals[wall] = append(s.decals[wall], decal{clsDoor, rc, doorMaterial(r)})
			fl.onWall[wall] = append(fl.onWall[wall], rc)
			fl.keepOut = append(fl.keepOut, floorRect(wall, rc.s0-0.1, rc.s1+0.1, 0.8, s))
		}
	}
	for n := r.between(0, 2); n > 0; n-- {
		w, h, z0 := r.uniform(0.8, 1.6), r.uniform(0.8, 1.3), r.uniform(0.7, 1.0)
		h = math.Min(h, s.hc-0.15-z0)
		if wall, rc, ok := s.fitOnWall(r, v, fl, w, h, z0); ok {
			s.decals[wall] = append(s.decals[wall], decal{clsWindow, rc, windowMaterial(r)})
			fl.onWall[wall] = append(fl.onWall[wall], rc)
		}
	}
	// Posters and panels: one size, height and material distribution; the
	// panel stands out from the wall.
	for n := r.between(2, 5); n > 0; n-- {
		panel := r.chance(0.5)
		w, h := r.uniform(0.35, 1.1), r.uniform(0.3, 0.9)
		z0 := math.Max(0.3, r.uniform(1.0, 1.8)-h/2)
		z0 = math.Min(z0, s.hc-0.1-h)
		depth := r.uniform(0.05, 0.15)
		mat := artMaterial(r)
		wall, rc, ok := s.fitOnWall(r, v, fl, w, h, z0)
		if !ok {
			continue
		}
		fl.onWall[wall] = append(fl.onWall[wall], rc)
		if !panel {
			s.decals[wall] = append(s.decals[wall], decal{clsPoster, rc, mat})
			continue
		}
		b := wallBox(wall, rc, depth, s)
		b.class, b.mat, b.front, b.shade, b.support = clsPanel, mat, wallFront(wall), wallNormal(wall), wall
		fl.panels = append(fl.panels, len(s.boxes))
		s.boxes = append(s.boxes, b)
	}
}

// wallFront is the face index of a box's face that looks away from wall w.
func wallFront(w int) int { return w ^ 1 }

// wallBox is the box of depth d standing out from wall w over rc.
func wallBox(w int, rc rect, d float64, s *scene) box {
	switch w {
	case 0:
		return box{lo: vec{0, rc.s0, rc.z0}, hi: vec{d, rc.s1, rc.z1}}
	case 1:
		return box{lo: vec{s.lx - d, rc.s0, rc.z0}, hi: vec{s.lx, rc.s1, rc.z1}}
	case 2:
		return box{lo: vec{rc.s0, 0, rc.z0}, hi: vec{rc.s1, d, rc.z1}}
	default:
		return box{lo: vec{rc.s0, s.ly - d, rc.z0}, hi: vec{rc.s1, s.ly, rc.z1}}
	}
}

// floorRect is the floor area within d of wall w between s0 and s1.
func floorRect(w int, s0, s1, d float64, s *scene) rect {
	b := wallBox(w, rect{s0, s1, 0, 1}, d, s)
	return rect{b.lo.x, b.hi.x, b.lo.y, b.hi.y}
}

// fitOnFloor checks a footprint against the room, the camera, doors and what
// is on the floor already.
func (s *scene) fitOnFloor(fl *floorPlan, f rect, camGap float64) bool {
	if f.s0 < 0 || f.z0 < 0 || f.s1 > s.lx || f.z1 > s.ly {
		return false
	}
	c := s.cam.pos
	if c.x > f.s0-camGap && c.x < f.s1+camGap && c.y > f.z0-camGap && c.y < f.z1+camGap {
		return false
	}
	for _, o := range fl.used {
		if f.overlaps(o, 0.06) {
			return false
		}
	}
	for _, o := range fl.keepOut {
		if f.overlaps(o, 0) {
			return false
		}
	}
	return true
}

func (s *scene) placeFloorItems(r *rng, v *survey, fl *floorPlan) {
	// Rugs and platforms: one footprint and material distribution; the
	// platform is raised.
	for n := r.between(1, 3); n > 0; n-- {
		platform := r.chance(0.5)
		w, d, h := r.uniform(0.8, 2.0), r.uniform(0.6, 1.6), r.uniform(0.08, 0.2)
		mat := carpetMaterial(r)
		for try := 0; try < 12; try++ {
			x, y := s.floorSpot(r, v)
			f := rect{x - w/2, x + w/2, y - d/2, y + d/2}
			if r.chance(0.5) {
				f = rect{x - d/2, x + d/2, y - w/2, y + w/2}
			}
			if !s.fitOnFloor(fl, f, 0.45) {
				continue
			}
			fl.used = append(fl.used, f)
			if platform {
				s.boxes = append(s.boxes, box{lo: vec{f.s0, f.z0, 0}, hi: vec{f.s1, f.z1, h}, class: clsPlatform,
					mat: mat, front: -1, shade: vec{0, 0, 1}, support: faceFloor})
			} else {
				s.rugs = append(s.rugs, decal{clsRug, f, mat})
			}
			break
		}
	}
	// Cabinets and crates: one geometry distribution, told apart by surface.
	for n := r.between(2, 5); n > 0; n-- {
		crate := r.chance(0.5)
		w, d, h := r.uniform(0.4, 1.2), r.uniform(0.35, 0.7), r.uniform(0.4, 1.2)
		var mat *material
		if crate {
			mat = crateMaterial(r)
		} else {
			mat = cabinetMaterial(r)
		}
		for try := 0; try < 12; try++ {
			var b box
			if r.chance(0.6) { // against a wall
				wall, sc := s.wallSpot(r, v)
				l := s.wallLength(wall)
				if w > l-0.1 {
					continue
				}
				s0 := math.Max(0.02, math.Min(sc-w/2, l-0.02-w))
				gap := r.uniform(0, 0.03)
				b = wallBox(wall, rect{s0, s0 + w, 0, h}, d+gap, s)
				switch wall {
				case 0:
					b.lo.x += gap
				case 1:
					b.hi.x -= gap
				case 2:
					b.lo.y += gap
				default:
					b.hi.y -= gap
				}
				b.front = wallFront(wall)
			} else {
				x, y := s.floorSpot(r, v)
				b.front = r.between(0, 3)
				if b.front < 2 {
					b.lo, b.hi = vec{x - d/2, y - w/2, 0}, vec{x + d/2, y + w/2, h}
				} else {
					b.lo, b.hi = vec{x - w/2, y - d/2, 0}, vec{x + w/2, y + d/2, h}
				}
			}
			f := rect{b.lo.x, b.hi.x, b.lo.y, b.hi.y}
			if !s.fitOnFloor(fl, f, 0.8) || s.hitsPanel(fl, b.lo, b.hi) {
				continue
			}
			fl.used = append(fl.used, f)
			b.class, b.mat, b.support = clsCabinet, mat, -1
			if crate {
				b.class = clsCrate
			}
			s.boxes = append(s.boxes, b)
			break
		}
	}
}

func (s *scene) hitsPanel(fl *floorPlan, lo, hi vec) bool {
	for _, i := range fl.panels {
		p := &s.boxes[i]
		if lo.x < p.hi.x+0.03 && p.lo.x < hi.x+0.03 && lo.y < p.hi.y+0.03 && p.lo.y < hi.y+0.03 &&
			lo.z < p.hi.z+0.03 && p.lo.z < hi.z+0.03 {
			return true
		}
	}
	return false
}

// placeVases stands vases on cabinets, crates, platforms and rugs (all four
// alike, so that carrying a vase says nothing about a mat's class) or on the
// floor.
func (s *scene) placeVases(r *rng, v *survey, fl *floorPlan) {
	type support struct {
		f rect
		z float64
	}
	var tops []support
	for _, b := range s.boxes {
		if b.class != clsPanel {
			tops = append(tops, support{rect{b.lo.x, b.hi.x, b.lo.y, b.hi.y}, b.hi.z})
		}
	}
	for _, g := range s.rugs {
		tops = append(tops, support{g.r, 0})
	}
	for n := r.between(1, 4); n > 0; n-- {
		rad, h := r.uniform(0.05, 0.13), r.uniform(0.15, 0.45)
		mat := vaseMaterial(r)
		for try := 0; try < 12; try++ {
			var x, y, z float64
			if len(tops) > 0 && r.chance(0.65) {
				t := tops[r.between(0, len(tops)-1)]
				m := rad + 0.02
				if t.f.s1-t.f.s0 < 2*m || t.f.z1-t.f.z0 < 2*m {
					continue
				}
				x, y, z = r.uniform(t.f.s0+m, t.f.s1-m), r.uniform(t.f.z0+m, t.f.z1-m), t.z
			} else {
				x, y = s.floorSpot(r, v)
				if !s.floorFree(fl, x, y, rad) {
					continue
				}
			}
			c := cylinder{x, y, rad, z, z + h, mat}
			if !s.vaseFits(fl, c) {
				continue
			}
			s.vases = append(s.vases, c)
			break
		}
	}
}

// floorFree reports whether a vase of radius rad at (x, y) stands on bare
// floor, clear of the walls, the camera, every box and every rug (vases reach
// rugs and platforms only as supports, with the same odds).
func (s *scene) floorFree(fl *floorPlan, x, y, rad float64) bool {
	if x < rad || y < rad || x > s.lx-rad || y > s.ly-rad || math.Hypot(x-s.cam.pos.x, y-s.cam.pos.y) < 0.5+rad {
		return false
	}
	for _, f := range fl.used {
		if x > f.s0-rad && x < f.s1+rad && y > f.z0-rad && y < f.z1+rad {
			return false
		}
	}
	return true
}

func (s *scene) vaseFits(fl *floorPlan, c cylinder) bool {
	for _, o := range s.vases {
		if math.Hypot(o.cx-c.cx, o.cy-c.cy) < o.r+c.r+0.02 && o.z0 == c.z0 {
			return false
		}
	}
	if c.z1 > s.hc-0.05 {
		return false
	}
	return !s.hitsPanel(fl, vec{c.cx - c.r, c.cy - c.r, c.z0}, vec{c.cx + c.r, c.cy + c.r, c.z1})
}
