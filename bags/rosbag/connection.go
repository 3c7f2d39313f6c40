package rosbag

import (
	"encoding/binary"
	"fmt"
)

//go:generate sh -c "/usr/bin/python3 gen_msgdefs.py > msgdefs.go"

// MsgType is a ROS message type as a connection header names it. ImageType and its siblings in
// msgdefs.go are the types cen writes, with the definitions ROS itself has.
type MsgType struct {
	Type              string // "pkg/Name", e.g. "sensor_msgs/Image"
	MD5Sum            string // the type's MD5 sum, 32 hex digits
	MessageDefinition string // the full text: the type's .msg, then each dependency after a line of 80 '='
}

// Connection is one publisher-to-topic link recorded in a bag: its messages share a topic and a type.
type Connection struct {
	ID    uint32 // the bag's id for the connection; the Writer assigns it
	Topic string // the topic the messages are stored under
	MsgType
	CallerID string // the publishing node, when the recorder stored it
	Latching bool   // the publisher latched the topic
}

// parseConnection reads a connection record: id and topic from its header, the rest from its data (a
// header-format block of string fields).
func parseConnection(h *header, data []byte) (*Connection, error) {
	if err := h.need("connection", hasConn|hasTopic); err != nil {
		return nil, err
	}
	c := &Connection{ID: h.conn, Topic: string(h.topic)}
	var have struct{ typ, md5 bool }
	for p := 0; p < len(data); {
		if len(data)-p < 4 {
			return nil, fmt.Errorf("connection header field at byte %d: %d bytes left, want a 4-byte length", p, len(data)-p)
		}
		n := int(binary.LittleEndian.Uint32(data[p:]))
		p += 4
		if n > len(data)-p || n < 0 {
			return nil, fmt.Errorf("connection header field at byte %d: length %d beyond the %d-byte connection header", p-4, n, len(data))
		}
		f := data[p : p+n]
		p += n
		eq := -1
		for i, b := range f {
			if b == '=' {
				eq = i
				break
			}
		}
		if eq < 0 {
			return nil, fmt.Errorf("connection header field at byte %d has no '='", p-n-4)
		}
		v := f[eq+1:]
		switch string(f[:eq]) {
		case "type":
			c.Type, have.typ = string(v), true
		case "md5sum":
			c.MD5Sum, have.md5 = string(v), true
		case "message_definition":
			c.MessageDefinition = string(v)
		case "callerid":
			c.CallerID = string(v)
		case "latching":
			c.Latching = string(v) == "1"
		}
	}
	if !have.typ {
		return nil, fmt.Errorf("connection %d (%s) has no type field", c.ID, c.Topic)
	}
	if !have.md5 {
		return nil, fmt.Errorf("connection %d (%s) has no md5sum field", c.ID, c.Topic)
	}
	return c, nil
}

// appendConnectionRecord appends c's connection record (header and data) to b.
func appendConnectionRecord(b []byte, c *Connection) []byte {
	var hdr [64]byte
	h := appendFieldOp(hdr[:0], opConnection)
	h = appendFieldU32(h, "conn", c.ID)
	h = appendFieldString(h, "topic", c.Topic)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	b = append(b, h...)
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0)
	b = appendFieldString(b, "topic", c.Topic)
	b = appendFieldString(b, "type", c.Type)
	b = appendFieldString(b, "md5sum", c.MD5Sum)
	b = appendFieldString(b, "message_definition", c.MessageDefinition)
	if c.CallerID != "" {
		b = appendFieldString(b, "callerid", c.CallerID)
	}
	if c.Latching {
		b = appendFieldString(b, "latching", "1")
	}
	binary.LittleEndian.PutUint32(b[lenAt:], uint32(len(b)-lenAt-4))
	return b
}
