//go:build ignore

// gen writes train.txt and val.txt, the standard NYUDv2 split of the 1449 labelled frames (Silberman,
// Hoiem, Kohli and Fergus, "Indoor Segmentation and Support Inference from RGBD Images", ECCV 2012): 795
// training and 654 test frames, the test frames being used for validation as in the paper CEN reports on.
// Lines are in the format of the release CEN trained on: "rgb/NNNNNN.png<TAB>masks/NNNNNN.png<TAB>depth/NNNNNN.png"
// with 1-based six-digit frame numbers, in increasing order, without a newline after the last line.
//
// Run it from this folder: go run gen.go
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// frames is the number of labelled NYUDv2 frames.
const frames = 1449

// test lists the test frames as inclusive ranges of frame numbers; every other frame is a training frame.
const test = `1-2 9 14-18 21 28-43 46-47 56-57 59-63 76-79 84-91 117-119 125-129 131-134 137 153-155 167-169 171-176
180-202 207-212 220-222 250 264 271-273 279-285 296-302 310-312 315-317 325-335 351-352 355-364 384-390 395-397
411-414 430-435 441-448 462-466 469-477 508-513 515-526 531-533 537-539 549-551 555-571 579-583 591-594 603-607
612-613 617-621 633-638 644-645 650-651 656-658 663-664 668-673 676-681 686-690 693-694 697-699 706-713 717-718
724-728 731-734 743-744 759-787 800-804 810-814 821-823 833-846 850-852 857-862 869-871 906-908 917-919 926-928
932-935 945-947 959-962 965-967 970-977 991-995 1001-1004 1010-1012 1021-1023 1032-1034 1038-1039 1048-1049
1052-1053 1057-1058 1075-1084 1088-1096 1098-1104 1106-1109 1117-1119 1123-1131 1135-1136 1144-1158 1162-1167
1170-1171 1174-1176 1179-1184 1192-1196 1201-1212 1216-1220 1226-1230 1233-1235 1247-1250 1254-1265 1275-1280
1285-1295 1297-1299 1302-1308 1314-1315 1329-1332 1335-1340 1347-1349 1353-1356 1364-1365 1368-1369 1384-1391
1394-1401 1407-1414 1421-1424 1430-1433 1441-1449`

func main() {
	isTest := make([]bool, frames+1)
	for _, r := range strings.Fields(test) {
		lo, hi, ok := strings.Cut(r, "-")
		if !ok {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 1 || b > frames || a > b {
			fail(fmt.Errorf("bad range %q", r))
		}
		for i := a; i <= b; i++ {
			isTest[i] = true
		}
	}
	var train, val []string
	for i := 1; i <= frames; i++ {
		n := fmt.Sprintf("%06d.png", i)
		line := "rgb/" + n + "\tmasks/" + n + "\tdepth/" + n
		if isTest[i] {
			val = append(val, line)
		} else {
			train = append(train, line)
		}
	}
	if len(train) != 795 || len(val) != 654 {
		fail(fmt.Errorf("split has %d training and %d test frames, want 795 and 654", len(train), len(val)))
	}
	for name, lines := range map[string][]string{"train.txt": train, "val.txt": val} {
		if err := os.WriteFile(name, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}
