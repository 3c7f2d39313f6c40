package rosbag

import (
	"errors"
	"fmt"
)

// ErrNotBag is wrapped by the error Open returns for a file that does not start with a bag's version line.
var ErrNotBag = errors.New("not a ROS bag")

// Error is a problem with a bag's content: a record that is cut short, a bad header field, a length
// beyond the file, an unknown compression, compressed data that does not decode. Truncation wraps
// io.ErrUnexpectedEOF.
type Error struct {
	File   string // the bag, as named to Open or NewReader
	Offset int64  // byte offset in the file of the record at fault (for records inside a chunk: the chunk)
	Err    error  // what is wrong
}

// Error says "rosbag: FILE: record at byte OFFSET: what is wrong".
func (e *Error) Error() string {
	return fmt.Sprintf("rosbag: %s: record at byte %d: %v", e.File, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
