"""Serves parameters with Debian's Python dynamic_reconfigure server, the reference the Go server is compared with.

usage: /usr/bin/python3 pyserver.py NAMESPACE PARAMS_JSON

PARAMS_JSON lists {"name", "type" ("bool"|"int"|"double"|"str"), "default", "min", "max", "level",
"description", "choices": [{"name", "value", "description"}] or absent}; the values of a double parameter
may be ints or "inf"/"-inf". The script builds what dynamic_reconfigure's generator puts in a <Name>Config.py module,
with enums written as the generator writes them (the repr of a dict), and prints "ready" once it serves.
"""
import json
import sys
import types

import rospy
from dynamic_reconfigure.server import Server

CTYPES = {'str': ('std::string', 'const char * const'), 'int': ('int', 'const int'),
          'double': ('double', 'const double'), 'bool': ('bool', 'const bool')}


def value(v, kind):
    # JSON has no infinities and writes 1.0 as 1; a .cfg file would give a double parameter floats.
    return float(v) if kind == 'double' else v


def main():
    ns, params = sys.argv[1], json.loads(sys.argv[2])
    rospy.init_node('dr_reference_server', anonymous=True)
    described = []
    for p in params:
        edit_method = ''
        if p.get('choices'):
            consts = []
            for c in p['choices']:
                ctype, cconst = CTYPES[p['type']]
                consts.append({'name': c['name'], 'type': p['type'], 'value': c['value'], 'srcline': 0,
                               'srcfile': '', 'description': c['description'], 'ctype': ctype,
                               'cconsttype': cconst})
            edit_method = repr({'enum': consts, 'enum_description': p['description']})
        described.append({'name': p['name'], 'type': p['type'], 'default': value(p['default'], p['type']),
                          'level': p['level'], 'description': p['description'], 'min': value(p['min'], p['type']),
                          'max': value(p['max'], p['type']), 'edit_method': edit_method})
    config_type = types.SimpleNamespace(
        config_description={'name': 'Default', 'type': '', 'state': True, 'cstate': 'true', 'id': 0,
                            'parent': 0, 'parameters': described, 'groups': []},
        defaults={p['name']: p['default'] for p in described},
        min={p['name']: p['min'] for p in described},
        max={p['name']: p['max'] for p in described},
    )
    Server(config_type, lambda config, level: config, namespace=ns)
    print('ready', flush=True)
    rospy.spin()


if __name__ == '__main__':
    main()
