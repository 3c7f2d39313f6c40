package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/cen-ros/cen/cen/ort"
	"github.com/cen-ros/cen/node"
)

func init() {
	register("doctor", "check that this machine can run cen, with a fix for each problem", runDoctor)
}

// check is one line of the doctor's report.
type check struct {
	name     string
	ok       bool
	required bool
	detail   string // what was found, or what is wrong
	fix      string // printed when !ok
}

func runDoctor(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", "[--ort-lib PATH] [--master URI]", stderr)
	ortLib := fs.String("ort-lib", "", "ONNX Runtime shared library to check (default: the lookup cen uses)")
	master := fs.String("master", "", "ROS master URI to check (default: $ROS_MASTER_URI, else "+node.DefaultMasterURI+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var checks []check

	// ONNX Runtime: found, loadable, providers.
	loc, err := ort.Find(*ortLib)
	switch {
	case err != nil:
		checks = append(checks, check{"onnxruntime", false, true, err.Error(), "run `make setup` in the cen repository, or set " + ort.EnvVar + " to libonnxruntime.so"})
	default:
		if err := ort.Init(loc); err != nil {
			checks = append(checks, check{"onnxruntime", false, true, err.Error(), "the file is not a usable ONNX Runtime >= 1.24 build; rerun `make setup`"})
		} else {
			checks = append(checks, check{"onnxruntime", true, true, fmt.Sprintf("%s from %s (%s)", ort.Version(), loc.Path, loc.Source), ""})
			provs, err := ort.Providers()
			if err != nil {
				checks = append(checks, check{"execution providers", false, true, err.Error(), "rerun `make setup`"})
			} else {
				var have, missing []string
				for _, p := range provs {
					if p.Available {
						have = append(have, p.Name)
					} else {
						missing = append(missing, p.Name+": "+p.Reason)
					}
				}
				detail := "available: " + strings.Join(have, ", ")
				if len(missing) > 0 {
					detail += "; unavailable: " + strings.Join(missing, "; ")
				}
				checks = append(checks, check{"execution providers", true, false, detail, ""})
			}
		}
	}

	// OpenCV is linked in; check it is the 4.x series gocv v0.31 was built for.
	cv := gocv.OpenCVVersion()
	checks = append(checks, check{"opencv", strings.HasPrefix(cv, "4."), true, cv, "install Debian 12's libopencv-dev (OpenCV 4.6) and rebuild with `make build`"})

	// ROS master.
	uri := *master
	if uri == "" {
		uri = os.Getenv("ROS_MASTER_URI")
	}
	shown := uri
	if shown == "" {
		shown = node.DefaultMasterURI + " (ROS_MASTER_URI unset)"
	}
	if addr, err := node.MasterAddress(uri); err != nil {
		checks = append(checks, check{"ros master", false, true, err.Error(), "export ROS_MASTER_URI=http://HOST:11311"})
	} else if err := node.PingMaster(addr, 2*time.Second); err != nil {
		checks = append(checks, check{"ros master", false, true, fmt.Sprintf("%s: %v", shown, err), "start one with `roscore` (or `rosmaster --core -p PORT &`), or point ROS_MASTER_URI at the robot's master"})
	} else {
		checks = append(checks, check{"ros master", true, true, shown + " answers", ""})
	}

	// ROS_IP / ROS_HOSTNAME.
	if problems := node.CheckHostEnv(); len(problems) > 0 {
		checks = append(checks, check{"ros network", false, true, strings.Join(problems, "; "), "set ROS_IP to an address of this machine that the other nodes can reach (or ROS_HOSTNAME to a resolvable name), not both"})
	} else {
		detail := "ROS_IP=" + os.Getenv("ROS_IP") + " ROS_HOSTNAME=" + os.Getenv("ROS_HOSTNAME")
		if os.Getenv("ROS_IP") == "" && os.Getenv("ROS_HOSTNAME") == "" {
			detail = "ROS_IP and ROS_HOSTNAME unset: other nodes reach this one by its host name"
		}
		checks = append(checks, check{"ros network", true, false, detail, ""})
	}

	failed := 0
	for _, c := range checks {
		status := "ok  "
		if !c.ok {
			status = "FAIL"
			if !c.required {
				status = "warn"
			} else {
				failed++
			}
		}
		fmt.Fprintf(stdout, "[%s] %-20s %s\n", status, c.name, c.detail)
		if !c.ok {
			fmt.Fprintf(stdout, "       %-20s fix: %s\n", "", c.fix)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d required check(s) failed\n", failed)
		return exitError{1}
	}
	fmt.Fprintln(stdout, "all required checks passed")
	return nil
}
