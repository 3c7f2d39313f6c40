package rosbag

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/bluenviron/goroslib/v2/pkg/msgproc"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/rosgraph_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/tf2_msgs"
)

func TestMsgTypesMatchGoroslibTypeNamesAndMD5Sums(t *testing.T) {
	for _, tc := range []struct {
		typ MsgType
		msg any
	}{
		{ImageType, sensor_msgs.Image{}},
		{CompressedImageType, sensor_msgs.CompressedImage{}},
		{CameraInfoType, sensor_msgs.CameraInfo{}},
		{TFMessageType, tf2_msgs.TFMessage{}},
		{ClockType, rosgraph_msgs.Clock{}},
		{StringType, std_msgs.String{}},
	} {
		t.Run(tc.typ.Type, func(t *testing.T) {
			name, err := msgproc.Type(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			md5, err := msgproc.MD5(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if name != tc.typ.Type || md5 != tc.typ.MD5Sum {
				t.Errorf("goroslib says %s [%s], we say %s [%s]", name, md5, tc.typ.Type, tc.typ.MD5Sum)
			}
			if tc.typ.MessageDefinition == "" {
				t.Error("empty message definition")
			}
		})
	}
}

func TestMsgDefsAreWhatTheGeneratorWritesFromROS(t *testing.T) {
	t.Parallel()
	tool(t, debianPython)
	got := run(t, debianPython, filepath.Join(".", "gen_msgdefs.py"))
	if want := readFile(t, "msgdefs.go"); !bytes.Equal(got, want) {
		t.Error("msgdefs.go differs from what gen_msgdefs.py writes from the installed ROS message packages; run go generate")
	}
}
