package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/node"
	"github.com/cen-ros/cen/node/rosapi"
)

func init() {
	register("node", "the ROS node: segment synchronised colour + depth frames (roslaunch cen_ros segmentation.launch)", runNode)
}

func runNode(args []string, stdout, stderr io.Writer) error {
	rosArgs, rest, err := rosapi.ParseArgs(args)
	if err != nil {
		return err
	}
	fs := newFlags("node", "[--model M] [--flag value ...] [ROS arguments: from:=to _param:=value __name:=N __ns:=NS]", stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: cen node [flags] [ROS arguments]\n\nThe flags set the node's private parameters where the parameter server has none (what a launch\nfile's <param> sets wins). Inputs rgb/image, depth/image, rgb/camera_info, depth/camera_info (remap them);\noutputs ~labels, ~color, ~overlay, ~confidence, ~class_info and /diagnostics.\n\n")
		fs.PrintDefaults()
	}
	values := map[string]func() any{}
	for _, p := range node.Params {
		p := p
		usage := p.Description
		if p.Dynamic {
			usage += " (dynamic_reconfigure)"
		}
		switch p.Type {
		case "string":
			def, _ := p.Default.(string)
			v := fs.String(p.Name, def, usage)
			values[p.Name] = func() any { return *v }
		case "int":
			def, _ := p.Default.(int)
			v := fs.Int(p.Name, def, usage)
			values[p.Name] = func() any { return *v }
		case "double":
			def, _ := p.Default.(float64)
			v := fs.Float64(p.Name, def, usage)
			values[p.Name] = func() any { return *v }
		case "bool":
			def, _ := p.Default.(bool)
			v := fs.Bool(p.Name, def, usage)
			values[p.Name] = func() any { return *v }
		case "list":
			v := fs.String(p.Name, "", usage+", comma-separated")
			values[p.Name] = func() any { return numberList(*v) }
		}
	}
	ortLib := fs.String("ort-lib", "", "ONNX Runtime library (default: $"+"CEN_ORT_LIB, then make setup's, then the system's)")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v (ROS arguments look like from:=to)", fs.Args())
	}
	// Only the flags given on the command line are defaults: the others leave the parameter's own default.
	defaults := map[string]any{}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		if get, ok := values[f.Name]; ok {
			v := get()
			if e, isErr := v.(error); isErr {
				bad = fmt.Errorf("--%s: %w", f.Name, e)
			}
			defaults[f.Name] = v
		}
	})
	if bad != nil {
		return bad
	}
	env := rosapi.EnvFromOS()
	names, err := rosArgs.Resolver("cen", env)
	if err != nil {
		return err
	}
	master, err := rosArgs.MasterAddress(env)
	if err != nil {
		return err
	}
	// goroslib takes its namespace from ROS_NAMESPACE when set: give it the one resolved here (__ns:= wins).
	// It also remaps every name it is given by exact string match against os.Args: the names it gets are
	// already resolved and remapped, so it must not see the ROS arguments again.
	os.Setenv("ROS_NAMESPACE", names.Namespace())
	os.Args = append(os.Args[:1], rest...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var mu sync.Mutex
	logLine := func(level, msg string) {
		mu.Lock()
		defer mu.Unlock()
		tag := map[string]string{"info": " INFO", "warn": " WARN", "error": "ERROR"}[level]
		fmt.Fprintf(stderr, "[%s] [%.6f] %s: %s\n", tag, float64(time.Now().UnixMicro())/1e6, names.Name(), msg)
	}
	err = node.Run(ctx, node.Conf{
		Namespace: names.Namespace(), Name: names.BaseName(), MasterAddress: master, Host: rosArgs.Host(env), TCPROSPort: rosArgs.TCPROSPort,
		Resolve: names.Resolve, Defaults: defaults, Infer: infer.Conf{ORT: ortOptions(*ortLib)}, Log: logLine,
		Params: func() (node.ParamServer, error) {
			c, err := rosapi.NewClient(rosapi.Conf{MasterAddress: master, Resolver: names})
			if err != nil {
				return nil, err
			}
			// _name:=value arguments go to the parameter server first, as roscpp and rospy upload them.
			if err := c.SetParams(ctx, rosArgs.Params); err != nil {
				return nil, err
			}
			return paramServer{c: c, ctx: ctx}, nil
		},
	})
	if err == context.Canceled {
		return nil
	}
	return err
}

// paramServer adapts the rosapi client to the node's ParamServer.
type paramServer struct {
	c   *rosapi.Client
	ctx context.Context
}

func (p paramServer) Get(key string) (any, bool, error) {
	v, err := p.c.Get(p.ctx, key)
	if errors.Is(err, rosapi.ErrNotSet) {
		return nil, false, nil
	}
	return v, err == nil, err
}

func (p paramServer) Set(key string, v any) error { return p.c.Set(p.ctx, key, v) }

// numberList reads a comma-separated list of numbers, or returns the error.
func numberList(s string) any {
	var out []any
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", f)
		}
		out = append(out, v)
	}
	return out
}
