package rosbag_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"

	"github.com/cen-ros/cen/bags/rosbag"
)

func Example() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "labels.bag")

	// Write two label images.
	w, err := rosbag.Create(path, rosbag.WriterConf{Compression: "lz4"})
	if err != nil {
		log.Fatal(err)
	}
	labels, err := w.AddConnection(rosbag.Connection{Topic: "/segmentation/labels", MsgType: rosbag.ImageType})
	if err != nil {
		log.Fatal(err)
	}
	for i := range 2 {
		img := sensor_msgs.Image{Height: 2, Width: 2, Encoding: "mono8", Step: 2, Data: []byte{0, 1, 2, byte(i)}}
		if err := w.WriteMessage(labels, rosbag.Time{Sec: 1700000000 + uint32(i)}, rosbag.AppendImage(nil, &img)); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	// Read them back.
	r, err := rosbag.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	fmt.Println(r.Info().TopicMessageCount("/segmentation/labels"), "messages")
	it := r.Messages(rosbag.Filter{Topics: []string{"/segmentation/labels"}})
	var img sensor_msgs.Image
	for it.Next() {
		m := it.Message()
		if err := rosbag.DecodeImage(&img, m.Data, rosbag.AliasData); err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.Time, m.Conn.Type, img.Encoding, img.Data)
	}
	if err := it.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 2 messages
	// 1700000000.000000000 sensor_msgs/Image mono8 [0 1 2 0]
	// 1700000001.000000000 sensor_msgs/Image mono8 [0 1 2 1]
}
