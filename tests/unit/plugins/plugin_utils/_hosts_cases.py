# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The hosts.toml cases the engine's tests (tests/unit) and containerd's reading of them
(tests/real) share: Spegel's mirrors, a user's docker.io file, and the merge that writes them."""

from __future__ import annotations

from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_merge import merge_registry
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_names import default_server
from ansible_collections.peerpull.spegel.plugins.plugin_utils._hosts_render import DOTTED_NOTE

SPEGEL = dict(capabilities=['pull', 'resolve'], dial_timeout='200ms')
AUTH = {'Authorization': 'Basic c3BlZ2VsOnB3'}
V6 = dict(SPEGEL, url='http://[fd00:5e6e:9::5]:30020', header=AUTH)
V6_NODEPORT = dict(SPEGEL, url='http://[fd00:5e6e:9::5]:30021')
V4 = dict(SPEGEL, url='http://198.18.0.5:30020', header=AUTH)
V4_NODEPORT = dict(SPEGEL, url='http://198.18.0.5:30021')
V6_URLS = [V6['url'], V6_NODEPORT['url']]

USER_DOCKER_IO = """server = "https://registry-1.docker.io"

# the user's own registry
[host."http://198.18.0.6:5000"]
  capabilities = ["pull", "resolve"]
"""

FOR_1X = """server = "https://registry-1.docker.io"

%s
[host]
'http://[fd00:5e6e:9::5]:30020'.capabilities = ['pull', 'resolve']
'http://[fd00:5e6e:9::5]:30020'.dial_timeout = '200ms'
'http://[fd00:5e6e:9::5]:30020'.header.Authorization = 'Basic c3BlZ2VsOnB3'
'http://[fd00:5e6e:9::5]:30021'.capabilities = ['pull', 'resolve']
'http://[fd00:5e6e:9::5]:30021'.dial_timeout = '200ms'

# the user's own registry
[host."http://198.18.0.6:5000"]
  capabilities = ["pull", "resolve"]
""" % DOTTED_NOTE

FOR_2X = """server = "https://registry-1.docker.io"

[host.'http://[fd00:5e6e:9::5]:30020']
capabilities = ['pull', 'resolve']
dial_timeout = '200ms'
[host.'http://[fd00:5e6e:9::5]:30020'.header]
Authorization = 'Basic c3BlZ2VsOnB3'

[host.'http://[fd00:5e6e:9::5]:30021']
capabilities = ['pull', 'resolve']
dial_timeout = '200ms'

# the user's own registry
[host."http://198.18.0.6:5000"]
  capabilities = ["pull", "resolve"]
"""

USER_HOST_TABLE = """server = "https://registry-1.docker.io"

[host]
# a mirror of the user's, written as dotted keys
"http://[fd00:5e6e:9::6]:5000".capabilities = ["pull"]

[host."http://198.18.0.6:5000"]
  capabilities = ["pull", "resolve"]
"""

USER_ROOT_KEYS = """server = "https://registry-1.docker.io"
# a mirror of the user's, written as root-level dotted keys
host."http://[fd00:5e6e:9::6]:5000".capabilities = ["pull"]

[host."http://198.18.0.6:5000"]
  capabilities = ["pull", "resolve"]
"""

LONGEST_GO_DURATION = '2562047h47m16.854775807s'


def merged(user, hosts, containerd_major, registry='docker.io'):
    return merge_registry(user, 'f', registry, default_server(registry), hosts, containerd_major=containerd_major)
