// Package dynamic_reconfigure holds the message and service types of ROS 1's dynamic_reconfigure package
// (version 1.7), as goroslib message structs. Field order and types follow the package's .msg and .srv
// files, so the MD5 sums goroslib computes equal ROS's and roscpp, rospy and rqt_reconfigure accept them.
//
// The package is named after the ROS package, as goroslib names its std_msgs and sensor_msgs, so that call
// sites read like the ROS type names.
//
//nolint:revive
package dynamic_reconfigure

import "github.com/bluenviron/goroslib/v2/pkg/msg"

// BoolParameter is dynamic_reconfigure/BoolParameter: one bool value in a Config.
type BoolParameter struct {
	msg.Package `ros:"dynamic_reconfigure"`
	Name        string
	Value       bool
}

// IntParameter is dynamic_reconfigure/IntParameter: one int value in a Config (ROS int32).
type IntParameter struct {
	msg.Package `ros:"dynamic_reconfigure"`
	Name        string
	Value       int32
}

// StrParameter is dynamic_reconfigure/StrParameter: one string value in a Config.
type StrParameter struct {
	msg.Package `ros:"dynamic_reconfigure"`
	Name        string
	Value       string
}

// DoubleParameter is dynamic_reconfigure/DoubleParameter: one double value in a Config.
type DoubleParameter struct {
	msg.Package `ros:"dynamic_reconfigure"`
	Name        string
	Value       float64
}

// GroupState is dynamic_reconfigure/GroupState: whether a parameter group is enabled. Every server has the
// group "Default" with Id 0 and Parent 0.
type GroupState struct {
	msg.Package `ros:"dynamic_reconfigure"`
	Name        string
	State       bool
	Id          int32 //nolint:revive
	Parent      int32
}

// Config is dynamic_reconfigure/Config: a set of parameter values, one list per type, plus group states.
// It is published on parameter_updates and travels in both directions of set_parameters.
type Config struct {
	msg.Package `ros:"dynamic_reconfigure"`
	Bools       []BoolParameter
	Ints        []IntParameter
	Strs        []StrParameter
	Doubles     []DoubleParameter
	Groups      []GroupState
}

// ParamDescription is dynamic_reconfigure/ParamDescription: one parameter's name, type ("bool", "int",
// "double" or "str"), level bits, description and edit method (empty, or a Python dict literal describing
// an enum).
type ParamDescription struct {
	msg.Package `ros:"dynamic_reconfigure"`
	Name        string
	Type        string
	Level       uint32
	Description string
	EditMethod  string
}

// Group is dynamic_reconfigure/Group: a group of parameters in a ConfigDescription.
type Group struct {
	msg.Package `ros:"dynamic_reconfigure"`
	Name        string
	Type        string
	Parameters  []ParamDescription
	Parent      int32
	Id          int32 //nolint:revive
}

// ConfigDescription is dynamic_reconfigure/ConfigDescription, published latched on parameter_descriptions:
// the groups with their parameters, and the maximum, minimum and default values.
type ConfigDescription struct {
	msg.Package `ros:"dynamic_reconfigure"`
	Groups      []Group
	Max         Config
	Min         Config
	Dflt        Config
}

// ReconfigureReq is the request of dynamic_reconfigure/Reconfigure: the values to change.
type ReconfigureReq struct {
	msg.Package `ros:"dynamic_reconfigure"`
	Config      Config
}

// ReconfigureRes is the response of dynamic_reconfigure/Reconfigure: the whole configuration after the change.
type ReconfigureRes struct {
	msg.Package `ros:"dynamic_reconfigure"`
	Config      Config
}

// Reconfigure is the service dynamic_reconfigure/Reconfigure, offered as <namespace>/set_parameters.
type Reconfigure struct {
	msg.Package `ros:"dynamic_reconfigure"`
	ReconfigureReq
	ReconfigureRes
}
