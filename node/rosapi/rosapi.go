// Package rosapi gives the cen node the ROS 1 conventions goroslib lacks: command-line arguments as roscpp
// and rospy read them (remaps, __name/__ns/__master/__ip/__hostname/__log, _param:=value), graph resource
// names resolved and remapped as roscpp does (wiki.ros.org/Names), the master address and host from
// ROS_MASTER_URI, ROS_IP and ROS_HOSTNAME, and a client of the master's parameter server with every value
// type (lists and dictionaries included) plus the few master calls a node needs.
//
// A node starts like this:
//
//	args, rest, err := rosapi.ParseArgs(os.Args[1:])
//	env := rosapi.EnvFromOS()
//	names, err := args.Resolver("cen", env)
//	master, err := args.MasterAddress(env)
//	params, err := rosapi.NewClient(rosapi.Conf{MasterAddress: master, Resolver: names})
//	err = params.SetParams(ctx, args.Params) // _name:=value, as roscpp and rospy upload them
//	queue, err := rosapi.GetOr(ctx, params, "~queue_size", 1)
//
// and gives goroslib.NodeConf{MasterAddress: master, Namespace: names.Namespace(), Name: names.BaseName(),
// Host: args.Host(env)} topic and service names it has resolved with names.Resolve. Two goroslib habits
// undo this unless the node prevents them: NewNode takes ROS_NAMESPACE over NodeConf.Namespace (so __ns:=
// loses unless ROS_NAMESPACE is set to names.Namespace()), and it remaps the node name and every topic by
// exact string match against os.Args, which renames a node given "cen:=x" (roscpp ignores that) and chains
// remaps that roscpp applies once ("/a:=/b /b:=/c" makes /a /c). Setting os.Args to the program name plus
// the returned rest before NewNode turns goroslib's remapping off.
package rosapi

import (
	"os"

	"github.com/cen-ros/cen/node"
)

// Env is the part of the process environment ROS 1 client libraries read. An empty field is unset.
type Env struct {
	// MasterURI is ROS_MASTER_URI, such as "http://localhost:11311" or "http://robot:11311/".
	MasterURI string
	// IP is ROS_IP, the address this node advertises.
	IP string
	// Hostname is ROS_HOSTNAME, the host name this node advertises; it wins over ROS_IP.
	Hostname string
	// Namespace is ROS_NAMESPACE, the node's namespace unless __ns:= says otherwise.
	Namespace string
}

// EnvFromOS reads Env from the process environment.
func EnvFromOS() Env {
	return Env{
		MasterURI: os.Getenv("ROS_MASTER_URI"),
		IP:        os.Getenv("ROS_IP"),
		Hostname:  os.Getenv("ROS_HOSTNAME"),
		Namespace: os.Getenv("ROS_NAMESPACE"),
	}
}

// MasterAddress is the "host:port" of the master, the form goroslib's NodeConf.MasterAddress takes:
// __master:= wins over ROS_MASTER_URI, and without either it is localhost:11311 (rospy's default; roscpp
// refuses to start). URIs such as "http://HOST:PORT/", with the trailing slash roslaunch -p exports, work.
func (a Args) MasterAddress(env Env) (string, error) {
	uri := a.Master
	if uri == "" {
		uri = env.MasterURI
	}
	if uri == "" {
		uri = node.DefaultMasterURI
	}
	return node.MasterAddress(uri)
}

// Host is the host name or IP this node tells other nodes to reach it at, the form goroslib's NodeConf.Host
// takes. roscpp's order decides: __hostname:=, then __ip:=, then ROS_HOSTNAME, then ROS_IP. It is "" when
// none is set; goroslib then takes the address of the local interface in the master's subnet (roscpp would
// take the machine's host name).
func (a Args) Host(env Env) string {
	for _, h := range []string{a.Hostname, a.IP, env.Hostname, env.IP} {
		if h != "" {
			return h
		}
	}
	return ""
}
