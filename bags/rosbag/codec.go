package rosbag

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
)

// DataMode says whether a decoded message's byte array shares memory with the serialized input.
type DataMode int

const (
	// AliasData makes the Data field a view of the input: no copy, valid while the input is (for a bag
	// message, until the iterator's next Next).
	AliasData DataMode = iota
	// CopyData copies the Data field into a new slice. (It does not reuse the destination's Data: that
	// may be a view left by an AliasData decode, of a read-only mapping.)
	CopyData
)

// These codecs are the ROS serialization (little-endian, strings and arrays prefixed by a uint32 length)
// of three message types written out by hand: goroslib's reflection codec costs an allocation and an
// interface conversion per field. Times follow goroslib's convention: 0.0 is the zero time.Time, other
// stamps are UTC; seconds are read unsigned, as ROS defines them.

// DecodeImage decodes a serialized sensor_msgs/Image (a bag message's Data, no length prefix) into m.
// Strings are reused when unchanged, so steady-state decoding with AliasData allocates nothing. On error
// m is partly overwritten. The decoders below behave alike.
func DecodeImage(m *sensor_msgs.Image, data []byte, mode DataMode) error {
	d := decoder{b: data, typ: ImageType.Type}
	d.header(&m.Header)
	m.Height = d.u32("height")
	m.Width = d.u32("width")
	m.Encoding = d.str("encoding", m.Encoding)
	m.IsBigendian = d.u8("is_bigendian")
	m.Step = d.u32("step")
	m.Data = d.bytes("data", m.Data, mode)
	return d.end()
}

// AppendImage appends the serialization of m to b.
func AppendImage(b []byte, m *sensor_msgs.Image) []byte {
	b = slices.Grow(b, headerSize(&m.Header)+4*5+1+len(m.Encoding)+len(m.Data))
	b = appendHeader(b, &m.Header)
	b = binary.LittleEndian.AppendUint32(b, m.Height)
	b = binary.LittleEndian.AppendUint32(b, m.Width)
	b = appendString(b, m.Encoding)
	b = append(b, m.IsBigendian)
	b = binary.LittleEndian.AppendUint32(b, m.Step)
	return appendBytes(b, m.Data)
}

// DecodeCompressedImage decodes a serialized sensor_msgs/CompressedImage into m.
func DecodeCompressedImage(m *sensor_msgs.CompressedImage, data []byte, mode DataMode) error {
	d := decoder{b: data, typ: CompressedImageType.Type}
	d.header(&m.Header)
	m.Format = d.str("format", m.Format)
	m.Data = d.bytes("data", m.Data, mode)
	return d.end()
}

// AppendCompressedImage appends the serialization of m to b.
func AppendCompressedImage(b []byte, m *sensor_msgs.CompressedImage) []byte {
	b = slices.Grow(b, headerSize(&m.Header)+8+len(m.Format)+len(m.Data))
	b = appendHeader(b, &m.Header)
	b = appendString(b, m.Format)
	return appendBytes(b, m.Data)
}

// DecodeCameraInfo decodes a serialized sensor_msgs/CameraInfo into m, reusing m.D's storage.
func DecodeCameraInfo(m *sensor_msgs.CameraInfo, data []byte) error {
	d := decoder{b: data, typ: CameraInfoType.Type}
	d.header(&m.Header)
	m.Height = d.u32("height")
	m.Width = d.u32("width")
	m.DistortionModel = d.str("distortion_model", m.DistortionModel)
	n := int(d.u32("D"))
	if d.err == nil && n > d.left()/8 {
		d.fail("D", fmt.Sprintf("%d values need %d bytes, %d left", n, 8*n, d.left()))
	}
	if d.err == nil {
		m.D = slices.Grow(m.D[:0], n)[:n]
		d.f64s("D", m.D)
	}
	d.f64s("K", m.K[:])
	d.f64s("R", m.R[:])
	d.f64s("P", m.P[:])
	m.BinningX = d.u32("binning_x")
	m.BinningY = d.u32("binning_y")
	m.Roi.XOffset = d.u32("roi.x_offset")
	m.Roi.YOffset = d.u32("roi.y_offset")
	m.Roi.Height = d.u32("roi.height")
	m.Roi.Width = d.u32("roi.width")
	m.Roi.DoRectify = d.u8("roi.do_rectify") != 0
	return d.end()
}

// AppendCameraInfo appends the serialization of m to b.
func AppendCameraInfo(b []byte, m *sensor_msgs.CameraInfo) []byte {
	b = slices.Grow(b, headerSize(&m.Header)+4*3+len(m.DistortionModel)+8*(len(m.D)+30)+4*6+1)
	b = appendHeader(b, &m.Header)
	b = binary.LittleEndian.AppendUint32(b, m.Height)
	b = binary.LittleEndian.AppendUint32(b, m.Width)
	b = appendString(b, m.DistortionModel)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.D)))
	for _, v := range m.D {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	for _, a := range [][]float64{m.K[:], m.R[:], m.P[:]} {
		for _, v := range a {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	b = binary.LittleEndian.AppendUint32(b, m.BinningX)
	b = binary.LittleEndian.AppendUint32(b, m.BinningY)
	b = binary.LittleEndian.AppendUint32(b, m.Roi.XOffset)
	b = binary.LittleEndian.AppendUint32(b, m.Roi.YOffset)
	b = binary.LittleEndian.AppendUint32(b, m.Roi.Height)
	b = binary.LittleEndian.AppendUint32(b, m.Roi.Width)
	if m.Roi.DoRectify {
		return append(b, 1)
	}
	return append(b, 0)
}

// decoder reads fields in order; the first field that does not fit sets err and later reads are no-ops.
type decoder struct {
	b   []byte
	p   int
	typ string
	err error
}

func (d *decoder) left() int { return len(d.b) - d.p }

func (d *decoder) fail(field, what string) {
	if d.err == nil {
		d.err = fmt.Errorf("rosbag: decoding %s: field %s: %s", d.typ, field, what)
	}
}

func (d *decoder) need(field string, n int) bool {
	if d.err != nil {
		return false
	}
	if n > d.left() {
		d.fail(field, fmt.Sprintf("needs %d bytes, %d left", n, d.left()))
		return false
	}
	return true
}

func (d *decoder) u8(field string) uint8 {
	if !d.need(field, 1) {
		return 0
	}
	d.p++
	return d.b[d.p-1]
}

func (d *decoder) u32(field string) uint32 {
	if !d.need(field, 4) {
		return 0
	}
	d.p += 4
	return binary.LittleEndian.Uint32(d.b[d.p-4:])
}

func (d *decoder) f64s(field string, dst []float64) {
	if !d.need(field, 8*len(dst)) {
		return
	}
	for i := range dst {
		dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.p:]))
		d.p += 8
	}
}

// span reads a uint32 length and returns that many bytes.
func (d *decoder) span(field string) []byte {
	n := d.u32(field)
	if d.err != nil {
		return nil
	}
	if int64(n) > int64(d.left()) {
		d.fail(field, fmt.Sprintf("length %d beyond the %d bytes left", n, d.left()))
		return nil
	}
	d.p += int(n)
	return d.b[d.p-int(n) : d.p : d.p]
}

// str reads a string, returning old itself when the bytes equal it (no allocation for a frame_id or an
// encoding that repeats message after message).
func (d *decoder) str(field, old string) string {
	s := d.span(field)
	if string(s) == old {
		return old
	}
	return string(s)
}

func (d *decoder) bytes(field string, old []byte, mode DataMode) []byte {
	s := d.span(field)
	if d.err != nil {
		return old
	}
	if mode == AliasData {
		return s
	}
	return append([]byte(nil), s...)
}

func (d *decoder) header(h *std_msgs.Header) {
	h.Seq = d.u32("header.seq")
	sec := d.u32("header.stamp")
	nsec := d.u32("header.stamp")
	if sec == 0 && nsec == 0 {
		h.Stamp = time.Time{}
	} else {
		h.Stamp = time.Unix(int64(sec), int64(nsec)).UTC()
	}
	h.FrameId = d.str("header.frame_id", h.FrameId)
}

func (d *decoder) end() error {
	if d.err == nil && d.p != len(d.b) {
		d.fail("(end)", fmt.Sprintf("%d bytes after the last field", len(d.b)-d.p))
	}
	return d.err
}

func headerSize(h *std_msgs.Header) int { return 16 + len(h.FrameId) }

func appendHeader(b []byte, h *std_msgs.Header) []byte {
	b = binary.LittleEndian.AppendUint32(b, h.Seq)
	t := StampTime(h.Stamp)
	b = binary.LittleEndian.AppendUint32(b, t.Sec)
	b = binary.LittleEndian.AppendUint32(b, t.Nsec)
	return appendString(b, h.FrameId)
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendBytes(b, s []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// StampTime is the ROS time of a header stamp as goroslib represents it: the zero time.Time is 0.0.
func StampTime(t time.Time) Time {
	if t.IsZero() {
		return Time{}
	}
	return Time{Sec: uint32(t.Unix()), Nsec: uint32(t.Nanosecond())}
}
