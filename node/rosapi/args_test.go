package rosapi

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseArgsSeparatesROSArgumentsAndKeepsTheRestInOrder(t *testing.T) {
	// What roslaunch passes a node (args first, then __name and __log), with remaps and parameters mixed in.
	a, rest, err := ParseArgs([]string{
		"node", "--model", "m.onnx", "rgb/image:=/camera/color/image_raw", "_queue_size:=2",
		"~labels:=seg/labels", "__name:=seg", "__log:=/home/r/.ros/log/1/seg-1.log", "-v",
		"_classes:=[wall, floor]", "__ns:=robot", "__master:=http://robot:11311/", "__ip:=10.0.0.5",
		"__hostname:=robot.local", "__tcpros_server_port:=4000", "_queue_size:=3",
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"node", "--model", "m.onnx", "-v"}; !reflect.DeepEqual(rest, want) {
		t.Errorf("rest = %q, want %q", rest, want)
	}
	want := Args{
		Remaps: []Remap{{"rgb/image", "/camera/color/image_raw"}, {"~labels", "seg/labels"}},
		Params: []Param{
			{Name: "~queue_size", Value: 2, Text: "2"},
			{Name: "~classes", Value: []any{"wall", "floor"}, Text: "[wall, floor]"},
			{Name: "~queue_size", Value: 3, Text: "3"},
		},
		Name: "seg", Namespace: "robot", Log: "/home/r/.ros/log/1/seg-1.log", Master: "http://robot:11311/",
		IP: "10.0.0.5", Hostname: "robot.local", TCPROSPort: 4000,
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("ParseArgs gave\n%+v\nwant\n%+v", a, want)
	}
}

func TestParseArgsWithoutROSArguments(t *testing.T) {
	a, rest, err := ParseArgs([]string{"predict", "--rgb", "a.png", "x=y", ":", "="})
	if err != nil || !reflect.DeepEqual(a, Args{}) || len(rest) != 6 {
		t.Errorf("ParseArgs = %+v, %q, %v; want no ROS arguments and all 6 back", a, rest, err)
	}
	if _, rest, _ := ParseArgs(nil); rest != nil {
		t.Errorf("ParseArgs(nil) rest = %q", rest)
	}
}

func TestMalformedROSArgumentsAreErrorsNamingThem(t *testing.T) {
	cases := []struct{ arg, want string }{
		{":=", `ROS argument ":=": no name before ":="`},
		{":=x", `ROS argument ":=x": no name before ":="`},
		{"foo:=", `ROS argument "foo:=": no name after ":=" to remap foo to`},
		{"a-b:=c", `ROS argument "a-b:=c": "a-b" is not a valid ROS name: '-' at byte 1`},
		{"a:=b c", `"b c" is not a valid ROS name`},
		{"1a:=b", `"1a" is not a valid ROS name: it starts with '1'`},
		{"a:=b:=c", `ROS argument "a:=b:=c": more than one ":="`},
		{"_:=3", `ROS argument "_:=3": no parameter name after '_'`},
		{"_a-b:=3", `parameter _a-b: "~a-b" is not a valid ROS name`},
		{"_rate:=", `parameter _rate has no value`},
		{"_rate:=[1, 2", `parameter _rate: YAML "[1, 2"`},
		{"_rate:=~", `YAML null ("~") cannot be a parameter value`},
		{"_big:=3000000000", `integer 3000000000 does not fit the 32 bits of a parameter`},
		{"_day:=2024-01-02", `YAML reads "2024-01-02" as a timestamp`},
		{"__name:=", `ROS argument "__name:=": __name needs a value`},
		{"__name:=a/b", `node name "a/b" must not contain '/'`},
		{"__name:=~a", `node name "~a" must not contain '~'`},
		{"__ns:=~a", `namespace "~a"`},
		{"__ns:=a.b", `namespace "a.b"`},
		{"__master:=robot", `"robot" is not a master URI like http://HOST:11311`},
		{"__master:=ftp://robot:11311", `"ftp://robot:11311" is not a master URI`},
		{"__ip:=robot", `"robot" is not an IP address`},
		{"__hostname:=http://robot", `"http://robot" is not a bare host name`},
		{"__tcpros_server_port:=70000", `"70000" is not a port number`},
		{"__nmae:=x", `__nmae is not a special key ROS knows`},
	}
	for _, c := range cases {
		_, _, err := ParseArgs([]string{"node", c.arg})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseArgs(%q) error = %v, want it to contain %q", c.arg, err, c.want)
		}
	}
}

func TestMasterAddressPrefersTheCommandLine(t *testing.T) {
	cases := []struct {
		master, env, want string
	}{
		{"", "", "localhost:11311"},
		{"", "http://127.0.0.1:11411", "127.0.0.1:11411"},
		{"", "http://robot:11411/", "robot:11411"}, // as roslaunch -p exports it
		{"", "http://robot", "robot:11311"},
		{"http://10.0.0.2:11311/", "http://127.0.0.1:11411", "10.0.0.2:11311"},
		{"", "http://[::1]:11311/", "[::1]:11311"},
	}
	for _, c := range cases {
		a := Args{Master: c.master}
		got, err := a.MasterAddress(Env{MasterURI: c.env})
		if err != nil || got != c.want {
			t.Errorf("__master %q, ROS_MASTER_URI %q: %q, %v; want %q", c.master, c.env, got, err, c.want)
		}
	}
	if _, err := (Args{}).MasterAddress(Env{MasterURI: "robot:11311"}); err == nil || !strings.Contains(err.Error(), `ROS_MASTER_URI "robot:11311"`) {
		t.Errorf("a URI without scheme gives %v", err)
	}
}

func TestHostFollowsRoscppPrecedence(t *testing.T) {
	cases := []struct {
		args Args
		env  Env
		want string
	}{
		{Args{}, Env{}, ""},
		{Args{}, Env{IP: "10.0.0.5"}, "10.0.0.5"},
		{Args{}, Env{IP: "10.0.0.5", Hostname: "robot"}, "robot"},
		{Args{IP: "10.0.0.7"}, Env{IP: "10.0.0.5", Hostname: "robot"}, "10.0.0.7"},
		{Args{IP: "10.0.0.7", Hostname: "arm"}, Env{Hostname: "robot"}, "arm"},
	}
	for _, c := range cases {
		if got := c.args.Host(c.env); got != c.want {
			t.Errorf("__ip %q __hostname %q ROS_IP %q ROS_HOSTNAME %q: Host = %q, want %q",
				c.args.IP, c.args.Hostname, c.env.IP, c.env.Hostname, got, c.want)
		}
	}
}

func TestEnvFromOSReadsTheROSVariables(t *testing.T) {
	t.Setenv("ROS_MASTER_URI", "http://m:1/")
	t.Setenv("ROS_IP", "10.1.1.1")
	t.Setenv("ROS_HOSTNAME", "h")
	t.Setenv("ROS_NAMESPACE", "/ns")
	if got, want := EnvFromOS(), (Env{MasterURI: "http://m:1/", IP: "10.1.1.1", Hostname: "h", Namespace: "/ns"}); got != want {
		t.Errorf("EnvFromOS() = %+v, want %+v", got, want)
	}
}
