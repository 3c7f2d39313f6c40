package rosbag

import (
	"encoding/binary"
	"fmt"
)

// Record op codes (the "op" header field).
const (
	opMsgData    = 0x02
	opBagHeader  = 0x03
	opIndexData  = 0x04
	opChunk      = 0x05
	opChunkInfo  = 0x06
	opConnection = 0x07
)

const (
	magic = "#ROSBAG V2.0\n"
	// bagHeaderLen is the size of the bag header record's header plus its padding, as ROS writes it.
	bagHeaderLen = 4096
	// maxHeaderLen bounds a record header. Real headers hold a few short fields; a larger length is damage,
	// and refusing it keeps a corrupt length from turning into a large allocation.
	maxHeaderLen = 1 << 20
	// maxConnDataLen bounds a connection record's data (the connection header with its message definition).
	maxConnDataLen = 16 << 20
)

// Time is a ROS time as bags store it: seconds and nanoseconds since the Unix epoch.
type Time struct {
	Sec  uint32
	Nsec uint32
}

// UnixNano is t in nanoseconds since the Unix epoch.
func (t Time) UnixNano() int64 { return int64(t.Sec)*1e9 + int64(t.Nsec) }

// IsZero reports whether t is 0.0, the zero value.
func (t Time) IsZero() bool { return t.Sec == 0 && t.Nsec == 0 }

// String formats t as seconds with nine decimals, the way ROS prints times.
func (t Time) String() string {
	ns := t.UnixNano()
	return fmt.Sprintf("%d.%09d", ns/1e9, ns%1e9)
}

// TimeFromUnixNano is the ROS time of ns nanoseconds since the Unix epoch. ROS times cannot be negative
// or later than 2106: ns must be in [0, 2^32 s).
func TimeFromUnixNano(ns int64) Time {
	return Time{Sec: uint32(ns / 1e9), Nsec: uint32(ns % 1e9)}
}

func getTime(b []byte) Time {
	return Time{Sec: binary.LittleEndian.Uint32(b), Nsec: binary.LittleEndian.Uint32(b[4:])}
}

func putTime(b []byte, t Time) {
	binary.LittleEndian.PutUint32(b, t.Sec)
	binary.LittleEndian.PutUint32(b[4:], t.Nsec)
}

// Header fields this package reads, as bits of header.have.
const (
	hasOp = 1 << iota
	hasConn
	hasTime
	hasTopic
	hasCompression
	hasSize
	hasIndexPos
	hasConnCount
	hasChunkCount
	hasVer
	hasCount
	hasChunkPos
	hasStartTime
	hasEndTime
)

// header is a parsed record header. Byte-slice fields alias the parsed bytes.
type header struct {
	have        uint32
	op          byte
	conn        uint32
	time        Time
	topic       []byte
	compression []byte
	size        uint32
	indexPos    uint64
	connCount   uint32
	chunkCount  uint32
	ver         uint32
	count       uint32
	chunkPos    uint64
	startTime   Time
	endTime     Time
}

// parseHeader parses a record header. Fields it does not know are skipped; a repeated field keeps its
// last value, as ROS's reader does.
func parseHeader(b []byte, h *header) error {
	*h = header{}
	for p := 0; p < len(b); {
		if len(b)-p < 4 {
			return fmt.Errorf("header field at byte %d of the header: %d bytes left, want a 4-byte length", p, len(b)-p)
		}
		n := int(binary.LittleEndian.Uint32(b[p:]))
		p += 4
		if n > len(b)-p || n < 0 {
			return fmt.Errorf("header field at byte %d of the header: length %d beyond the header's %d bytes", p-4, n, len(b))
		}
		f := b[p : p+n]
		p += n
		eq := -1
		for i, c := range f {
			if c == '=' {
				eq = i
				break
			}
		}
		if eq < 0 {
			return fmt.Errorf("header field at byte %d of the header has no '='", p-n-4)
		}
		name, v := f[:eq], f[eq+1:]
		var bit uint32
		var want int
		switch string(name) {
		case "op":
			bit, want = hasOp, 1
		case "conn":
			bit, want = hasConn, 4
		case "time":
			bit, want = hasTime, 8
		case "topic":
			h.have |= hasTopic
			h.topic = v
			continue
		case "compression":
			h.have |= hasCompression
			h.compression = v
			continue
		case "size":
			bit, want = hasSize, 4
		case "index_pos":
			bit, want = hasIndexPos, 8
		case "conn_count":
			bit, want = hasConnCount, 4
		case "chunk_count":
			bit, want = hasChunkCount, 4
		case "ver":
			bit, want = hasVer, 4
		case "count":
			bit, want = hasCount, 4
		case "chunk_pos":
			bit, want = hasChunkPos, 8
		case "start_time":
			bit, want = hasStartTime, 8
		case "end_time":
			bit, want = hasEndTime, 8
		default:
			continue
		}
		if len(v) != want {
			return fmt.Errorf("header field %q is %d bytes, want %d", name, len(v), want)
		}
		h.have |= bit
		switch bit {
		case hasOp:
			h.op = v[0]
		case hasConn:
			h.conn = binary.LittleEndian.Uint32(v)
		case hasTime:
			h.time = getTime(v)
		case hasSize:
			h.size = binary.LittleEndian.Uint32(v)
		case hasIndexPos:
			h.indexPos = binary.LittleEndian.Uint64(v)
		case hasConnCount:
			h.connCount = binary.LittleEndian.Uint32(v)
		case hasChunkCount:
			h.chunkCount = binary.LittleEndian.Uint32(v)
		case hasVer:
			h.ver = binary.LittleEndian.Uint32(v)
		case hasCount:
			h.count = binary.LittleEndian.Uint32(v)
		case hasChunkPos:
			h.chunkPos = binary.LittleEndian.Uint64(v)
		case hasStartTime:
			h.startTime = getTime(v)
		case hasEndTime:
			h.endTime = getTime(v)
		}
	}
	if h.have&hasOp == 0 {
		return fmt.Errorf("record header has no op field")
	}
	return nil
}

// need checks that h has every field in bits, naming the first one missing.
func (h *header) need(record string, bits uint32) error {
	if miss := bits &^ h.have; miss != 0 {
		for i, name := range fieldNames {
			if miss&(1<<i) != 0 {
				return fmt.Errorf("%s record header has no %s field", record, name)
			}
		}
	}
	return nil
}

var fieldNames = [...]string{"op", "conn", "time", "topic", "compression", "size", "index_pos", "conn_count",
	"chunk_count", "ver", "count", "chunk_pos", "start_time", "end_time"}

var opNames = map[byte]string{
	0x01: "message definition (bag format 1.2)", opMsgData: "message data", opBagHeader: "bag header",
	opIndexData: "index data", opChunk: "chunk", opChunkInfo: "chunk info", opConnection: "connection",
}

func opName(op byte) string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return fmt.Sprintf("unknown (op 0x%02x)", op)
}

// appendField appends one header field to b.
func appendField(b []byte, name string, value []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)+1+len(value)))
	b = append(b, name...)
	b = append(b, '=')
	return append(b, value...)
}

func appendFieldString(b []byte, name, value string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)+1+len(value)))
	b = append(b, name...)
	b = append(b, '=')
	return append(b, value...)
}

func appendFieldU32(b []byte, name string, v uint32) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)+1+4))
	b = append(b, name...)
	b = append(b, '=')
	return binary.LittleEndian.AppendUint32(b, v)
}

func appendFieldU64(b []byte, name string, v uint64) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)+1+8))
	b = append(b, name...)
	b = append(b, '=')
	return binary.LittleEndian.AppendUint64(b, v)
}

func appendFieldTime(b []byte, name string, t Time) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)+1+8))
	b = append(b, name...)
	b = append(b, '=')
	b = binary.LittleEndian.AppendUint32(b, t.Sec)
	return binary.LittleEndian.AppendUint32(b, t.Nsec)
}

func appendFieldOp(b []byte, op byte) []byte {
	return appendField(b, "op", []byte{op})
}
