# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Legacy CRI registry settings (mirrors, configs) in a config.toml, as the hosts.toml
entries that replace them (controller side only)."""

from __future__ import annotations

from ansible_collections.peerpull.spegel.plugins.plugin_utils._containerd_layout import (
    DEFAULT_HOSTS_REGISTRY, DOCKER_HUB, DOCKER_HUB_SERVER, LEGACY_CAPABILITIES, WILDCARD_MIRROR, _get,
)
from ansible_collections.peerpull.spegel.plugins.plugin_utils._errors import SpegelError
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import validate_host_url, validate_registry
from ansible_collections.peerpull.spegel.plugins.plugin_utils._toml_edit import MISSING, format_key, toml_type


def _legacy_scheme(host):
    """containerd's defaultScheme: http for localhost, https otherwise."""
    name = host.rsplit(':', 1)[0] if host.count(':') == 1 else host
    return 'http' if name in ('localhost', '127.0.0.1', '[::1]', '::1') else 'https'


def _split_endpoint(endpoint):
    """(scheme://host, path) of a legacy mirror endpoint; a missing scheme as containerd adds it."""
    if '://' not in endpoint:
        endpoint = '%s://%s' % (_legacy_scheme(endpoint.split('/', 1)[0]), endpoint)
    scheme, rest = endpoint.split('://', 1)
    host, _slash, path = rest.partition('/')
    return '%s://%s' % (scheme.lower(), host.lower()), ('/' + path).rstrip('/') if path else ''


def _tls_fields(tls, where):
    """hosts.toml host fields for a legacy configs.<host>.tls table."""
    fields = {}
    ca = tls.get('ca_file', '')
    cert = tls.get('cert_file', '')
    key = tls.get('key_file', '')
    for name, value in (('ca_file', ca), ('cert_file', cert), ('key_file', key)):
        if not isinstance(value, str):
            raise SpegelError('%s.%s is %s, but containerd expects a string path. Fix the file by hand; '
                              'nothing was changed.' % (where, name, toml_type(value)))
    skip = tls.get('insecure_skip_verify', False)
    if not isinstance(skip, bool):
        raise SpegelError('%s.insecure_skip_verify is %s, but containerd expects true or false. Fix the '
                          'file by hand; nothing was changed.' % (where, toml_type(skip)))
    if ca:
        fields['ca'] = ca
    if cert and key:
        fields['client'] = [[cert, key]]
    elif cert:
        fields['client'] = cert
    if skip:
        fields['skip_verify'] = True
    return fields


def legacy_registries(data, layout, source):
    """The hosts.toml content that replaces legacy `mirrors` and `configs.<host>.tls`.

    Returns (plans, dropped). plans: [{registry, server, hosts}] where registry is the hosts
    directory name (`_default` for the `*` mirror) and hosts are merge_registry() host dicts,
    in the order legacy CRI tried them. Legacy CRI appended the registry's own host after the
    mirrors; hosts.toml's `server` is that fallback. TLS settings of an endpoint host follow it
    into every hosts.toml that lists it, and a host with TLS settings but no mirrors gets its own.
    dropped: [{key, reason}] of what legacy CRI could never use (a key that is no registry
    host, an endpoint that is no http(s) URL, a mirror without endpoints); it leaves with the
    mirrors table. The user:password@ of an endpoint, which legacy CRI never sent, is dropped
    too, and named without its value.
    """
    mirrors = _get(data, layout.mirrors, source, expect=dict)
    configs = _get(data, layout.configs, source, expect=dict)
    mirrors = {} if mirrors is MISSING else mirrors
    configs = {} if configs is MISSING else configs

    tls_by_host = {}
    for host, config in configs.items():
        where = '%s: %s' % (source, format_key(layout.configs + (host,)))
        if not isinstance(config, dict):
            raise SpegelError('%s is %s, but containerd expects a table. Fix the file by hand; nothing was '
                              'changed.' % (where, toml_type(config)))
        tls = config.get('tls', MISSING)
        if tls is MISSING:
            continue
        if not isinstance(tls, dict):
            raise SpegelError('%s.tls is %s, but containerd expects a table. Fix the file by hand; nothing '
                              'was changed.' % (where, toml_type(tls)))
        tls_by_host[host.lower()] = _tls_fields(tls, where + '.tls')

    def host_entry(base, path):
        entry = {'url': base + path, 'capabilities': list(LEGACY_CAPABILITIES)}
        if path:
            entry['override_path'] = True  # legacy CRI used an endpoint's path as given
        entry.update(tls_by_host.get(base.split('://', 1)[1], {}))
        return entry

    plans, dropped = [], []
    for registry, mirror in mirrors.items():
        key = format_key(layout.mirrors + (registry,))
        endpoints = _get(mirror, ('endpoint',), '%s: %s' % (source, key),
                         expect='strings') if isinstance(mirror, dict) else None
        if endpoints is None:
            raise SpegelError('%s: %s is %s, but containerd expects a table with an endpoint list. Fix the '
                              'file by hand; nothing was changed.' % (source, key, toml_type(mirror)))
        if registry != WILDCARD_MIRROR:
            try:
                if registry == DEFAULT_HOSTS_REGISTRY:
                    raise SpegelError(registry)  # no image name's host: it is hosts.toml's own name
                validate_registry(registry)
            except SpegelError:
                dropped.append({'key': key, 'reason': 'not a registry host as image names carry it, so containerd '
                                                      'never matched it'})
                continue
        endpoints = [] if endpoints is MISSING else endpoints
        hosts, seen, seen_hosts = [], set(), set()
        for index, endpoint in enumerate(endpoints):
            where = '%s.endpoint[%d]' % (key, index)
            base, path = _split_endpoint(endpoint)
            if '@' in base:
                base = base.split('://', 1)[0] + '://' + base.rsplit('@', 1)[1]
                dropped.append({'key': where, 'reason': 'its user:password@ was never sent by containerd; the '
                                                        'endpoint moves without it (use configs."HOST".auth)'})
            try:
                validate_host_url(base + path)
            except SpegelError:
                dropped.append({'key': where, 'reason': 'not an http(s) URL containerd could reach'})
                continue
            seen_hosts.add(base.split('://', 1)[1])
            if base + path not in seen:
                seen.add(base + path)
                hosts.append(host_entry(base, path))
        if registry == WILDCARD_MIRROR:
            if hosts:
                plans.append({'registry': DEFAULT_HOSTS_REGISTRY, 'server': None, 'hosts': hosts})
            else:
                dropped.append({'key': key, 'reason': 'no usable endpoint, so it changed nothing'})
            continue
        upstream = DOCKER_HUB_SERVER if registry == DOCKER_HUB else '%s://%s' % (_legacy_scheme(registry), registry)
        # Legacy CRI added the registry itself after the mirrors unless one of them is that host.
        upstream_host = upstream.split('://', 1)[1].lower()
        if upstream_host in tls_by_host and upstream_host not in seen_hosts:
            hosts.append(host_entry(upstream.lower(), ''))
        if not hosts:
            dropped.append({'key': key, 'reason': 'no usable endpoint, so containerd pulled from the registry '
                                                  'itself, as it does without the entry'})
            continue
        plans.append({'registry': registry, 'server': upstream, 'hosts': hosts})

    planned = {plan['registry'] for plan in plans}
    for host, fields in tls_by_host.items():
        if host in planned or (host == 'registry-1.docker.io' and DOCKER_HUB in planned):
            continue
        url = '%s://%s' % (_legacy_scheme(host), host)
        plans.append({'registry': host, 'server': url, 'hosts': [host_entry(url, '')]})
    return plans, dropped


def _has_legacy_settings(registry_table):
    """Settings that make containerd drop CRI when config_path is set (1.x: mirrors and any
    configs.<host>.tls table, even an empty one; 2.x: mirrors)."""
    if not isinstance(registry_table, dict):
        return False
    configs = registry_table.get('configs')
    return bool(registry_table.get('mirrors')) or (
        isinstance(configs, dict) and any(isinstance(c, dict) and 'tls' in c for c in configs.values()))
