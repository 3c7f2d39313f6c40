"""rospy_check answers, for rospy_test.go, what rospy does with batches of command lines.

It reads one JSON object from stdin:
  {"names": [{"default": "cen", "env_ns": "robot" or null, "args": ["a:=b", ...], "queries": ["x", ...]}],
   "params": ["text after _x:=", ...]}
and writes one JSON object to stdout:
  {"names": [{"name": "/robot/cen", "namespace": "/robot/", "resolved": [...]} or {"error": "..."}],
   "params": [{"value": <value>, "upload": true} or {"error": "..."}]}
where a value is tagged by its Python type: ["b", true], ["i", "42"], ["f", repr], ["s", "text"],
["y", base64], ["l", [values]], ["d", [[key, value], ...]], ["x", "type name"] for anything else, and
"upload" says whether xmlrpc.client can send it to the master at all (None, dates and integers beyond 32
bits it cannot).

Names go through the calls rospy.init_node makes (rosgraph.names.get_ros_namespace, the __name mapping,
rosgraph.names.resolve_name, rospy.names.initialize_mappings) and then rospy.names.resolve_name;
parameters through rospy.client.load_command_line_node_params, which uploads yaml.safe_load of the text.
"""

import base64
import json
import sys
import xmlrpc.client

import rosgraph.names
import rospy.client
import rospy.names


def tag(v):
    if isinstance(v, bool):
        return ["b", v]
    if isinstance(v, int):
        return ["i", str(v)]
    if isinstance(v, float):
        return ["f", repr(v)]
    if isinstance(v, str):
        return ["s", v]
    if isinstance(v, bytes):
        return ["y", base64.b64encode(v).decode()]
    if isinstance(v, list):
        return ["l", [tag(x) for x in v]]
    if isinstance(v, dict):
        return ["d", [[tag(k), tag(x)] for k, x in v.items()]]
    return ["x", type(v).__name__]


def names(case):
    env = {} if case["env_ns"] is None else {"ROS_NAMESPACE": case["env_ns"]}
    argv = ["node"] + (case["args"] or [])
    try:
        ns = rosgraph.names.get_ros_namespace(env=env, argv=argv)
        rospy.names.reload_mappings(argv)
        name = rospy.names.get_mappings().get("__name", case["default"])
        caller_id = rosgraph.names.resolve_name(name, ns + "unnamed")
        rospy.names.initialize_mappings(caller_id)
        return {
            "name": caller_id,
            "namespace": rospy.names.namespace(caller_id),
            "resolved": [rospy.names.resolve_name(q, caller_id) for q in case["queries"] or []],
        }
    except Exception as e:  # what rospy would raise from init_node
        return {"error": "%s: %s" % (type(e).__name__, e)}


def param(text):
    try:
        params = rospy.client.load_command_line_node_params(["_x:=" + text])
    except Exception as e:
        return {"error": str(e)}
    if "x" not in params:
        return {"error": "rospy ignores the argument"}
    v = params["x"]
    try:
        xmlrpc.client.dumps((v,))
        upload = True
    except Exception:
        upload = False
    return {"value": tag(v), "upload": upload}


def main():
    req = json.load(sys.stdin)
    json.dump({"names": [names(c) for c in req["names"]], "params": [param(p) for p in req["params"]]}, sys.stdout)


main()
