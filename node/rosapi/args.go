package rosapi

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/cen-ros/cen/node"
)

// Args are the ROS arguments of a command line: every argument that contains ":=", as roscpp counts them.
// Each kind keeps command-line order; where a name is given twice the last one wins, as in roscpp and rospy.
type Args struct {
	// Remaps are the name remappings, from:=to.
	Remaps []Remap
	// Params are the private parameters, _name:=value.
	Params []Param
	// Name is __name:=, the node's base name; "" when absent.
	Name string
	// Namespace is __ns:=, the node's namespace; "" when absent.
	Namespace string
	// Log is __log:=, the log file roslaunch assigns; "" when absent.
	Log string
	// Master is __master:=, the master's URI; "" when absent.
	Master string
	// IP is __ip:=, the address other nodes reach this one at; "" when absent.
	IP string
	// Hostname is __hostname:=, the host name other nodes reach this one by; "" when absent.
	Hostname string
	// TCPROSPort is __tcpros_server_port:=, roscpp's fixed TCPROS port; 0 when absent.
	TCPROSPort int
}

// Param is one private parameter from the command line, _name:=value.
type Param struct {
	// Name is the parameter's private name, "~name".
	Name string
	// Value is the value as rospy reads it: the text parsed as YAML 1.1 (see ParseValue).
	Value any
	// Text is the value as written.
	Text string
}

// ParseArgs separates the ROS arguments in args from the program's own, which it returns in order. An
// argument is a ROS argument when it contains ":=" (roscpp's rule; rospy also wants a name before it):
//   - remaps from:=to, both sides graph resource names ("~x" on either side is private to the node);
//   - the special keys __name, __ns, __log, __master, __ip, __hostname and __tcpros_server_port;
//   - private parameters _name:=value, whose value is read as YAML 1.1 the way rospy reads it (roscpp
//     instead tries int, double, then true/false, else keeps the string, so "[1, 2]" and "yes" differ).
//
// Malformed arguments are errors naming the argument: an empty side, an invalid name, a value no
// parameter can hold, an unknown __key. ParseArgs is stricter than either client library, which skip some
// of these silently; it also refuses a bad argument that a later one for the same key would override.
func ParseArgs(args []string) (Args, []string, error) {
	var a Args
	var rest []string
	for _, arg := range args {
		i := strings.Index(arg, ":=")
		if i < 0 {
			rest = append(rest, arg)
			continue
		}
		if err := a.add(arg[:i], arg[i+2:]); err != nil {
			return Args{}, nil, fmt.Errorf("ROS argument %q: %w", arg, err)
		}
	}
	return a, rest, nil
}

func (a *Args) add(from, to string) error {
	switch {
	case from == "":
		return fmt.Errorf("no name before \":=\"")
	case strings.HasPrefix(from, "__"):
		return a.addSpecial(from, to)
	case from[0] == '_':
		return a.addParam(from, to)
	}
	if to == "" {
		return fmt.Errorf("no name after \":=\" to remap %s to", from)
	}
	if strings.Contains(to, ":=") {
		return fmt.Errorf("more than one \":=\"")
	}
	if err := CheckName(from); err != nil {
		return err
	}
	if err := CheckName(to); err != nil {
		return err
	}
	a.Remaps = append(a.Remaps, Remap{From: from, To: to})
	return nil
}

func (a *Args) addSpecial(key, value string) error {
	if value == "" {
		return fmt.Errorf("%s needs a value", key)
	}
	switch key {
	case "__name":
		if err := CheckBaseName(value); err != nil {
			return err
		}
		a.Name = value
	case "__ns":
		if _, err := cleanNamespace(value); err != nil {
			return err
		}
		a.Namespace = value
	case "__log":
		a.Log = value
	case "__master":
		if _, err := node.MasterAddress(value); err != nil {
			return fmt.Errorf("%q is not a master URI like http://HOST:11311", value)
		}
		a.Master = value
	case "__ip":
		if net.ParseIP(value) == nil {
			return fmt.Errorf("%q is not an IP address", value)
		}
		a.IP = value
	case "__hostname":
		if err := checkHostname(value); err != nil {
			return err
		}
		a.Hostname = value
	case "__tcpros_server_port":
		port, err := strconv.ParseUint(value, 10, 16)
		if err != nil {
			return fmt.Errorf("%q is not a port number (0 to 65535)", value)
		}
		a.TCPROSPort = int(port)
	default:
		return fmt.Errorf("%s is not a special key ROS knows (__name, __ns, __log, __master, __ip, __hostname, __tcpros_server_port)", key)
	}
	return nil
}

func checkHostname(h string) error {
	if strings.ContainsAny(h, "/ \t") || strings.Contains(h, "://") {
		return fmt.Errorf("%q is not a bare host name", h)
	}
	return nil
}

func (a *Args) addParam(from, text string) error {
	if from == "_" {
		return fmt.Errorf("no parameter name after '_'")
	}
	name := "~" + from[1:]
	if err := CheckName(name); err != nil {
		return fmt.Errorf("parameter %s: %w", from, err)
	}
	if text == "" {
		return fmt.Errorf("parameter %s has no value", from)
	}
	v, err := ParseValue(text)
	if err != nil {
		return fmt.Errorf("parameter %s: %w", from, err)
	}
	a.Params = append(a.Params, Param{Name: name, Value: v, Text: text})
	return nil
}

// Resolver is the resolver of this node: its base name is __name:= or else defaultName, its namespace __ns:=
// or else env.Namespace (ROS_NAMESPACE), and its remaps are a.Remaps.
func (a Args) Resolver(defaultName string, env Env) (*Resolver, error) {
	name := defaultName
	if a.Name != "" {
		name = a.Name
	}
	ns := env.Namespace
	if a.Namespace != "" {
		ns = a.Namespace
	}
	r, err := NewResolver(ns, name, a.Remaps)
	if err != nil {
		return nil, fmt.Errorf("ROS arguments: %w", err)
	}
	return r, nil
}
