#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Helpers of tests/vm/test_metrics.sh (katlsd's metrics endpoint and log).

  om_check.py check FILE         strict OpenMetrics 1.0 text check, then the
                                 prometheus_client parser (Debian
                                 python3-prometheus-client); exit 1 with the
                                 first problem
  om_check.py get FILE SAMPLE    the value of SAMPLE, written as in the text
                                 (name{label="v",...}); exit 1 if absent
  om_check.py raw ADDR HEX [S]   send the bytes HEX to ADDR (host:port or
                                 unix:PATH), wait up to S seconds (default 8)
                                 for the answer, print it (status line first)
  om_check.py hold ADDR N S      open N connections to ADDR that send nothing,
                                 print "held", after S seconds print the status
                                 line each got and close them
  om_check.py logfmt FILE        every "event=verdict" line of a katlsd log is
                                 key=value from end to end; prints how many
"""
import math
import re
import socket
import sys
import time

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*'
TYPES = {'counter', 'gauge', 'histogram', 'info', 'gaugehistogram', 'stateset',
         'summary', 'unknown'}


def fail(msg):
    print('om_check: ' + msg)
    sys.exit(1)


def labels_of(text, lineno):
    """key="value",... -> list of (key, value); escapes \\\\ \\" \\n only."""
    out, i = [], 0
    while i < len(text):
        m = re.match(LABEL + '=', text[i:])
        if not m:
            fail('line %d: bad label name at %r' % (lineno, text[i:]))
        key = m.group(0)[:-1]
        i += len(m.group(0))
        if i >= len(text) or text[i] != '"':
            fail('line %d: label %s: value not quoted' % (lineno, key))
        i += 1
        val = ''
        while True:
            if i >= len(text):
                fail('line %d: label %s: unterminated value' % (lineno, key))
            c = text[i]
            if c == '"':
                break
            if c == '\\':
                if i + 1 >= len(text) or text[i + 1] not in '\\"n':
                    fail('line %d: label %s: bad escape' % (lineno, key))
                val += {'\\': '\\', '"': '"', 'n': '\n'}[text[i + 1]]
                i += 2
                continue
            if c == '\n':
                fail('line %d: raw newline in a label value' % lineno)
            val += c
            i += 1
        i += 1
        if any(k == key for k, _ in out):
            fail('line %d: label %s twice' % (lineno, key))
        out.append((key, val))
        if i < len(text):
            if text[i] != ',':
                fail('line %d: expected "," after label %s' % (lineno, key))
            i += 1
    return out


def number(s, lineno):
    if s in ('+Inf', '-Inf', 'NaN'):
        return float(s)
    if not re.fullmatch(r'-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?', s):
        fail('line %d: bad number %r' % (lineno, s))
    return float(s)


def strict(text):
    """The checks the exposition must pass; returns {sample text: value}."""
    if not text.endswith('# EOF\n'):
        fail('does not end with "# EOF\\n"')
    lines = text[:-1].split('\n')
    if lines.count('# EOF') != 1:
        fail('"# EOF" is not alone at the end')
    families, values = {}, {}
    fam = typ = None
    hist = {}
    for n, line in enumerate(lines[:-1], 1):
        if line.startswith('#'):
            m = re.fullmatch(r'# (TYPE|HELP|UNIT) (' + NAME + r') (.*)', line)
            if not m:
                fail('line %d: bad comment %r' % (n, line))
            kind, name, rest = m.groups()
            if kind == 'TYPE':
                if name in families:
                    fail('line %d: family %s again (not contiguous or twice)' % (n, name))
                if rest not in TYPES:
                    fail('line %d: unknown type %s' % (n, rest))
                if rest == 'counter' and name.endswith('_total'):
                    fail('line %d: counter family %s ends in _total' % (n, name))
                fam, typ = name, rest
                families[name] = {'type': rest, 'help': False, 'samples': 0}
                continue
            if name != fam:
                fail('line %d: %s for %s inside family %s' % (n, kind, name, fam))
            if kind == 'HELP':
                if families[fam]['help']:
                    fail('line %d: second HELP' % n)
                if re.search(r'\\[^\\n"]', rest):
                    fail('line %d: bad escape in HELP' % n)
                families[fam]['help'] = True
            elif not name.endswith('_' + rest):
                fail('line %d: %s does not end with its unit %s' % (n, name, rest))
            continue
        m = re.fullmatch('(' + NAME + r')(?:\{(.*)\})? (\S+)', line)
        if not m:
            fail('line %d: bad sample %r' % (n, line))
        name, lab, val = m.groups()
        labels = labels_of(lab or '', n)
        v = number(val, n)
        if fam is None:
            fail('line %d: sample before any # TYPE' % n)
        sfx = name[len(fam):] if name.startswith(fam) else None
        allowed = {'counter': ['_total', '_created'], 'gauge': [''], 'info': ['_info'],
                   'histogram': ['_bucket', '_sum', '_count', '_created']}.get(typ, [''])
        if sfx not in allowed:
            fail('line %d: sample %s does not belong to %s family %s' % (n, name, typ, fam))
        families[fam]['samples'] += 1
        if typ == 'counter' and sfx == '_total' and (v < 0 or v != math.floor(v)):
            fail('line %d: counter value %s' % (n, val))
        if typ == 'info' and v != 1:
            fail('line %d: info value %s' % (n, val))
        if typ == 'histogram':
            key = (fam, tuple(kv for kv in labels if kv[0] != 'le'))
            h = hist.setdefault(key, {'le': [], 'cum': [], 'count': None, 'sum': None})
            if sfx == '_bucket':
                le = dict(labels).get('le')
                if le is None:
                    fail('line %d: bucket without le' % n)
                if le != '+Inf' and le != repr(float(le)):
                    fail('line %d: le=%s is not canonical' % (n, le))
                if h['le'] and number(le, n) <= h['le'][-1]:
                    fail('line %d: le not increasing' % n)
                if h['cum'] and v < h['cum'][-1]:
                    fail('line %d: buckets not cumulative' % n)
                h['le'].append(number(le, n))
                h['cum'].append(v)
            elif sfx == '_count':
                h['count'] = v
            elif sfx == '_sum':
                h['sum'] = v
        values[name + ('{' + lab + '}' if lab is not None else '')] = v
    for name, f in families.items():
        if not f['help']:
            fail('family %s has no HELP' % name)
        if not f['samples']:
            fail('family %s has no sample' % name)
    for (name, lab), h in hist.items():
        if not h['le'] or h['le'][-1] != math.inf:
            fail('histogram %s%s has no +Inf bucket' % (name, lab))
        if h['count'] != h['cum'][-1]:
            fail('histogram %s%s: _count %s != +Inf %s' % (name, lab, h['count'], h['cum'][-1]))
        if h['sum'] is None or h['sum'] < 0:
            fail('histogram %s%s: bad _sum' % (name, lab))
    return values


def check(path):
    text = open(path, encoding='utf-8').read()
    values = strict(text)
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    try:
        fams = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and others
        fail('prometheus_client: %s' % e)
    print('ok: %d families, %d samples (strict checker and prometheus_client %s)' %
          (len(fams), len(values), 'openmetrics parser'))


def get(path, sample):
    values = strict(open(path, encoding='utf-8').read())
    if sample not in values:
        fail('no sample %s' % sample)
    v = values[sample]
    print(int(v) if v == math.floor(v) else v)


def connect(addr):
    if addr.startswith('unix:'):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr[5:])
    else:
        host, port = addr.rsplit(':', 1)
        s = socket.create_connection((host.strip('[]'), int(port)))
    return s


def raw(addr, data, secs):
    s = connect(addr)
    t0 = time.monotonic()
    if data:
        s.sendall(data)
    s.settimeout(secs)
    got = b''
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except socket.timeout:
        got += b'<no answer within %gs>' % secs
    except ConnectionResetError:
        got += b'<reset>'
    sys.stdout.write('%s\n[%.1fs]\n' % (got.decode('utf-8', 'replace'), time.monotonic() - t0))


def hold(addr, n, secs):
    conns = [connect(addr) for _ in range(n)]
    print('held', flush=True)
    time.sleep(secs)
    for c in conns:
        c.settimeout(0.5)
        try:
            print(c.recv(4096).decode('utf-8', 'replace').split('\r\n')[0])
        except OSError as e:
            print('<%s>' % e)
        c.close()


def logfmt(path):
    pair = re.compile(r' ([a-z_0-9]+)=("(?:[^"\\]|\\["\\nrt]|\\x[0-9a-f]{2})*"|[^ "=\\]+)')
    n = 0
    for line in open(path, encoding='utf-8', errors='replace'):
        i = line.find('event=verdict ')
        if i < 0:
            continue
        rest = line[i + len('event=verdict'):].rstrip('\n')
        pos, keys = 0, []
        while pos < len(rest):
            m = pair.match(rest, pos)
            if not m:
                fail('not key=value from %r in: %s' % (rest[pos:pos + 40], line))
            keys.append(m.group(1))
            pos = m.end()
        for k in ('req', 'role', 'mode', 'result', 'reason'):
            if k not in keys:
                fail('no %s in: %s' % (k, line))
        if len(set(keys)) != len(keys):
            fail('a key twice in: %s' % line)
        n += 1
    print(n)


def main():
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == 'check':
        check(a[1])
    elif len(a) == 3 and a[0] == 'get':
        get(a[1], a[2])
    elif len(a) in (3, 4) and a[0] == 'raw':
        raw(a[1], bytes.fromhex(a[2]), float(a[3]) if len(a) == 4 else 8.0)
    elif len(a) == 4 and a[0] == 'hold':
        hold(a[1], int(a[2]), float(a[3]))
    elif len(a) == 2 and a[0] == 'logfmt':
        logfmt(a[1])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
