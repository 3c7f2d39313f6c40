#!/usr/bin/python3
"""The ROS side of the rosbag package's tests: bags written and read by ROS's own Python rosbag API.

    pybag.py write OUT.bag COMPRESSION CHUNK_THRESHOLD FRAMES   a bag with image, camera_info and chatter
    pybag.py dump BAG...                                        every message, one JSON line each
    pybag.py time BAG RUNS                                      best time of RUNS full raw reads, in seconds

Run with /usr/bin/python3 (Debian's, which has python3-rosbag and python3-sensor-msgs).
"""

import hashlib
import json
import sys
import time

import rosbag
import rospy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String


def write(path, compression, chunk_threshold, frames):
    with rosbag.Bag(path, "w", compression=compression, chunk_threshold=chunk_threshold) as bag:
        for i in range(frames):
            t = rospy.Time(1700000000 + i // 10, (i % 10) * 100000000 + 7)
            img = Image(height=6, width=8, encoding="rgb8", is_bigendian=0, step=24)
            img.header.seq, img.header.stamp, img.header.frame_id = i, t, "camera"
            img.data = bytes((i * 7 + k) % 251 for k in range(6 * 24))
            bag.write("/camera/image_raw", img, t)
            if i % 3 == 0:
                info = CameraInfo(height=6, width=8, distortion_model="plumb_bob")
                info.header.seq, info.header.stamp, info.header.frame_id = i, t, "camera"
                info.D = [0.1, -0.2, 0.0, 0.0, float(i)]
                info.K = [500.0, 0, 4, 0, 500.0, 3, 0, 0, 1]
                info.P = [500.0, 0, 4, 0, 0, 500.0, 3, 0, 0, 0, 1, 0]
                bag.write("/camera/camera_info", info, t)
            if i % 5 == 0:
                bag.write("/chatter", String(data="message %d" % i), t + rospy.Duration(0, 1000))


def dump(paths):
    for path in paths:
        with rosbag.Bag(path) as bag:
            for topic, msg, t in bag.read_messages(raw=True):
                datatype, data, md5sum = msg[0], msg[1], msg[2]
                print(json.dumps({"bag": path, "topic": topic, "sec": t.secs, "nsec": t.nsecs, "type": datatype,
                                  "md5": md5sum, "len": len(data), "sha256": hashlib.sha256(data).hexdigest()}))


def time_read(path, runs):
    """The benchmark reference: open the bag and read every message raw (no deserialization)."""
    best = None
    for _ in range(runs):
        start = time.perf_counter()
        n = size = 0
        with rosbag.Bag(path) as bag:
            for _, msg, _ in bag.read_messages(raw=True):
                n += 1
                size += len(msg[1])
        took = time.perf_counter() - start
        best = took if best is None else min(best, took)
    print(json.dumps({"seconds": best, "messages": n, "bytes": size}))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1] == "dump":
        dump(sys.argv[2:])
    elif sys.argv[1] == "time":
        time_read(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("unknown command " + sys.argv[1])
