# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The verify playbook's results: every node's readiness gathered into the JSON report, and the
report laid out as the table printed at the end of the run."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

NO_RESULT = 'unreachable or failed before its checks ran'
NOT_REPORTED = 'this check reported nothing'


def readiness_report(hosts, hostvars, fact='spegel_readiness'):
    """{host: the host's readiness fact} for every host, in order; a host without the fact (it was
    unreachable, or failed before the checks ran) gets {'ready': False, 'error': NO_RESULT}."""
    if isinstance(hosts, (str, bytes)) or not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError('readiness_report: the input is the list of hosts (ansible_play_hosts_all), got %s'
                                 % type(hosts).__name__)
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError('readiness_report: the argument is hostvars, got %s' % type(hostvars).__name__)
    report = {}
    for host in hosts:
        readiness = hostvars[host].get(fact) if host in hostvars else None
        report[str(host)] = readiness if isinstance(readiness, Mapping) else {'ready': False, 'error': NO_RESULT}
    return report


def readiness_table(report, check_names):
    """The lines of the table: a header, one row per node (ready, then each check's ok or FAIL),
    then one line per problem (a failed check's detail, or a node without results)."""
    if not isinstance(report, Mapping):
        raise AnsibleFilterError('readiness_table: the input is the report of readiness_report, got %s'
                                 % type(report).__name__)
    if isinstance(check_names, (str, bytes)) or not isinstance(check_names, (list, tuple)):
        raise AnsibleFilterError('readiness_table: check_names is a list of check names, got %s'
                                 % type(check_names).__name__)
    width = max([len('NODE')] + [len(str(host)) for host in report])
    row_format = '%-' + str(width) + 's  %-9s' + '  %-10s' * len(check_names)
    lines = [row_format % ('NODE', 'READY', *check_names)]
    problems = []
    for host, readiness in report.items():
        checks = readiness.get('checks')
        if not isinstance(checks, Mapping):
            lines.append(row_format % (host, 'NO RESULT', *['-'] * len(check_names)))
            problems.append('%s: %s' % (host, readiness.get('error') or NO_RESULT))
            continue
        marks = []
        for name in check_names:
            check = checks.get(name)
            ok = isinstance(check, Mapping) and boolean(check.get('ok'), strict=False)
            marks.append('ok' if ok else 'FAIL')
            if not ok:
                detail = check.get('detail') if isinstance(check, Mapping) else None
                problems.append('%s %s: %s' % (host, name, detail or NOT_REPORTED))
        ready = boolean(readiness.get('ready'), strict=False)
        lines.append(row_format % (host, 'yes' if ready else 'NO', *marks))
    return lines + problems


class FilterModule:

    def filters(self):
        return {'readiness_report': readiness_report, 'readiness_table': readiness_table}
