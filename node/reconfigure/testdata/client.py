"""Drives a dynamic_reconfigure server with Debian's Python client, as rqt_reconfigure and dynparam do.

usage: /usr/bin/python3 client.py SERVER OPS_JSON

OPS_JSON is a list of operations, run in order; one JSON line is printed per operation:
  {"op": "describe"}                  the parameter descriptions (enums decoded with eval, as the client does)
  {"op": "get"}                       the configuration the client holds (from parameter_updates)
  {"op": "update", "changes": {...}}  update_configuration; prints the response, and the configuration that
                                      then arrives on parameter_updates ("seen": null if none came in 5 s)
  {"op": "params"}                    ("stored") the server's namespace on the parameter server
Values are printed as [python type name, value], with floats that JSON lacks as "inf", "-inf" and "nan".
A change value given as {"float": "nan"} is sent as that float.
"""
import json
import math
import sys
import time

import rospy
import dynamic_reconfigure.client


def typed(v):
    name = type(v).__name__
    if isinstance(v, float) and not math.isfinite(v):
        v = str(v)
    return [name, v]


def plain(config):
    return {k: typed(v) for k, v in config.items() if k != 'groups'}


def groups(config):
    g = config.get('groups')
    if g is None:
        return None
    return {'name': g['name'], 'id': g['id'], 'parent': g['parent'], 'state': g['state'], 'children': sorted(g['groups'].keys())}


def decode_change(v):
    if isinstance(v, dict) and 'float' in v:
        return float(v['float'])
    return v


def main():
    server, ops = sys.argv[1], json.loads(sys.argv[2])
    rospy.init_node('dr_test_client', anonymous=True)
    client = dynamic_reconfigure.client.Client(server, timeout=10)
    for op in ops:
        kind = op['op']
        out = {'op': kind}
        if kind == 'describe':
            descr = client.get_parameter_descriptions(timeout=10)
            out['params'] = []
            for p in descr:
                q = {k: p[k] for k in ('name', 'type', 'level', 'description', 'edit_method')}
                q['default'], q['min'], q['max'] = typed(p['default']), typed(p['min']), typed(p['max'])
                if p['edit_method']:
                    q['enum'] = eval(p['edit_method'])
                out['params'].append(q)
            g = client.get_group_descriptions(timeout=10)
            out['group'] = {'name': g['name'], 'id': g['id'], 'parent': g['parent'], 'type': g['type'],
                            'state': g['state'], 'children': sorted(g['groups'].keys())}
        elif kind == 'get':
            config = client.get_configuration(timeout=10)
            out['config'] = plain(config)
            out['groups'] = groups(config)
        elif kind == 'update':
            changes = {k: decode_change(v) for k, v in op['changes'].items()}
            try:
                resp = client.update_configuration(changes)
            except Exception as e:  # what dynparam prints, for the test to see
                out['error'] = '%s: %s' % (type(e).__name__, e)
                print(json.dumps(out), flush=True)
                continue
            out['response'] = plain(resp)
            out['groups'] = groups(resp)
            deadline = time.time() + 5
            seen = None
            while time.time() < deadline:
                config = client.get_configuration(timeout=1)
                if config is not None and plain(config) == out['response']:
                    seen = plain(config)
                    break
                time.sleep(0.02)
            out['seen'] = seen
        elif kind == 'params':
            out['stored'] = {k: typed(v) for k, v in rospy.get_param(server).items()}
        else:
            raise SystemExit('unknown op %r' % kind)
        print(json.dumps(out), flush=True)
    client.close()


if __name__ == '__main__':
    main()
